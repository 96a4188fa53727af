from datetime import date, datetime
from typing import Optional

from sqlalchemy import BigInteger, CheckConstraint, Column, Index
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime

GLOBAL_ENGINE = "GLOBAL"


class RiskPolicy(TableModel, table=True):
    """A daily loss cap per engine, in cents; GLOBAL caps the sum of all engines."""

    __tablename__ = "risk_policy"
    __table_args__ = (CheckConstraint("daily_cap_cents >= 0", name="ck_risk_policy_cap"),)

    engine: str = Field(primary_key=True, max_length=40)
    daily_cap_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    enabled: bool = Field(default=True)
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)


class RiskLedger(TableModel, table=True):
    """One row per business day and engine (GLOBAL included, kept as the sum of the engines).

    Exposure = reserved_cents (open reservations made that day) + realized_loss_cents (losses
    settled that day). Reservations change it only by atomic conditional updates.
    """

    __tablename__ = "risk_ledger"
    __table_args__ = (
        CheckConstraint("reserved_cents >= 0", name="ck_risk_ledger_reserved"),
        CheckConstraint("realized_loss_cents >= 0", name="ck_risk_ledger_loss"),
        CheckConstraint("realized_profit_cents >= 0", name="ck_risk_ledger_profit"),
    )

    day: date = Field(primary_key=True)
    engine: str = Field(primary_key=True, max_length=40)
    reserved_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                            default=0))
    realized_loss_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                                 default=0))
    realized_profit_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                                   default=0))


class RiskReservation(TableModel, table=True):
    """Money held against a day's cap until it is settled or released. `ref` is idempotent."""

    __tablename__ = "risk_reservation"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="ck_risk_reservation_amount"),
        Index("ix_risk_reservation_day_engine", "day", "engine"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    ref: str = Field(max_length=200, unique=True)
    engine: str = Field(max_length=40, foreign_key="risk_policy.engine")
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    day: date
    status: str = Field(max_length=20)  # open | settled | released
    reserved_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    reserved_by: str = Field(max_length=200)
    closed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    closed_day: Optional[date] = Field(default=None)
    pnl_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))


class RiskEvent(TableModel, table=True):
    """The money journal: every reservation, denial, settlement and release."""

    __tablename__ = "risk_event"
    __table_args__ = (Index("ix_risk_event_day_engine", "day", "engine"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    day: date
    engine: str = Field(max_length=40)
    kind: str = Field(max_length=20)  # reserve | deny | settle | release
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    pnl_cents: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    ref: Optional[str] = Field(default=None, max_length=200)
    reservation_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    binding_cap: Optional[str] = Field(default=None, max_length=40)
    reason: Optional[str] = Field(default=None)
    actor: str = Field(max_length=200)
