from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Float
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import UTCDateTime


class RegressionState(TableModel, table=True):
    """One row per lever (`followups`, `offers`): throttled until a human releases it.

    Part of the foundation because the packs that obey a lever (ladder dispatch, offer compute)
    read it; the regression pack writes it.
    """

    __tablename__ = "regression_state"

    lever: str = Field(primary_key=True, max_length=40)
    throttled: bool = Field(default=False)
    since: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    metric: Optional[str] = Field(default=None, max_length=80)
    statistic: Optional[str] = Field(default=None, max_length=10)
    baseline: Optional[float] = Field(default=None, sa_column=Column(Float))
    recent: Optional[float] = Field(default=None, sa_column=Column(Float))
    drop_pct: Optional[float] = Field(default=None, sa_column=Column(Float))
    z: Optional[float] = Field(default=None, sa_column=Column(Float))
    reason: Optional[str] = Field(default=None)
    released_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    released_by: Optional[str] = Field(default=None, max_length=200)
    release_reason: Optional[str] = Field(default=None)
