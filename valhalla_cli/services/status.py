"""`valhalla status`: the one-screen overview for the operator's Monday review (SPEC section 14).

Composed from the packs' own read functions, in one read transaction (one connection, one round
of queries, no per-row follow-ups): go-live, risk today per engine with headroom, the levers of
the regression tripwire, heimdall modes and promotion eligibility, the SLA of the last 7 business
days, the open follow-up work, and the runbook verdict. Nothing is written.

"Today" is the business date of `at` in the business time zone; the SLA window is the 7 business
dates ending with it (both inclusive), as `ladder sla --since today-6 --until today`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from valhalla_cli.clock import business_date
from valhalla_cli.errors import ConfigError
from valhalla_cli.services import golive, heimdall, ladder, regression, risk, runbook

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

SLA_DAYS = 7


@dataclass(frozen=True)
class GoLiveSummary:
    enabled: bool
    kill_switch: bool
    live: bool
    enforce: bool
    reason: str | None  # kill_switch_engaged | golive_disabled | None (live)
    last_change: golive.LastChange | None


@dataclass(frozen=True)
class DomainSummary:
    domain: str
    mode: str
    enabled: bool
    samples: int  # sandbox outcomes the promotion gate counts
    success_rate: float | None
    wilson_lower: float
    eligible: bool  # `heimdall promote` would move it to production now


@dataclass(frozen=True)
class RunbookSummary:
    ok_to_enable_go_live: bool
    failing: list[str]
    warnings: list[str]
    checks: list[runbook.CheckResult]


@dataclass(frozen=True)
class StatusOverview:
    generated_at: datetime
    business_date: date
    business_timezone: str
    ok: bool  # the runbook's verdict: OK to enable go-live
    reason: str | None  # runbook_not_ok when not ok
    golive: GoLiveSummary
    risk: risk.Snapshot
    throttled_levers: list[str]
    levers: list[regression.LeverState]
    heimdall: list[DomainSummary]
    sla: ladder.SlaRow | None  # None when the [ladder] configuration is invalid (see runbook)
    tasks: ladder.TaskCounts | None
    runbook: RunbookSummary


def _golive(session: Session, enforce: bool) -> GoLiveSummary:
    view = golive.get_state(session, enforce=enforce)
    live = golive.live_status(session, enforce=enforce)
    return GoLiveSummary(enabled=view.enabled, kill_switch=view.kill_switch, live=view.live,
                         enforce=view.enforce, reason=live.reason, last_change=view.last_change)


def _heimdall(session: Session, *, at: datetime, business_timezone: str) -> list[DomainSummary]:
    enabled = {p.domain: p.enabled for p in heimdall.list_policies(session)}
    return [DomainSummary(domain=row.domain, mode=row.mode, enabled=enabled.get(row.domain, False),
                          samples=row.samples, success_rate=row.success_rate,
                          wilson_lower=row.wilson_lower, eligible=row.eligible)
            for row in heimdall.scorecard(session, at=at, business_timezone=business_timezone)]


def _runbook(session: Session, settings: Settings, at: datetime) -> RunbookSummary:
    report = runbook.run_checks(session, settings, at=at)
    return RunbookSummary(
        ok_to_enable_go_live=report.ok_to_enable_go_live,
        failing=report.failing, warnings=report.warnings,
        checks=report.checks)


# The sections, one per pack (`valhalla_cli.registry` names them): each returns the overview
# fields its pack fills.

def golive_section(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    return {"golive": _golive(session, settings.golive_enforce)}


def risk_section(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    return {"risk": risk.snapshot(session, day=business_date(at, settings.business_timezone))}


def levers_section(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    levers = regression.state(session)
    return {"throttled_levers": [s.lever for s in levers if s.throttled], "levers": levers}


def heimdall_section(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    return {"heimdall": _heimdall(session, at=at, business_timezone=settings.business_timezone)}


def ladder_section(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    """The SLA of the last 7 business days and the open work (None with an invalid config)."""
    today = business_date(at, settings.business_timezone)
    try:
        config = ladder.ladder_config(settings.ladder)
    except ConfigError:
        return {"sla": None, "tasks": None}  # the runbook's `followups` check reports it
    sla = ladder.sla(session, at=at, since=today - timedelta(days=SLA_DAYS - 1), until=today,
                     by=None, business_timezone=settings.business_timezone, config=config)[0]
    return {"sla": sla, "tasks": ladder.task_counts(session, at=at, config=config)}


def overview(session: Session, settings: Settings, at: datetime) -> StatusOverview:
    """Everything the Monday review looks at, evaluated at `at` (read-only)."""
    from valhalla_cli import registry

    sections: dict[str, Any] = {}
    for section in registry.status_sections():
        sections.update(section(session, settings, at))
    book = _runbook(session, settings, at)
    return StatusOverview(
        generated_at=at, business_date=business_date(at, settings.business_timezone),
        business_timezone=settings.business_timezone,
        ok=book.ok_to_enable_go_live,
        reason=None if book.ok_to_enable_go_live else "runbook_not_ok",
        runbook=book, **sections,
    )
