"""The pre-go-live runbook: one table of checks, each owned by its pack, run in order.

`CHECKS` maps a check's name (what `valhalla runbook status` prints) to the function that
evaluates it: the runbook's own checks (the database schema, the time-zone data) first, then
the control plane (nothing should go live on a broken gate), then the operations packs, then
housekeeping. The runbook is OK to enable go-live when no check fails (warnings do not block).
Adding a check is one line here and one function in its pack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from valhalla_cli.services import db, dncl, golive, inbox, policies, regression, template
from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult
from valhalla_cli.services.heimdall import check as heimdall_check
from valhalla_cli.services.ladder import check as ladder_check
from valhalla_cli.services.offer import check as offer_check
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.risk import check as risk_check
from valhalla_cli.services.sending import report as sending_report

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

__all__ = ["CHECKS", "FAIL", "OK", "WARN", "CheckLine", "CheckResult", "RunbookReport"]


@dataclass(frozen=True)
class CheckLine:
    """One row of the report: the check's name (its key in `CHECKS`) and what it found."""

    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class RunbookReport:
    ok_to_enable_go_live: bool
    generated_at: datetime
    checks: list[CheckLine]

    @property
    def failing(self) -> list[str]:
        """The names of the failing checks (what blocks go-live)."""
        return [c.name for c in self.checks if c.status == FAIL]

    @property
    def warnings(self) -> list[str]:
        return [c.name for c in self.checks if c.status == WARN]

    @property
    def verdict(self) -> str:
        """The report in one line: `OK to enable go-live: yes — 4 warnings`."""
        def count(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 's'}"

        warned = count(len(self.warnings), "warning")
        if self.ok_to_enable_go_live:
            return ("OK to enable go-live: yes"
                    + (f" — {warned}" if self.warnings else f" — all {len(self.checks)} "
                       "checks pass"))
        return (f"OK to enable go-live: no — {count(len(self.failing), 'failing check')} ("
                + ", ".join(self.failing) + ")" + (f", {warned}" if self.warnings else ""))

    @property
    def refusal(self) -> Refusal | None:
        """Not OK to enable go-live while a check fails."""
        if self.ok_to_enable_go_live:
            return None
        return Refusal("runbook_not_ok",
                       "not OK to enable go-live: failing checks: " + ", ".join(self.failing))


def check_database(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.schema import SchemaState, known_head_revision, read_revisions

    head = known_head_revision()
    state = SchemaState(read_revisions(session), True)
    if state.status != "at_head":
        problem = state.problem()
        if problem is not None:  # newer, two revisions, none: upgrading would not help
            return CheckResult(FAIL, problem, None)
        return CheckResult(FAIL, f"schema at {state.current}, package head is {head}",
                           "valhalla db upgrade")
    dialect = session.get_bind().dialect.name
    return CheckResult(OK, f"schema at head ({head}) on {dialect}")


def check_timezones(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from importlib import metadata

    from valhalla_cli.tz import MIN_TZDATA_VERSION, self_test, tzdata_version

    problems = self_test()
    version = tzdata_version()
    # The holidays release decides which days are statutory holidays, and so some contact
    # answers: the check names it beside the zone data it vouches for.
    holidays = f"holidays {metadata.version('holidays')}"
    if problems:
        return CheckResult(FAIL, "time-zone data older than IANA 2026f: " + "; ".join(problems)
                           + f" ({holidays})", f"pip install 'tzdata>={MIN_TZDATA_VERSION}'")
    return CheckResult(OK, f"tzdata {version}, {holidays}: America/Vancouver UTC-7, "
                       "America/Winnipeg UTC-5 on 2027-01-15")


Check = Callable[[Session, "Settings", datetime], Any]  # returns a CheckResult

# The checks, in the order the report lists them.
CHECKS: dict[str, Check] = {
    "database": check_database,
    "timezones": check_timezones,
    # the control plane
    "golive": golive.runbook_check,
    "risk": risk_check.runbook_check,
    "heimdall": heimdall_check.runbook_check,
    "regression": regression.runbook_check,
    # the operations packs
    "market": policies.runbook_check,
    "dncl": dncl.runbook_check,
    "messages": template.runbook_check,
    "followups": ladder_check.runbook_check,
    "delivery": sending_report.delivery_check,
    "sender": sending_report.sender_check,
    "inbox": inbox.runbook_check,
    "offers": offer_check.runbook_check,
    # housekeeping
    "backup": db.runbook_check,
}


def run_checks(session: Session, settings: Settings, *, at: datetime) -> RunbookReport:
    results = []
    for name, check in CHECKS.items():
        try:
            # A savepoint per check: one that breaks must not abort the caller's transaction.
            with session.begin_nested():
                found: CheckResult = check(session, settings, at)
            result = CheckLine(name, found.status, found.detail, found.fix)
        except Exception as exc:  # fail closed: a check that cannot be evaluated is a "no"
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            result = CheckLine(name, FAIL, f"check could not be evaluated: {first_line}", None)
        results.append(result)
    ok = all(r.status != FAIL for r in results)
    return RunbookReport(ok_to_enable_go_live=ok, generated_at=at, checks=results)


def report_for(session: Session, settings: Settings, *, at: datetime) -> RunbookReport:
    """`run_checks`, run once per session and instant: `valhalla status` shows the runbook and
    the scorecard's runbook gate in one read transaction, and both read the same run."""
    key = ("valhalla.runbook_report", at)
    if key not in session.info:
        session.info[key] = run_checks(session, settings, at=at)
    return session.info[key]
