"""The daily caps: every engine's policy, and setting one (audited; GLOBAL bounds the engines)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from valhalla_cli.clock import business_date
from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_money_cents, parse_reason
from valhalla_cli.models import RiskPolicy
from valhalla_cli.models.types import table_of
from valhalla_cli.money import from_cents
from valhalla_cli.services import audit
from valhalla_cli.services.risk.ledger import _add_event, _engine_order, _policies, _policy_view
from valhalla_cli.services.risk.rules import GLOBAL, PACK, normalize_engine
from valhalla_cli.services.risk.views import Policy, PolicySetResult

__all__ = ["policies", "policy_set"]


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
    reason = parse_reason(reason)
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
        # Two operators creating the same engine's cap at once: the second waits for the
        # first's row, then sets it as if it had come second (checked again against it).
        if not insert_if_missing(session, table_of(RiskPolicy), {
                "engine": engine, "daily_cap_cents": new_cap,
                "enabled": True if enabled is None else enabled,
                "updated_at": at, "updated_by": actor}):
            return policy_set(session, engine=engine, daily_cap=daily_cap, enabled=enabled,
                              at=at, actor=actor, reason=reason,
                              business_timezone=business_timezone)
        row = session.get(RiskPolicy, engine, populate_existing=True)
        assert row is not None  # inserted just above
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
