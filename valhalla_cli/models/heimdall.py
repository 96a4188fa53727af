from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Column, Float, Index
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class HeimdallPolicy(TableModel, table=True):
    """One AI recommendation domain: its mode (sandbox | production) and its gate thresholds.

    The thresholds are checked by `heimdall policy-set` and by the runbook (not by constraints,
    so that a damaged row is reported by the runbook rather than hidden).
    """

    __tablename__ = "heimdall_policy"
    __table_args__ = (
        CheckConstraint("mode IN ('sandbox', 'production')", name="ck_heimdall_policy_mode"),
    )

    domain: str = Field(primary_key=True, max_length=80)
    mode: str = Field(default="sandbox", max_length=20)
    min_confidence: float = Field(sa_column=Column(Float, nullable=False))
    min_samples: int
    min_success_rate: float = Field(sa_column=Column(Float, nullable=False))
    enabled: bool = Field(default=True)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)


class HeimdallRecommendation(TableModel, table=True):
    """An AI recommendation as recorded, with the gate's decision and (later) its outcome."""

    __tablename__ = "heimdall_recommendation"
    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1",
                        name="ck_heimdall_recommendation_confidence"),
        CheckConstraint("outcome IS NULL OR outcome IN ('success', 'failure')",
                        name="ck_heimdall_recommendation_outcome"),
        # The scorecard and promotion counts (domain, mode, outcome period, confidence at or
        # above the minimum, success or failure) read this index only.
        Index("ix_heimdall_recommendation_scorecard", "domain", "mode", "outcome_at",
              "confidence", "outcome"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    domain: str = Field(max_length=80, foreign_key="heimdall_policy.domain")
    subject: str = Field(max_length=200)
    confidence: float = Field(sa_column=Column(Float, nullable=False))
    payload: Optional[Any] = Field(default=None, sa_column=Column(JSON))
    mode: str = Field(max_length=20)  # the domain's mode when recorded
    decision: str = Field(max_length=10)  # reject | shadow | act
    reason: Optional[str] = Field(default=None, max_length=40)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: str = Field(max_length=200)
    outcome: Optional[str] = Field(default=None, max_length=10)
    outcome_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    outcome_by: Optional[str] = Field(default=None, max_length=200)


class HeimdallScorecard(TableModel, table=True):
    """Daily roll-up: outcomes recorded per business day, domain and mode.

    Counts the recommendations at or above the domain's `min_confidence` at the time of the
    outcome (those the scorecard counts).
    """

    __tablename__ = "heimdall_scorecard"

    day: date = Field(primary_key=True)
    domain: str = Field(primary_key=True, max_length=80)
    mode: str = Field(primary_key=True, max_length=20)
    samples: int = Field(default=0)
    successes: int = Field(default=0)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
