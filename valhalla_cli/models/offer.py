from datetime import datetime
from typing import Any, Optional

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from valhalla_cli.models.types import BigIntPK, StoredJSON, UTCDateTime

PROVINCE_WIDE = "*"


class OfferPolicy(SQLModel, table=True):
    """How offers are bounded, per province (`market = '*'`) and optionally per market.

    Ratios are stored exactly in basis points (0.70 -> 7000), money in whole cents. On a market
    row a NULL field means "inherit the province-wide value"; `min_liquidity_score` on a market
    row is inherited while `min_liquidity_inherit` is true (NULL there is an explicit "none").
    """

    __tablename__ = "offer_policy"
    __table_args__ = (
        UniqueConstraint("province", "market_key", name="uq_offer_policy_scope_key"),
    )

    province: str = Field(primary_key=True, max_length=2)
    market: str = Field(primary_key=True, max_length=80)
    market_key: str = Field(max_length=80)  # identity: inputs.market_key(market)
    arv_pct_bps: Optional[int] = Field(default=None)
    assignment_fee_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    closing_costs_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    holding_costs_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    rounding_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    opening_ratio_bps: Optional[int] = Field(default=None)
    min_arv_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    min_liquidity_score: Optional[int] = Field(default=None)
    min_liquidity_inherit: bool = Field(default=False)
    enabled: Optional[bool] = Field(default=None)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)


class OfferEvidence(SQLModel, table=True):
    """Every computed (or refused) offer, with everything needed to reproduce it.

    Append-only: a trigger rejects UPDATE and DELETE on both engines (see models/ddl.py).
    `at` is the instant the offer was evaluated for (`--at`); `recorded_at` is the wall clock
    when it was written, so a back-dated computation is visible as such.
    """

    __tablename__ = "offer_evidence"
    __table_args__ = (
        Index("ix_offer_evidence_province_id", "province", "id"),
        Index("ix_offer_evidence_deal_ref", "deal_ref"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)
    province: str = Field(max_length=2)
    market: Optional[str] = Field(default=None, max_length=80)
    property_type: str = Field(max_length=12)
    deal_ref: Optional[str] = Field(default=None, max_length=200)
    note: Optional[str] = Field(default=None)
    mode: str = Field(max_length=12)  # sandbox | production
    throttled: bool
    outcome: str = Field(max_length=12)  # offer | refused
    reason: Optional[str] = Field(default=None, max_length=40)
    arv_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    repairs_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    fees_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    mao_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    max_offer_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    opening_offer_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    liquidity_score: Optional[int] = Field(default=None)
    liquidity_band: str = Field(max_length=12)
    inputs: dict[str, Any] = Field(sa_column=Column(StoredJSON, nullable=False))
    policy: dict[str, Any] = Field(sa_column=Column(StoredJSON, nullable=False))
    comps: Optional[list[Any]] = Field(default=None, sa_column=Column(StoredJSON))
    liquidity: dict[str, Any] = Field(sa_column=Column(StoredJSON, nullable=False))
    result: dict[str, Any] = Field(sa_column=Column(StoredJSON, nullable=False))
