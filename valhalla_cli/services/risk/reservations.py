"""Reservations: reserve against an engine's and GLOBAL's caps by conditional updates, then
settle or release them (the package docstring gives the lock order)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from valhalla_cli.clock import business_date
from valhalla_cli.db import affected_rows
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_money_cents
from valhalla_cli.models import RiskPolicy, RiskReservation
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.money import from_cents
from valhalla_cli.services.risk.ledger import (
    _LEDGER,
    _RESERVATION,
    _add_event,
    _by_ref,
    _ensure_ledger_rows,
    _headrooms,
    _policies,
)
from valhalla_cli.services.risk.rules import (
    GLOBAL,
    OPEN,
    RELEASED,
    SETTLED,
    _ref,
    headroom_cents,
    normalize_engine,
)
from valhalla_cli.services.risk.views import (
    CloseOutcome,
    CloseView,
    ReservationView,
    ReserveOutcome,
)

__all__ = ["release", "reserve", "settle"]


def _same_request(existing: RiskReservation, *, engine: str, amount_cents: int) -> None:
    """A ref is reserved once: the same ref with another engine or amount is bad input."""
    if existing.engine != engine or existing.amount_cents != amount_cents:
        raise BadInput(
            f"--ref {existing.ref!r} already holds a reservation of "
            f"{from_cents(existing.amount_cents)} on {existing.engine} (not "
            f"{from_cents(amount_cents)} on {engine}): a ref is reserved once"
        )


def _replay(session: Session, existing: RiskReservation, *, engine: str, amount_cents: int,
            warning: str | None, caps: dict[str, RiskPolicy] | None = None) -> ReserveOutcome:
    """Same ref, same engine and amount: return that reservation and reserve nothing."""
    _same_request(existing, engine=engine, amount_cents=amount_cents)
    policies = caps if caps is not None else _policies(session, [existing.engine, GLOBAL])
    engine_room, global_room = _headrooms(session, existing.day, existing.engine, policies)
    view = ReservationView(
        reservation_id=existing.id, engine=existing.engine,
        amount=from_cents(existing.amount_cents), ref=existing.ref, day=existing.day,
        status="reserved", reason=None, binding_cap=None, replayed=True,
        reservation_status=existing.status, engine_headroom=engine_room,
        global_headroom=global_room,
    )
    return ReserveOutcome(view, warning=warning)


def _deny(session: Session, *, engine: str, amount_cents: int, ref: str, day: date,
          at: datetime, actor: str, reason: str, binding_cap: str | None, message: str,
          warning: str | None, caps: dict[str, RiskPolicy] | None) -> ReserveOutcome:
    _add_event(session, at=at, day=day, engine=engine, kind="deny", amount_cents=amount_cents,
               ref=ref, binding_cap=binding_cap, reason=reason, actor=actor)
    policies = caps if caps is not None else _policies(session, [engine, GLOBAL])
    engine_room, global_room = _headrooms(session, day, engine, policies)
    view = ReservationView(
        reservation_id=None, engine=engine, amount=from_cents(amount_cents), ref=ref, day=day,
        status="denied", reason=reason, binding_cap=binding_cap, replayed=False,
        reservation_status=None, engine_headroom=engine_room, global_headroom=global_room,
    )
    return ReserveOutcome(view, message=message, warning=warning)


def reserve(session: Session, *, engine: str, amount: str | Decimal, ref: str | None,
            at: datetime, actor: str, business_timezone: str, enforce: bool) -> ReserveOutcome:
    """Reserve AMOUNT against ENGINE's and GLOBAL's caps for the business day of `at`."""
    from valhalla_cli.services import golive

    engine = normalize_engine(engine)
    if engine == GLOBAL:
        raise BadInput("GLOBAL caps the sum of the engines: reserve against an engine "
                       "(see `valhalla risk policies`)")
    amount_cents = parse_money_cents(amount, field="AMOUNT", allow_zero=False)
    ref = _ref(ref)
    day = business_date(at, business_timezone)

    # Share-lock both policies (PostgreSQL) so a concurrent cap change waits for this decision.
    caps = _policies(session, [engine, GLOBAL], lock="share")
    if engine not in caps:
        raise NotFound(f"unknown engine {engine!r} (see `valhalla risk policies`)")
    existing = _by_ref(session, ref)
    if existing is not None:
        _same_request(existing, engine=engine, amount_cents=amount_cents)

    status = golive.live_status(session, enforce=enforce)
    common: dict[str, Any] = dict(engine=engine, amount_cents=amount_cents, ref=ref, day=day,
                                  at=at, actor=actor, warning=status.warning, caps=caps)
    if not status.live:
        assert status.reason is not None and status.message is not None
        return _deny(session, reason=status.reason, binding_cap=None,
                     message=f"reservation refused: {status.message}", **common)
    if existing is not None:
        return _replay(session, existing, engine=engine, amount_cents=amount_cents,
                       warning=status.warning, caps=caps)

    for name in (engine, GLOBAL):
        if name not in caps:  # fail closed: never evaluated without both caps
            return _deny(session, reason="policy_missing", binding_cap=name,
                         message=f"reservation refused: no risk policy for {name} "
                         f"(valhalla risk policy-set {name} --daily-cap AMOUNT)", **common)
    for name in (engine, GLOBAL):
        if not caps[name].enabled:
            return _deny(session, reason="engine_disabled", binding_cap=name,
                         message=f"reservation refused: engine {name} is disabled "
                         f"(valhalla risk policy-set {name} --enable)", **common)

    # One savepoint around the increments and the reservation row: when a cap says no (or a
    # concurrent process took this ref) it is undone alone, the caller's transaction goes on.
    savepoint = session.begin_nested()
    _ensure_ledger_rows(session, day, [engine, GLOBAL])
    binding: str | None = None
    room: dict[str, int] = {}
    for name in (engine, GLOBAL):  # the lock order: engine row first, then GLOBAL
        cap = caps[name].daily_cap_cents
        exposure = _LEDGER.c.reserved_cents + _LEDGER.c.realized_loss_cents
        stmt = (
            update(_LEDGER)
            .where(_LEDGER.c.day == day, _LEDGER.c.engine == name,
                   exposure + amount_cents <= cap)
            .values(reserved_cents=_LEDGER.c.reserved_cents + amount_cents)
            .returning(exposure)
        )
        after = session.execute(stmt).scalar()
        if after is None:  # the condition failed: this cap binds
            binding = name
            break
        room[name] = headroom_cents(cap, after)

    if binding is not None:
        savepoint.rollback()  # undo the engine increment if GLOBAL said no
        raced = _by_ref(session, ref)
        if raced is not None:  # another process took this ref meanwhile and used the room
            return _replay(session, raced, engine=engine, amount_cents=amount_cents,
                           warning=status.warning)
        cap_amount = from_cents(caps[binding].daily_cap_cents)
        common["caps"] = None  # re-read after the savepoint's rollback
        return _deny(session, reason="cap_exceeded", binding_cap=binding,
                     message=f"reservation of {from_cents(amount_cents)} on {engine} denied: "
                     f"it would take {binding} past its daily cap of {cap_amount} on {day}",
                     **common)

    reservation = RiskReservation(ref=ref, engine=engine, amount_cents=amount_cents, day=day,
                                  status=OPEN, reserved_at=at, reserved_by=actor)
    session.add(reservation)
    try:
        session.flush()
    except IntegrityError:
        # Two processes raced the same new ref (PostgreSQL): the first one won. Nothing of ours
        # may stay, so undo the savepoint and answer with the winner's reservation.
        savepoint.rollback()
        raced = _by_ref(session, ref)
        if raced is None:
            raise
        return _replay(session, raced, engine=engine, amount_cents=amount_cents,
                       warning=status.warning)
    savepoint.commit()
    _add_event(session, at=at, day=day, engine=engine, kind="reserve", amount_cents=amount_cents,
               ref=ref, reservation_id=reservation.id, actor=actor)
    view = ReservationView(
        reservation_id=reservation.id, engine=engine, amount=from_cents(amount_cents), ref=ref,
        day=day, status="reserved", reason=None, binding_cap=None, replayed=False,
        reservation_status=OPEN, engine_headroom=from_cents(room[engine]),
        global_headroom=from_cents(room[GLOBAL]),
    )
    return ReserveOutcome(view, warning=status.warning)


def _find_reservation(session: Session, reservation_id: int | None,
                      ref: str | None) -> RiskReservation:
    if (reservation_id is None) == (ref is None):
        raise BadInput("give either RESERVATION_ID or --ref (exactly one)")
    if reservation_id is not None:
        if reservation_id <= 0:
            raise BadInput(f"RESERVATION_ID must be a positive number, not {reservation_id}")
        found = session.get(RiskReservation, reservation_id)
        if found is None:
            raise NotFound(f"no reservation {reservation_id}")
        return found
    found = _by_ref(session, _ref(ref))
    if found is None:
        raise NotFound(f"no reservation with --ref {ref!r}")
    return found


def _close_view(row: RiskReservation, *, refused: bool, reason: str | None) -> CloseView:
    pnl = row.pnl_cents
    return view_of(
        CloseView, row, reservation_id=pk(row.id), amount=from_cents(row.amount_cents),
        refused=refused, reason=reason, pnl=None if pnl is None else from_cents(pnl),
        realized_loss=from_cents(-pnl if pnl is not None and pnl < 0 else 0),
        realized_profit=from_cents(pnl if pnl is not None and pnl > 0 else 0),
    )


def _close(session: Session, *, reservation_id: int | None, ref: str | None,
           pnl: str | Decimal | None, at: datetime, actor: str,
           business_timezone: str) -> CloseOutcome:
    kind = "release" if pnl is None else "settle"
    pnl_cents = None if pnl is None else parse_money_cents(pnl, field="--pnl",
                                                           allow_negative=True)
    row = _find_reservation(session, reservation_id, ref)
    if at < row.reserved_at:
        raise BadInput(f"--at is before reservation {row.id} was made "
                       f"({row.reserved_at.isoformat()})")
    close_day = business_date(at, business_timezone)
    new_status = RELEASED if kind == "release" else SETTLED
    claimed = affected_rows(session.execute(
        update(_RESERVATION)
        .where(_RESERVATION.c.id == row.id, _RESERVATION.c.status == OPEN)
        .values(status=new_status, closed_at=at, closed_day=close_day, pnl_cents=pnl_cents)
    ))
    session.refresh(row)
    if claimed != 1:
        verb = "settled" if kind == "settle" else "released"
        message = (f"reservation {row.id} ({row.ref}) is already {row.status} "
                   f"on {row.closed_day}: it cannot be {verb} again")
        return CloseOutcome(_close_view(row, refused=True, reason=f"already_{row.status}"),
                            message=message)

    loss = -pnl_cents if pnl_cents is not None and pnl_cents < 0 else 0
    profit = pnl_cents if pnl_cents is not None and pnl_cents > 0 else 0
    if loss or profit:
        _ensure_ledger_rows(session, close_day, [row.engine, GLOBAL])
    # One lock order everywhere: the engine's rows (by day) before GLOBAL's rows (by day).
    for name in (row.engine, GLOBAL):
        changes: list[tuple[date, dict[str, Any]]] = [
            (row.day, {"reserved_cents": _LEDGER.c.reserved_cents - row.amount_cents})]
        if loss:
            changes.append((close_day, {
                "realized_loss_cents": _LEDGER.c.realized_loss_cents + loss}))
        if profit:
            changes.append((close_day, {
                "realized_profit_cents": _LEDGER.c.realized_profit_cents + profit}))
        for day, values in sorted(changes, key=lambda c: c[0]):
            done = affected_rows(session.execute(
                update(_LEDGER).where(_LEDGER.c.day == day, _LEDGER.c.engine == name)
                .values(**values)
            ))
            if done != 1:
                raise RuntimeError(f"risk ledger row missing for {name} on {day}")
    _add_event(session, at=at, day=close_day, engine=row.engine, kind=kind,
               amount_cents=row.amount_cents, pnl_cents=pnl_cents, ref=row.ref,
               reservation_id=row.id, actor=actor)
    session.flush()
    return CloseOutcome(_close_view(row, refused=False, reason=None))


def settle(session: Session, *, reservation_id: int | None = None, ref: str | None = None,
           pnl: str | Decimal, at: datetime, actor: str, business_timezone: str) -> CloseOutcome:
    """Close an open reservation with its P&L (negative: a loss on the settlement day)."""
    if pnl is None:
        raise BadInput("--pnl is required (use 0 for break-even)")
    return _close(session, reservation_id=reservation_id, ref=ref, pnl=pnl, at=at, actor=actor,
                  business_timezone=business_timezone)


def release(session: Session, *, reservation_id: int | None = None, ref: str | None = None,
            at: datetime, actor: str, business_timezone: str) -> CloseOutcome:
    """Cancel an open reservation with no P&L: its amount leaves the day's exposure."""
    return _close(session, reservation_id=reservation_id, ref=ref, pnl=None, at=at, actor=actor,
                  business_timezone=business_timezone)
