"""The pre-go-live runbook: local checks, each owned by its pack.

A pack adds its check by adding one line to `CHECKS`: a name and the dotted path of a function
`check(session, settings, at) -> CheckResult`. The runbook is OK to enable go-live when no check
fails (warnings do not block).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"

CHECKS: tuple[tuple[str, str], ...] = (
    ("database", "valhalla_cli.services.runbook:check_database"),
    ("timezones", "valhalla_cli.services.runbook:check_timezones"),
    ("golive", "valhalla_cli.services.runbook:check_golive"),
    ("risk", "valhalla_cli.services.risk:runbook_check"),
    ("heimdall", "valhalla_cli.services.heimdall:runbook_check"),
    ("regression", "valhalla_cli.services.regression:runbook_check"),
    ("market", "valhalla_cli.services.market:runbook_check"),
    ("followups", "valhalla_cli.services.ladder:runbook_check"),
    ("dncl", "valhalla_cli.services.dncl:runbook_check"),
    ("messages", "valhalla_cli.services.template:runbook_check"),
    ("offers", "valhalla_cli.services.offer:runbook_check"),
)


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


def _resolve(path: str):  # type: ignore[no-untyped-def]
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_checks(session: Session, settings: Settings, *, at: datetime) -> RunbookReport:
    results = []
    for name, path in CHECKS:
        try:
            # A savepoint per check: one that breaks must not abort the caller's transaction.
            with session.begin_nested():
                result = _resolve(path)(session, settings, at)
        except Exception as exc:  # fail closed: a check that cannot be evaluated is a "no"
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            result = CheckResult(name, FAIL, f"check could not be evaluated: {first_line}", None)
        results.append(result)
    ok = all(r.status != FAIL for r in results)
    return RunbookReport(ok_to_enable_go_live=ok, generated_at=at, checks=results)


def failing_checks(session: Session, settings: Settings, *, at: datetime) -> list[str]:
    return [c.name for c in run_checks(session, settings, at=at).checks if c.status == FAIL]


def check_database(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.db import known_head_revision

    head = known_head_revision()
    found = session.connection().exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    if found != head:
        return CheckResult("database", FAIL, f"schema at {found}, package head is {head}",
                           "valhalla db upgrade")
    return CheckResult("database", OK, f"schema at head ({head}) on {session.bind.dialect.name}")


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


def check_golive(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import golive

    status = WARN if not settings.golive_enforce else FAIL
    view = golive.get_state(session, enforce=settings.golive_enforce)
    if view.kill_switch:
        change = view.last_change
        by = f" by {change.by}: {change.reason}" if change and change.by else ""
        return CheckResult("golive", status, f"kill switch engaged{by}",
                           "valhalla golive kill-switch release --reason ...")
    unsigned = [item.key for item in golive.list_checklist(session) if not item.signed]
    if unsigned:
        return CheckResult("golive", status, "unsigned checklist items: " + ", ".join(unsigned),
                           f"valhalla golive checklist sign {unsigned[0]}")
    if not settings.golive_enforce:
        return CheckResult("golive", WARN, "go-live enforcement is off (development only)",
                           "unset VALHALLA_GOLIVE_ENFORCE or set golive.enforce = true")
    state = "live" if view.live else "not live"
    return CheckResult("golive", OK, f"kill switch released, checklist signed ({state})")
