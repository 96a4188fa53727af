"""Risk guard: daily loss caps per engine and GLOBAL (SPEC section 7).

Exposure of an engine on a business day = open reservations made that day + losses realized that
day; GLOBAL's exposure is the sum over the engines. The ledger keeps one row per (day, engine),
with a GLOBAL row maintained as the sum of the engine rows.

A reservation is accepted only by atomic conditional UPDATEs of the day's ledger rows (engine row
first, then GLOBAL: one lock order everywhere), so no interleaving of concurrent reservations can
push exposure past a cap on either engine. Ledger rows are always touched in the order
(engine rows before GLOBAL rows, then by day) so two transactions never wait on each other in a
cycle on PostgreSQL; on SQLite every write transaction holds the write lock from BEGIN IMMEDIATE.

`reserve` may roll the session's transaction back and continue in a fresh one (to record a denial
after a failed conditional update, or to return the winner of a race on the same `--ref`): call it
in a write transaction of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import business_date
from valhalla_cli.db import affected_rows, upsert_insert
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_money_cents, parse_text
from valhalla_cli.models import RiskEvent, RiskLedger, RiskPolicy, RiskReservation
from valhalla_cli.models.risk import GLOBAL_ENGINE
from valhalla_cli.models.types import pk, table_of
from valhalla_cli.money import from_cents
from valhalla_cli.services import audit

if TYPE_CHECKING:
    from valhalla_cli.services.runbook import CheckResult
    from valhalla_cli.settings import Settings

PACK = "risk"
GLOBAL = GLOBAL_ENGINE
_ENGINE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_LEDGER = table_of(RiskLedger)
_RESERVATION = table_of(RiskReservation)

OPEN, SETTLED, RELEASED = "open", "settled", "released"


# --------------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------------

def normalize_engine(name: str) -> str:
    """Engine names are lower-case words (`acquisitions`); `GLOBAL` is spelled in capitals."""
    cleaned = (name or "").strip()
    if cleaned.upper() == GLOBAL:
        return GLOBAL
    lowered = cleaned.lower()
    if not _ENGINE_NAME.match(lowered):
        raise BadInput(f"engine {name!r} must be 1-40 characters: a letter, then letters, digits, "
                       "'-' or '_'")
    return lowered


def _ref(ref: str | None) -> str:
    cleaned = parse_text(ref, field="--ref")
    if cleaned is None:
        raise BadInput("--ref must not be empty (it is the reservation's idempotency key)")
    return cleaned


def headroom_cents(cap: int, exposure: int) -> int:
    """Room left under a cap; never negative (a breach is reported separately)."""
    return max(cap - exposure, 0)


def utilization_pct(cap: int, exposure: int) -> float | None:
    """Exposure as a percentage of the cap; None when the cap is zero."""
    if cap <= 0:
        return None
    return round(exposure * 100 / cap, 2)


# --------------------------------------------------------------------------------------------
# Read models
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Helpers over the tables
# --------------------------------------------------------------------------------------------

def _policy_view(row: RiskPolicy) -> Policy:
    return Policy(engine=row.engine, daily_cap=from_cents(row.daily_cap_cents),
                  enabled=row.enabled, updated_at=row.updated_at, updated_by=row.updated_by)


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


# --------------------------------------------------------------------------------------------
# reserve
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# settle / release
# --------------------------------------------------------------------------------------------

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
    return CloseView(
        reservation_id=pk(row.id), engine=row.engine, amount=from_cents(row.amount_cents),
        ref=row.ref, day=row.day, status=row.status, refused=refused, reason=reason,
        closed_day=row.closed_day, closed_at=row.closed_at,
        pnl=None if pnl is None else from_cents(pnl),
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


# --------------------------------------------------------------------------------------------
# snapshot / events / policies
# --------------------------------------------------------------------------------------------

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
        EventView(id=pk(e.id), at=e.at, day=e.day, engine=e.engine, kind=e.kind,
                  amount=from_cents(e.amount_cents),
                  pnl=None if e.pnl_cents is None else from_cents(e.pnl_cents), ref=e.ref,
                  reservation_id=e.reservation_id, binding_cap=e.binding_cap, reason=e.reason,
                  actor=e.actor)
        for e in session.scalars(query)
    ]


def policies(session: Session) -> list[Policy]:
    """Every engine's cap, GLOBAL first."""
    rows = _policies(session)
    return [_policy_view(rows[name]) for name in sorted(rows, key=_engine_order)]


def policy_set(session: Session, *, engine: str, daily_cap: str | Decimal | None,
               enabled: bool | None, at: datetime, actor: str, reason: str | None = None,
               business_timezone: str) -> PolicySetResult:
    """Create or change an engine's daily cap / enabled flag (audited; never cancels anything)."""
    engine = normalize_engine(engine)
    cap_cents = None if daily_cap is None else parse_money_cents(daily_cap,
                                                                 field="--daily-cap")
    reason = reason.strip() if reason and reason.strip() else None
    rows = _policies(session, lock="update")  # every policy: the caps are checked together
    current = rows.get(engine)
    if current is None and cap_cents is None:
        raise BadInput(f"engine {engine!r} is new: give its --daily-cap")
    if current is not None and cap_cents is None and enabled is None:
        raise BadInput("nothing to change: give --daily-cap and/or --enable/--disable")
    new_cap = cap_cents if cap_cents is not None else current.daily_cap_cents  # type: ignore[union-attr]
    if engine == GLOBAL:
        above = {n: p.daily_cap_cents for n, p in rows.items()
                 if n != GLOBAL and p.daily_cap_cents > new_cap}
        if above:
            worst = max(above, key=lambda n: above[n])
            raise BadInput(f"GLOBAL's cap {from_cents(new_cap)} would be below {worst}'s "
                           f"{from_cents(above[worst])}: lower the engine first")
    else:
        global_policy = rows.get(GLOBAL)
        if global_policy is None:
            raise NotFound("no GLOBAL policy: set it first with `valhalla risk policy-set GLOBAL`")
        if new_cap > global_policy.daily_cap_cents:
            raise BadInput(f"{engine}'s cap {from_cents(new_cap)} would be above GLOBAL's "
                           f"{from_cents(global_policy.daily_cap_cents)}: raise GLOBAL first")

    day = business_date(at, business_timezone)
    if current is None:
        row = RiskPolicy(engine=engine, daily_cap_cents=new_cap,
                         enabled=True if enabled is None else enabled,
                         updated_at=at, updated_by=actor)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise BadInput(f"engine {engine!r} was created by someone else just now: "
                           "run the command again") from None
        before = None
        action = "policy_create"
    else:
        row = current
        before = {"daily_cap": from_cents(row.daily_cap_cents), "enabled": row.enabled}
        if row.daily_cap_cents == new_cap and (enabled is None or row.enabled == enabled):
            return PolicySetResult(engine=engine, daily_cap=from_cents(new_cap),
                                   enabled=row.enabled, created=False, changed=False,
                                   before=before)
        row.daily_cap_cents = new_cap
        if enabled is not None:
            row.enabled = enabled
        row.updated_at, row.updated_by = at, actor
        session.flush()
        action = "policy_set"
    after = {"daily_cap": from_cents(row.daily_cap_cents), "enabled": row.enabled}
    audit.record(session, pack=PACK, action=action, actor=actor, at=at, subject=engine,
                 before=before, after=after, reason=reason)
    _add_event(session, at=at, day=day, engine=engine, kind="policy",
               amount_cents=row.daily_cap_cents, actor=actor,
               reason=reason or ("created" if before is None else
                                 f"cap {before['daily_cap']} -> {after['daily_cap']}, "
                                 f"enabled {before['enabled']} -> {after['enabled']}"))
    return PolicySetResult(engine=engine, daily_cap=from_cents(row.daily_cap_cents),
                           enabled=row.enabled, created=before is None, changed=True,
                           before=before)


def open_reserved_cents(session: Session, *, day: date, engine: str | None = None) -> int:
    """Sum of the open reservations of a day (the ledger's `reserved` must equal it)."""
    query = select(func.coalesce(func.sum(col(RiskReservation.amount_cents)), 0)).where(
        col(RiskReservation.day) == day, col(RiskReservation.status) == OPEN)
    if engine is not None and engine != GLOBAL:
        query = query.where(col(RiskReservation.engine) == engine)
    return int(session.execute(query).scalar_one())


# --------------------------------------------------------------------------------------------
# runbook
# --------------------------------------------------------------------------------------------

def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails when GLOBAL's cap is missing or <= 0, an engine's cap is above GLOBAL's, or a cap
    is breached today (the business day of `at`)."""
    from valhalla_cli.services.runbook import FAIL, OK, WARN, CheckResult

    rows = _policies(session)
    global_policy = rows.get(GLOBAL)
    if global_policy is None:
        return CheckResult("risk", FAIL, "no GLOBAL risk policy",
                           "valhalla risk policy-set GLOBAL --daily-cap 50000")
    global_cap = global_policy.daily_cap_cents
    if global_cap <= 0:
        return CheckResult("risk", FAIL, f"GLOBAL daily cap is {from_cents(global_cap)}",
                           "valhalla risk policy-set GLOBAL --daily-cap 50000")
    above = sorted(n for n, p in rows.items() if n != GLOBAL and p.daily_cap_cents > global_cap)
    if above:
        return CheckResult(
            "risk", FAIL,
            "engine caps above GLOBAL's " + str(from_cents(global_cap)) + ": " + ", ".join(
                f"{n} {from_cents(rows[n].daily_cap_cents)}" for n in above),
            f"valhalla risk policy-set {above[0]} --daily-cap {from_cents(global_cap)}")
    today = business_date(at, settings.business_timezone)
    breaches = snapshot(session, day=today).breaches
    if breaches:
        return CheckResult(
            "risk", FAIL,
            f"daily cap breached on {today}: " + ", ".join(
                f"{b.engine} over by {b.over} (exposure {b.exposure}, cap {b.cap})"
                for b in breaches),
            None)
    engines = len(rows) - 1
    if not global_policy.enabled:
        return CheckResult("risk", WARN,
                           "GLOBAL is disabled: every reservation is refused",
                           "valhalla risk policy-set GLOBAL --enable")
    return CheckResult("risk", OK, f"GLOBAL cap {from_cents(global_cap)}, {engines} engines at "
                       f"or below it, no breach on {today}")
