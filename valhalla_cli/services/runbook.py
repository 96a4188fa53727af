"""The pre-go-live runbook: local checks, each owned by its pack.

The runbook's own checks (the database schema, the time-zone data) come first, then every
pack's check from `valhalla_cli.registry` (a pack adds its check with its registry entry). The
runbook is OK to enable go-live when no check fails (warnings do not block).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from valhalla_cli.services.refusals import Refusal

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"

@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class RunbookReport:
    ok_to_enable_go_live: bool
    generated_at: datetime
    checks: list[CheckResult]

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


def run_checks(session: Session, settings: Settings, *, at: datetime) -> RunbookReport:
    from valhalla_cli import registry

    own = (registry.Check("database", check_database), registry.Check("timezones", check_timezones))
    results = []
    for check in (*own, *registry.runbook_checks()):
        name = check.name
        try:
            # A savepoint per check: one that breaks must not abort the caller's transaction.
            with session.begin_nested():
                result = check.run(session, settings, at)
        except Exception as exc:  # fail closed: a check that cannot be evaluated is a "no"
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            result = CheckResult(name, FAIL, f"check could not be evaluated: {first_line}", None)
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


def failing_checks(session: Session, settings: Settings, *, at: datetime) -> list[str]:
    return run_checks(session, settings, at=at).failing


def check_database(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.schema import SchemaState, known_head_revision

    head = known_head_revision()
    rows = session.connection().exec_driver_sql("SELECT version_num FROM alembic_version").all()
    state = SchemaState(tuple(r[0] for r in rows), True)
    if state.status != "at_head":
        problem = state.problem()
        if problem is not None:  # newer, two revisions, none: upgrading would not help
            return CheckResult("database", FAIL, problem, None)
        return CheckResult("database", FAIL, f"schema at {state.current}, package head is "
                           f"{head}", "valhalla db upgrade")
    dialect = session.get_bind().dialect.name
    return CheckResult("database", OK, f"schema at head ({head}) on {dialect}")


def check_timezones(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.tz import self_test, tzdata_version

    problems = self_test()
    version = tzdata_version()
    if problems:
        return CheckResult("timezones", FAIL,
                           "time-zone data older than IANA 2026f: " + "; ".join(problems),
                           "pip install 'tzdata>=2026.6'")
    return CheckResult("timezones", OK,
                       f"tzdata {version}: America/Vancouver UTC-7, America/Winnipeg UTC-5 "
                       "on 2027-01-15")
