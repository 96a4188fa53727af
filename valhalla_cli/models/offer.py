from datetime import datetime
from typing import Any, Optional

from sqlalchemy import BigInteger, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, StoredJSON, UTCDateTime

PROVINCE_WIDE = "*"


class OfferPolicy(TableModel, table=True):
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


class OfferEvidence(TableModel, table=True):
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


class OfferOutcome(TableModel, table=True):
    """What happened to an offer after it was computed: one row per stage it reached.

    Append-only like the evidence it refers to (a trigger rejects UPDATE and DELETE on both
    engines). The unique (evidence_id, status) makes "the same stage twice is a no-op" a database
    invariant, so two operators recording the same stage at once cannot both append it.
    """

    __tablename__ = "offer_outcome"
    __table_args__ = (
        UniqueConstraint("evidence_id", "status", name="uq_offer_outcome_evidence_status"),
        # The funnel's cohort: offers sent in a period, then their other stages by evidence,
        # both index-only.
        Index("ix_offer_outcome_status_at", "status", "at", "evidence_id"),
        Index("ix_offer_outcome_evidence_stages", "evidence_id", "status", "at", "amount_cents"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    evidence_id: int = Field(sa_column=Column(BigInteger, ForeignKey("offer_evidence.id"),
                                              nullable=False))
    status: str = Field(max_length=12)
    amount_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    note: Optional[str] = Field(default=None)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)


class OfferFunnel(TableModel, table=True):
    """How far each sent offer got: one row per offer, written by `offer outcome` in the
    transaction that appends the stage, so `offer funnel` reads this narrow table instead of
    joining every stage of the cohort (derived from `offer_outcome`; migration 0022 backfills it).

    `sent_at` is the cohort key; each later stage has the instant it was reached (NULL: not
    reached). `over_max` marks an acceptance priced above the offer's max_offer;
    `contract_gap_cents` is the contracted price minus max_offer when both are known. The
    grouping columns are copied from the (immutable) evidence.
    """

    __tablename__ = "offer_funnel"
    __table_args__ = (Index("ix_offer_funnel_sent_at", "sent_at"),)

    evidence_id: int = Field(sa_column=Column(BigInteger, ForeignKey("offer_evidence.id"),
                                              primary_key=True, autoincrement=False))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    province: str = Field(max_length=2)
    market: Optional[str] = Field(default=None, max_length=80)
    property_type: str = Field(max_length=12)
    countered_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    accepted_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    rejected_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    contracted_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    closed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    withdrawn_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    over_max: bool = Field(default=False)
    contract_gap_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
