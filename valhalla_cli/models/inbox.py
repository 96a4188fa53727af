"""The inbox: one open item per lead that answered a text, and the numbers detached from a lead
as wrong numbers (so no import or ladder puts them back on it)."""

from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, PartialIndex, UTCDateTime
from valhalla_cli.vocabulary import INBOX_OUTCOMES

ITEM_STATUSES = ("open", "closed")
OUTCOMES = INBOX_OUTCOMES


class InboxItem(TableModel, table=True):
    """A lead's conversation waiting for a person. `kind` keeps the most severe kind the item
    has seen; `waiting_since` is the oldest inbound text not answered yet (null once answered);
    `refusal_at` is when the first refusal arrived and `deadline` the end of the 10th business
    day after it. The partial unique index makes "one open item per lead" hold on both engines.
    """

    __tablename__ = "inbox_item"
    __table_args__ = (
        PartialIndex("ux_inbox_item_open_lead", "lead_id", unique=True, where="status = 'open'"),
        # `inbox`: open items, oldest wait first; the runbook and status: open refusals
        Index("ix_inbox_item_status_kind_waiting", "status", "kind", "waiting_since"),
        # `inbox sla`: items opened in a period
        Index("ix_inbox_item_opened_at", "opened_at", "owner"),
        Index("ix_inbox_item_lead_id", "lead_id", "opened_at"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: str = Field(max_length=200)
    owner: Optional[str] = Field(default=None, max_length=200)
    kind: str = Field(max_length=16)  # reply | wrong_number | refusal
    status: str = Field(max_length=8)  # open | closed
    opened_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    waiting_since: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    last_inbound_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_text: str = Field(sa_column=Column(Text, nullable=False))
    refusal_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    deadline: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    first_answer_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    answer_minutes: Optional[float] = Field(default=None)
    closed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    outcome: Optional[str] = Field(default=None, max_length=16)
    note: Optional[str] = Field(default=None, sa_column=Column(Text))
    closed_by: Optional[str] = Field(default=None, max_length=200)


class WrongNumber(TableModel, table=True):
    """A number a lead's item closed as a wrong number: never set on that lead again."""

    __tablename__ = "wrong_number"
    __table_args__ = (UniqueConstraint("lead_id", "phone", name="uq_wrong_number_lead_phone"),
                      Index("ix_wrong_number_phone", "phone"))

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: str = Field(max_length=200)
    phone: str = Field(max_length=16)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)
