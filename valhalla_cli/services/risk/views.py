"""The risk pack's read models: policies, reservations, closes, the day's snapshot, events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from valhalla_cli.services.refusals import Refusal

__all__ = ["Breach", "CloseOutcome", "CloseView", "EngineSnapshot", "EventView", "Policy",
           "PolicySetResult", "ReservationView", "ReserveOutcome", "Snapshot"]


@dataclass(frozen=True)
class Policy:
    engine: str
    daily_cap: Decimal
    enabled: bool
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class ReservationView:
    reservation_id: int | None
    engine: str
    amount: Decimal
    ref: str
    day: date
    status: str  # reserved | denied
    reason: str | None  # machine-readable reason when denied
    binding_cap: str | None  # the cap that said no (engine name or GLOBAL)
    replayed: bool  # True when --ref already held this reservation (nothing reserved)
    reservation_status: str | None  # open | settled | released (None when denied)
    engine_headroom: Decimal
    global_headroom: Decimal


@dataclass(frozen=True)
class ReserveOutcome:
    result: ReservationView
    message: str | None = None  # the human sentence of a denial
    warning: str | None = None  # go-live enforcement off

    @property
    def refusal(self) -> Refusal | None:
        """A reservation a cap denies."""
        if not self.message:
            return None
        return Refusal(self.result.reason or "denied", self.message)


@dataclass(frozen=True)
class CloseView:
    reservation_id: int
    engine: str
    amount: Decimal
    ref: str
    day: date  # the day the reservation was made
    status: str  # the reservation's status after the command: settled | released | open
    refused: bool
    reason: str | None  # already_settled | already_released when refused
    closed_day: date | None
    closed_at: datetime | None
    pnl: Decimal | None
    realized_loss: Decimal
    realized_profit: Decimal


@dataclass(frozen=True)
class CloseOutcome:
    result: CloseView
    message: str | None = None

    @property
    def refusal(self) -> Refusal | None:
        """A reservation already settled or released."""
        if not self.message:
            return None
        return Refusal(self.result.reason or "refused", self.message)


@dataclass(frozen=True)
class EngineSnapshot:
    engine: str
    enabled: bool
    cap: Decimal
    reserved: Decimal
    realized_loss: Decimal
    realized_profit: Decimal
    exposure: Decimal
    headroom: Decimal
    utilization_pct: float | None


@dataclass(frozen=True)
class Breach:
    engine: str
    cap: Decimal
    exposure: Decimal
    over: Decimal


@dataclass(frozen=True)
class Snapshot:
    day: date
    engines: list[EngineSnapshot]
    breaches: list[Breach]


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    day: date
    engine: str
    kind: str
    amount: Decimal
    pnl: Decimal | None
    ref: str | None
    reservation_id: int | None
    binding_cap: str | None
    reason: str | None
    actor: str


@dataclass(frozen=True)
class PolicySetResult:
    engine: str
    daily_cap: Decimal
    enabled: bool
    created: bool
    changed: bool
    before: dict[str, Any] | None
