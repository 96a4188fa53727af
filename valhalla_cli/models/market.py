from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class MarketPolicy(TableModel, table=True):
    """Contact policy for a province (market '*') or one market of it.

    On a market row a NULL field means "inherit the province-wide value"; `windows` is inherited
    channel by channel ({channel: {day: [[start, end], ...]}}).
    """

    __tablename__ = "market_policy"
    __table_args__ = (
        UniqueConstraint("province", "market", name="uq_market_policy_scope"),
        UniqueConstraint("province", "market_key", name="uq_market_policy_scope_key"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    province: str = Field(max_length=2)
    market: str = Field(max_length=80)  # '*' = province-wide
    market_key: str = Field(max_length=80)  # identity: inputs.market_key(market)
    timezones: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    windows: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    channels: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    min_lead_score: Optional[int] = Field(default=None)
    quiet_on_holidays: Optional[bool] = Field(default=None)
    enabled: Optional[bool] = Field(default=None)
    # CASL: an SMS needs consent valid for SMS; a market that obtains it elsewhere may turn
    # the check off (audited; the runbook warns while it is off anywhere).
    require_sms_consent: Optional[bool] = Field(default=None)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)


class ContactSuppression(TableModel, table=True):
    """A lead or a number that must never be contacted again, on any channel (opt-out, the
    internal do-not-call list). A row with a phone covers every lead with that number, now or
    later; `lead_id` is null for a number suppressed on its own. Never deleted (the CRTC asks
    for 3 years and 14 days)."""

    __tablename__ = "contact_suppression"
    __table_args__ = (Index("ix_contact_suppression_lead_id", "lead_id"),
                      Index("ix_contact_suppression_phone", "phone"))

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: Optional[str] = Field(default=None, max_length=200)
    phone: Optional[str] = Field(default=None, max_length=40)
    reason: str
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # When the row was really written (the clock, whatever `at` says): only a consent recorded
    # after it can outweigh it.
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False,
                                                   server_default=text("CURRENT_TIMESTAMP")))
    actor: str = Field(max_length=200)
