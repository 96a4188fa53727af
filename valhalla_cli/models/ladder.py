from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Float, Index, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.importing import hide_unfinished_imports_of
from valhalla_cli.models.types import BigIntPK, PartialIndex, UTCDateTime

ACTIVE_STATUSES = ("pending", "claimed")
FINISHED_STATUSES = ("done", "skipped", "cancelled", "failed")


class FollowupTask(TableModel, table=True):
    """One step of a follow-up ladder; a ladder is the tasks sharing a `ladder_id`.

    `ready` is set when the previous step is finished (done, skipped, cancelled or failed), so the
    dispatch scan (status, ready, due_at) never re-reads tasks still waiting for a predecessor.
    The partial unique index on (lead_id, step) over active tasks makes "one active ladder per
    lead" a database invariant on both engines.
    """

    __tablename__ = "followup_task"
    __table_args__ = (
        UniqueConstraint("ladder_id", "step", name="uq_followup_task_ladder_step"),
        Index("ix_followup_task_status_ready_due_at", "status", "ready", "due_at"),
        # A lead's tasks (its ladder, cancelling them) by the prefix; with completed_at, the
        # period's contacts of one lead (`ladder breaches` judges the leads with a confirmed
        # zone one by one) are a range of the index instead of a table read per task.
        Index("ix_followup_task_lead_id_completed_at", "lead_id", "completed_at"),
        # The call desk's Next: one owner's due tasks in due order, without walking the other
        # owners' (the scan above would, and cost more the more of the queue was worked).
        Index("ix_followup_task_owner_status_ready_due_at", "owner", "status", "ready",
              "due_at"),
        # The SLA report: period range, response time and every --by column, index-only.
        # import_batch_id: the ORM's filter of unfinished imports is answered from the index.
        Index("ix_followup_task_sla", "completed_at", "response_minutes", "owner", "province",
              "step", "import_batch_id"),
        # `ladder breaches`: per province and channel, the completions inside the instants at
        # which the contact calculus says "closed" (a few ranges a day), index-only; lead_id
        # for the joins to the leads whose numbers add zones.
        Index("ix_followup_task_contact_audit", "province", "channel", "completed_at", "status",
              "market", "id", "lead_id"),
        PartialIndex("ux_followup_task_active_lead_step", "lead_id", "step", unique=True,
                     where="status IN ('pending', 'claimed')"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    ladder_id: str = Field(max_length=32)
    lead_id: str = Field(max_length=200)
    province: str = Field(max_length=2)
    market: Optional[str] = Field(default=None, max_length=80)
    owner: Optional[str] = Field(default=None, max_length=200)
    lead_score: Optional[int] = Field(default=None)
    step: int
    channel: str = Field(max_length=8)
    planned_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(max_length=12)  # pending claimed done skipped cancelled failed
    ready: bool = Field(default=False)
    attempt: int = Field(default=0)
    claim_token: Optional[str] = Field(default=None, max_length=64)
    claimed_by: Optional[str] = Field(default=None, max_length=200)
    claimed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    lease_expires_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    completed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    outcome: Optional[str] = Field(default=None, max_length=20)
    response_minutes: Optional[float] = Field(default=None, sa_column=Column(Float))
    note: Optional[str] = Field(default=None)
    status_reason: Optional[str] = Field(default=None)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(max_length=200)
    # The bulk import that wrote the row; invisible until that import finishes (ImportBatch).
    import_batch_id: Optional[int] = Field(default=None, sa_column=Column(
        BigInteger, nullable=True, index=True))


# Bulk imports write this table: the rows of an unfinished import stay out of every query.
hide_unfinished_imports_of(FollowupTask)
