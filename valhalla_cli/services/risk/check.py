"""The risk pack's runbook check: GLOBAL's cap exists and bounds the engines, no breach today."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from valhalla_cli.clock import business_date
from valhalla_cli.money import from_cents
from valhalla_cli.services.risk.ledger import _policies
from valhalla_cli.services.risk.reports import snapshot
from valhalla_cli.services.risk.rules import GLOBAL

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult
    from valhalla_cli.settings import Settings

__all__ = ["runbook_check"]


def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails when GLOBAL's cap is missing or <= 0, an engine's cap is above GLOBAL's, or a cap
    is breached today (the business day of `at`)."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    rows = _policies(session)
    global_policy = rows.get(GLOBAL)
    if global_policy is None:
        return CheckResult(FAIL, "no GLOBAL risk policy",
                           "valhalla risk policy-set GLOBAL --daily-cap 50000")
    global_cap = global_policy.daily_cap_cents
    if global_cap <= 0:
        return CheckResult(FAIL, f"GLOBAL daily cap is {from_cents(global_cap)}",
                           "valhalla risk policy-set GLOBAL --daily-cap 50000")
    above = sorted(n for n, p in rows.items() if n != GLOBAL and p.daily_cap_cents > global_cap)
    if above:
        return CheckResult(
            FAIL,
            "engine caps above GLOBAL's " + str(from_cents(global_cap)) + ": " + ", ".join(
                f"{n} {from_cents(rows[n].daily_cap_cents)}" for n in above),
            f"valhalla risk policy-set {above[0]} --daily-cap {from_cents(global_cap)}")
    today = business_date(at, settings.business_timezone)
    breaches = snapshot(session, day=today).breaches
    if breaches:
        return CheckResult(
            FAIL,
            f"daily cap breached on {today}: " + ", ".join(
                f"{b.engine} over by {b.over} (exposure {b.exposure}, cap {b.cap})"
                for b in breaches),
            None)
    engines = len(rows) - 1
    if not global_policy.enabled:
        return CheckResult(WARN,
                           "GLOBAL is disabled: every reservation is refused",
                           "valhalla risk policy-set GLOBAL --enable")
    from valhalla_cli.wording import plural

    return CheckResult(OK, f"GLOBAL cap {from_cents(global_cap)}, "
                       f"{plural(engines, 'engine')} at or below it, no breach on {today}")
