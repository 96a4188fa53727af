"""Helpers over the risk tables: policies (with their locks), the day's ledger rows (created
in the lock order), headroom, the event journal."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import upsert_insert
from valhalla_cli.errors import NotFound
from valhalla_cli.models import RiskEvent, RiskLedger, RiskPolicy, RiskReservation
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.money import from_cents
from valhalla_cli.services.risk.rules import GLOBAL, headroom_cents, normalize_engine
from valhalla_cli.services.risk.views import Policy

_LEDGER = table_of(RiskLedger)
_RESERVATION = table_of(RiskReservation)


def _policy_view(row: RiskPolicy) -> Policy:
    return view_of(Policy, row, daily_cap=from_cents(row.daily_cap_cents))


def _engine_order(name: str) -> tuple[int, str]:
    return (0 if name == GLOBAL else 1, name)


def _policies(session: Session, engines: list[str] | None = None, *,
              lock: str | None = None) -> dict[str, RiskPolicy]:
    """Policies by engine. lock='share' or 'update' takes row locks (PostgreSQL) in name order."""
    query = select(RiskPolicy).order_by(col(RiskPolicy.engine))
    if engines is not None:
        query = query.where(col(RiskPolicy.engine).in_(engines))
    query = query.execution_options(populate_existing=True)
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    return {row.engine: row for row in session.scalars(query)}


def _known_engine(session: Session, engine: str) -> str:
    engine = normalize_engine(engine)
    if session.get(RiskPolicy, engine) is None:
        raise NotFound(f"unknown engine {engine!r} (see `valhalla risk policies`)")
    return engine


def _ensure_ledger_rows(session: Session, day: date, engines: list[str]) -> None:
    """Insert the day's ledger rows if missing (engines first, GLOBAL last: the lock order)."""
    insert = upsert_insert(session)
    rows = [dict(day=day, engine=engine, reserved_cents=0, realized_loss_cents=0,
                 realized_profit_cents=0)
            for engine in sorted(set(engines), key=lambda e: (e == GLOBAL, e))]
    stmt = insert(_LEDGER).values(rows).on_conflict_do_nothing(index_elements=["day", "engine"])
    session.execute(stmt)


def _ledger(session: Session, day: date, engines: list[str] | None = None) -> dict[str, Any]:
    """The day's ledger rows by engine (only that day's rows are read)."""
    query = select(_LEDGER).where(_LEDGER.c.day == day)
    if engines is not None:
        query = query.where(_LEDGER.c.engine.in_(engines))
    return {row.engine: row for row in session.execute(query)}


def _exposure(row: Any) -> int:
    return 0 if row is None else row.reserved_cents + row.realized_loss_cents


def _headrooms(session: Session, day: date, engine: str,
               policies: dict[str, RiskPolicy]) -> tuple[Decimal, Decimal]:
    rows = _ledger(session, day, [engine, GLOBAL])

    def room(name: str) -> Decimal:
        policy = policies.get(name)  # a missing policy has no room at all (fail closed)
        cap = policy.daily_cap_cents if policy is not None else 0
        return from_cents(headroom_cents(cap, _exposure(rows.get(name))))

    return room(engine), room(GLOBAL)


def _add_event(session: Session, *, at: datetime, day: date, engine: str, kind: str,
               amount_cents: int, actor: str, pnl_cents: int | None = None,
               ref: str | None = None, reservation_id: int | None = None,
               binding_cap: str | None = None, reason: str | None = None) -> None:
    session.add(RiskEvent(at=at, day=day, engine=engine, kind=kind, amount_cents=amount_cents,
                          pnl_cents=pnl_cents, ref=ref, reservation_id=reservation_id,
                          binding_cap=binding_cap, reason=reason, actor=actor))


def _by_ref(session: Session, ref: str) -> RiskReservation | None:
    return session.scalars(select(RiskReservation).where(col(RiskReservation.ref) == ref)).first()
