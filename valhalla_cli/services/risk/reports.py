"""Reads over a day or a period: the snapshot with its breaches, the event journal, the sum of
open reservations, and the scorecard's cap overages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.models import RiskEvent, RiskLedger, RiskPolicy, RiskReservation
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.money import from_cents
from valhalla_cli.services.risk.ledger import _engine_order, _known_engine, _ledger, _policies
from valhalla_cli.services.risk.rules import GLOBAL, OPEN, headroom_cents, utilization_pct
from valhalla_cli.services.risk.views import Breach, EngineSnapshot, EventView, Snapshot

__all__ = ["Overage", "events", "open_reserved_cents", "overages", "snapshot"]


def snapshot(session: Session, *, day: date) -> Snapshot:
    """Caps, exposure and breaches on one business day (reads only that day's ledger rows)."""
    policies = _policies(session)
    rows = _ledger(session, day)
    engines: list[EngineSnapshot] = []
    breaches: list[Breach] = []
    for name in sorted(policies, key=_engine_order):
        policy, row = policies[name], rows.get(name)
        reserved = row.reserved_cents if row is not None else 0
        loss = row.realized_loss_cents if row is not None else 0
        profit = row.realized_profit_cents if row is not None else 0
        exposure = reserved + loss
        cap = policy.daily_cap_cents
        engines.append(EngineSnapshot(
            engine=name, enabled=policy.enabled, cap=from_cents(cap),
            reserved=from_cents(reserved), realized_loss=from_cents(loss),
            realized_profit=from_cents(profit), exposure=from_cents(exposure),
            headroom=from_cents(headroom_cents(cap, exposure)),
            utilization_pct=utilization_pct(cap, exposure),
        ))
        if exposure > cap:
            breaches.append(Breach(engine=name, cap=from_cents(cap),
                                   exposure=from_cents(exposure),
                                   over=from_cents(exposure - cap)))
    return Snapshot(day=day, engines=engines, breaches=breaches)


def events(session: Session, *, day: date, engine: str | None = None) -> list[EventView]:
    """The money journal of one business day, oldest first."""
    query = select(RiskEvent).where(col(RiskEvent.day) == day)
    if engine is not None:
        query = query.where(col(RiskEvent.engine) == _known_engine(session, engine))
    query = query.order_by(col(RiskEvent.id))
    return [
        view_of(EventView, e, id=pk(e.id), amount=from_cents(e.amount_cents),
                pnl=None if e.pnl_cents is None else from_cents(e.pnl_cents))
        for e in session.scalars(query)
    ]


def open_reserved_cents(session: Session, *, day: date, engine: str | None = None) -> int:
    """Sum of the open reservations of a day (the ledger's `reserved` must equal it)."""
    query = select(func.coalesce(func.sum(col(RiskReservation.amount_cents)), 0)).where(
        col(RiskReservation.day) == day, col(RiskReservation.status) == OPEN)
    if engine is not None and engine != GLOBAL:
        query = query.where(col(RiskReservation.engine) == engine)
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True)
class Overage:
    day: date
    engine: str
    cap: Decimal
    exposure: Decimal
    over: Decimal


def overages(session: Session, *, since: date, until: date) -> list[Overage]:
    """Business days in [since, until] on which an engine's exposure exceeded its cap (the
    breach of `snapshot`, over a period; judged against today's caps, the only ones kept)."""
    ledger, policy = RiskLedger, RiskPolicy
    exposure = col(ledger.reserved_cents) + col(ledger.realized_loss_cents)
    cap = col(policy.daily_cap_cents)
    rows = session.execute(
        select(col(ledger.day), col(ledger.engine), cap, exposure.label("exposure"))
        .join(policy, col(policy.engine) == col(ledger.engine))
        .where(col(ledger.day) >= since, col(ledger.day) <= until, exposure > cap)
        .order_by(col(ledger.day), col(ledger.engine))).all()
    return [Overage(day=r.day, engine=r.engine, cap=from_cents(r.daily_cap_cents),
                    exposure=from_cents(r.exposure),
                    over=from_cents(r.exposure - r.daily_cap_cents)) for r in rows]
