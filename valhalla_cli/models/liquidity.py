from datetime import date, datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.importing import hide_unfinished_imports_of
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class BuyerFeedbackEvent(TableModel, table=True):
    """A cash buyer's reaction to a deal sent to them (one row per send).

    `business_date` is the business day of `at` in the business time zone when it was recorded;
    (deal_ref, buyer) is the natural key when a deal reference is given (retries are no-ops).
    """

    __tablename__ = "buyer_feedback_event"
    __table_args__ = (
        Index("ix_buyer_feedback_event_node_at", "province", "market", "property_type", "at"),
        UniqueConstraint("deal_ref", "buyer", name="uq_buyer_feedback_event_deal_buyer"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    business_date: date
    province: str = Field(max_length=2)
    market: str = Field(max_length=80)
    property_type: str = Field(max_length=12)
    buyer: str = Field(max_length=200)
    responded: bool
    closed: bool
    deal_ref: Optional[str] = Field(default=None, max_length=200)
    source: str = Field(max_length=40)
    actor: str = Field(max_length=200)
    # The bulk import that wrote the row; invisible until that import finishes (ImportBatch).
    import_batch_id: Optional[int] = Field(default=None, sa_column=Column(
        BigInteger, nullable=True, index=True))


class BuyerLiquidityNode(TableModel, table=True):
    """Per (province, market, property type) and business date: sends, responses and closes.

    Upserted atomically with each feedback event, so a 90-day score sums at most 90 rows.
    """

    __tablename__ = "buyer_liquidity_node"
    __table_args__ = (
        Index("ix_buyer_liquidity_node_business_date", "business_date"),
        # The key is the node's identity: two spellings of one market (MONTREAL, MONTRÉAL)
        # share it. It must be the table's only unique index: PostgreSQL's ON CONFLICT
        # arbitrates on one, and two writers creating a node at once would collide on another.
        PrimaryKeyConstraint("province", "market_key", "property_type", "business_date",
                             name="buyer_liquidity_node_pkey"),
    )

    province: str = Field(max_length=2)
    market: str = Field(max_length=80)  # the name as first written, shown to people
    market_key: str = Field(max_length=80)  # identity: inputs.market_key(market)
    property_type: str = Field(max_length=12)
    business_date: date
    sent: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    responded: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    closed: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


# Bulk imports write this table: the rows of an unfinished import stay out of every query.
hide_unfinished_imports_of(BuyerFeedbackEvent)
