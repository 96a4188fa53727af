from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Column, Float
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import UTCDateTime


class RegressionPolicy(TableModel, table=True):
    """The tripwire's rule for one KPI metric and the lever it throttles.

    The lever's state is `regression_state` (foundation, read by the packs that obey it).
    """

    __tablename__ = "regression_policy"
    __table_args__ = (
        CheckConstraint("statistic IN ('mean', 'rate')", name="ck_regression_policy_statistic"),
    )

    metric: str = Field(primary_key=True, max_length=80)
    lever: str = Field(max_length=40)
    statistic: str = Field(max_length=10)
    recent_window: int = Field(default=50)
    baseline_window: int = Field(default=200)
    max_drop_pct: float = Field(default=20.0, sa_column=Column(Float, nullable=False))
    confidence: float = Field(default=0.99, sa_column=Column(Float, nullable=False))
    enabled: bool = Field(default=True)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)
