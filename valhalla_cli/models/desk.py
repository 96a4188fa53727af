"""The call desk's calls: one row per call placed through the provider for a task, and every
status the provider reported for it."""

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class Call(TableModel, table=True):
    """A call placed through the provider: the caller's phone rings first, then the lead is
    dialled. `status` only moves forward (callbacks arrive late, twice or out of order);
    `duration_seconds` is the provider's figure once the call has ended."""

    __tablename__ = "call"
    __table_args__ = (
        Index("ix_call_task_id", "task_id", "created_at"),
        Index("ix_call_lead_id", "lead_id", "created_at"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    task_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lead_id: str = Field(max_length=200)
    owner: Optional[str] = Field(default=None, max_length=200)
    token_name: str = Field(max_length=80)
    provider_sid: Optional[str] = Field(default=None, max_length=64, unique=True)
    status: str = Field(max_length=16)
    duration_seconds: Optional[int] = Field(default=None)
    to: str = Field(max_length=16)
    from_number: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CallEvent(TableModel, table=True):
    """Every call status the provider posted, once per (sid, status): a repeat changes nothing,
    and a status that arrives before its call's sid is recorded is applied when it is."""

    __tablename__ = "call_event"
    __table_args__ = (UniqueConstraint("sid", "status", name="uq_call_event_sid_status"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    sid: str = Field(max_length=64)
    status: str = Field(max_length=16)
    duration_seconds: Optional[int] = Field(default=None)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
