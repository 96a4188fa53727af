from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Column
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import UTCDateTime


class GoLiveState(TableModel, table=True):
    """The singleton go-live state (id is always 1). Live = enabled and not kill_switch."""

    __tablename__ = "go_live_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_go_live_state_singleton"),)

    id: int = Field(default=1, primary_key=True)
    enabled: bool = Field(default=False)
    enabled_changed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    enabled_changed_by: Optional[str] = Field(default=None, max_length=200)
    enabled_reason: Optional[str] = Field(default=None)
    kill_switch: bool = Field(default=False)
    kill_switch_changed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    kill_switch_changed_by: Optional[str] = Field(default=None, max_length=200)
    kill_switch_reason: Optional[str] = Field(default=None)


class GoLiveChecklistItem(TableModel, table=True):
    """A manual sign-off item; an unsigned item fails the runbook's golive check."""

    __tablename__ = "go_live_checklist_item"

    key: str = Field(primary_key=True, max_length=80)
    title: str = Field(max_length=300)
    signed: bool = Field(default=False)
    signed_by: Optional[str] = Field(default=None, max_length=200)
    signed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    note: Optional[str] = Field(default=None)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
