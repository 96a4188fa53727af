from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Column, Index
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, StoredJSON, UTCDateTime


class AuditEvent(TableModel, table=True):
    """Append-only log of every state change: who, when, what (before -> after) and why.

    A trigger rejects UPDATE and DELETE on both engines (see models/ddl.py).
    """

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_pack_at", "pack", "at"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    actor: str = Field(max_length=200)
    pack: str = Field(max_length=40)
    action: str = Field(max_length=80)
    subject: Optional[str] = Field(default=None, max_length=200)
    before: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(StoredJSON))
    after: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(StoredJSON))
    reason: Optional[str] = Field(default=None)
