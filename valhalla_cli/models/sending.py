"""The message ledger (texts Valhalla sent, every status a provider reported) and the numbers
that cannot receive texts."""

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, StoredJSON, UTCDateTime

MESSAGE_STATES = ("sending", "accepted", "sent", "delivered", "undelivered", "failed",
                  "not_sent")


class OutboundMessage(TableModel, table=True):
    """One text handed (or about to be handed) to a provider.

    The row is committed in `sending` before the request leaves, keyed by (task, attempt), so a
    task's attempt can never send twice: a crash leaves the row for `send reconcile`. `sid` is the
    provider's id, unique once known. The state only moves forward.
    """

    __tablename__ = "outbound_message"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt", name="uq_outbound_message_task_attempt"),
        UniqueConstraint("sid", name="uq_outbound_message_sid"),
        CheckConstraint("state IN ('sending', 'accepted', 'sent', 'delivered', 'undelivered', "
                        "'failed', 'not_sent')", name="ck_outbound_message_state"),
        # reconcile, the stuck-message alert and the runbook: messages by state and age
        Index("ix_outbound_message_state_created_at", "state", "created_at"),
        # reconcile's second pass: accepted/sent messages by acceptance
        Index("ix_outbound_message_state_accepted_at", "state", "accepted_at"),
        # the report and the status figures: a period's messages with what they count
        Index("ix_outbound_message_report", "created_at", "provider", "state", "sender",
              "error_code", "segments"),
        Index("ix_outbound_message_lead_id", "lead_id", "created_at"),
        # counting a number's 30003s, reconcile's list filter
        Index("ix_outbound_message_to", "to", "created_at"),
    )

    message_id: Optional[int] = Field(default=None, sa_column=Column(
        BigIntPK, primary_key=True, autoincrement=True))
    task_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    attempt: Optional[int] = Field(default=None)
    lead_id: Optional[str] = Field(default=None, max_length=200)
    to: str = Field(max_length=16)
    sender: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    segments: int
    provider: str = Field(max_length=12)
    sid: Optional[str] = Field(default=None, max_length=64)
    state: str = Field(max_length=12)
    error_code: Optional[int] = Field(default=None)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    accepted_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    final_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    actor: str = Field(max_length=200)


class MessageEvent(TableModel, table=True):
    """Every status a provider reported for a sid, once per (sid, status). `applied` is false
    for an event whose sid no message carries yet (the callback outran the send's answer); it
    applies when the sid is recorded."""

    __tablename__ = "message_event"
    __table_args__ = (
        UniqueConstraint("sid", "status", name="uq_message_event_sid_status"),
        Index("ix_message_event_pending", "applied", "sid"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    sid: str = Field(max_length=64)
    status: str = Field(max_length=20)
    error_code: Optional[int] = Field(default=None)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    raw: Optional[Any] = Field(default=None, sa_column=Column(StoredJSON, nullable=True))
    applied: bool = Field(default=False)
    actor: str = Field(max_length=200)


class PhoneStatus(TableModel, table=True):
    """A number that cannot receive texts, since when and by which provider code; an inbound
    text from the number deletes the row (it can text, so it can be texted)."""

    __tablename__ = "phone_status"

    number: str = Field(primary_key=True, max_length=16)  # E.164
    code: int
    since: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
