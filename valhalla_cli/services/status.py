"""`valhalla status`: the one-screen overview for the operator's Monday review.

Composed from the packs' own read functions, in one read transaction (one connection, one round
of queries, no per-row follow-ups): go-live, risk today per engine with headroom, the levers of
the regression tripwire, heimdall modes and promotion eligibility, the SLA of the last 7 business
days (in total and per day), KPI events per metric per day for 30 days, the open follow-up work
(held tasks included), the National DNCL copy's freshness per area code, the worklists (overdue,
stuck and held tasks, replies and offers waiting for a person: `services.worklists`, each
bounded), and the runbook verdict. Nothing is written. The review page (`--format html`,
`GET /`) renders this same result: every figure it shows is computed here, once.

"Today" is the business date of `at` in the business time zone; the SLA window is the 7 business
dates ending with it (both inclusive), as `ladder sla --since today-6 --until today`; the KPI
window is the 30 business dates ending with it, as `kpi summary --days 30`. The seed's scorecard
covers the 30 business dates ending today, as `valhalla scorecard`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from valhalla_cli.clock import business_date
from valhalla_cli.errors import ConfigError
from valhalla_cli.services import (
    dncl,
    golive,
    heimdall,
    inbox,
    kpi,
    ladder,
    regression,
    risk,
    runbook,
    scorecard,
    worklists,
)
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.sending import report as sending_report
from valhalla_cli.services.worklists import Worklists

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

SLA_DAYS = 7
KPI_DAYS = 30


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
    min_samples: int | None  # the promotion thresholds of its policy
    min_success_rate: float | None


@dataclass(frozen=True)
class RunbookSummary:
    ok_to_enable_go_live: bool
    failing: list[str]
    warnings: list[str]
    checks: list[runbook.CheckLine]


@dataclass(frozen=True)
class KpiWindow:
    since: date
    until: date
    days: int
    metrics: list[kpi.MetricSummary]  # metrics with at least one event in the window


@dataclass(frozen=True)
class DnclSummary:
    """The subscriber's copy of the National DNCL, as `valhalla dncl status`."""

    imported: bool  # False on a fresh install: calls go only to leads with an exemption
    fresh_days: int  # a list older than this (in days) is stale: its numbers are not checked
    fix: str  # the command that brings a missing or stale list up to date
    areas: list[dncl.AreaStatus]  # the rows of `valhalla dncl status`, by area code


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
    sla_daily: list[ladder.SlaDay] | None  # the same window, one business date at a time
    tasks: ladder.TaskCounts | None
    dncl: DnclSummary
    kpi: KpiWindow
    runbook: RunbookSummary
    scorecard: scorecard.Scorecard
    # texts sent through the provider: accepted, delivered and the rate today and over 7
    # days, messages awaiting a final state, and the alert for messages stuck in `sending`
    delivery: sending_report.DeliveryStatus
    # the work waiting for a person, each list bounded (the first rows and the total)
    worklists: Worklists
    # the inbox: open items, and open refusals with their legal deadlines
    inbox: inbox.InboxSummary

    @property
    def refusal(self) -> Refusal | None:
        """Not OK to enable go-live while a runbook check fails."""
        if self.ok:
            return None
        return Refusal(self.reason or "runbook_not_ok",
                       "not OK to enable go-live: failing checks: "
                       + ", ".join(self.runbook.failing) + " (see `valhalla runbook status`)")


def _golive(session: Session, enforce: bool) -> GoLiveSummary:
    view = golive.get_state(session, enforce=enforce)
    live = golive.live_status(session, enforce=enforce)
    return GoLiveSummary(enabled=view.enabled, kill_switch=view.kill_switch, live=view.live,
                         enforce=view.enforce, reason=live.reason, last_change=view.last_change)


def _heimdall(session: Session, *, at: datetime, business_timezone: str) -> list[DomainSummary]:
    policies = {p.domain: p for p in heimdall.list_policies(session)}
    rows = []
    for row in heimdall.scorecard(session, at=at, business_timezone=business_timezone):
        policy = policies.get(row.domain)
        rows.append(DomainSummary(
            domain=row.domain, mode=row.mode, enabled=policy.enabled if policy else False,
            samples=row.samples, success_rate=row.success_rate, wilson_lower=row.wilson_lower,
            eligible=row.eligible, min_samples=policy.min_samples if policy else None,
            min_success_rate=policy.min_success_rate if policy else None))
    return rows


def _runbook(session: Session, settings: Settings, at: datetime) -> RunbookSummary:
    report = runbook.report_for(session, settings, at=at)  # the scorecard's gate reads it too
    return RunbookSummary(
        ok_to_enable_go_live=report.ok_to_enable_go_live,
        failing=report.failing, warnings=report.warnings,
        checks=report.checks)


# The sections, one per pack: each computes the overview fields its pack fills.

def _risk(session: Session, settings: Settings, at: datetime) -> risk.Snapshot:
    return risk.snapshot(session, day=business_date(at, settings.business_timezone))


@dataclass(frozen=True)
class _Ladder:
    sla: ladder.SlaRow | None
    sla_daily: list[ladder.SlaDay] | None
    tasks: ladder.TaskCounts | None


def _ladder(session: Session, settings: Settings, at: datetime) -> _Ladder:
    """The SLA of the last 7 business days, in total and per day, and the open work (None with
    an invalid config)."""
    tz = settings.business_timezone
    today = business_date(at, tz)
    try:
        config = ladder.ladder_config(settings.ladder)
    except ConfigError:  # the runbook's `followups` check reports it
        return _Ladder(None, None, None)
    since = today - timedelta(days=SLA_DAYS - 1)
    sla = ladder.sla(session, at=at, since=since, until=today, by=None, business_timezone=tz,
                     config=config)[0]
    return _Ladder(sla=sla,
                   sla_daily=ladder.sla_by_day(session, since=since, until=today,
                                               business_timezone=tz, config=config),
                   tasks=ladder.task_counts(session, at=at, config=config))


def _dncl(session: Session, settings: Settings, at: datetime) -> DnclSummary:
    """DNCL freshness per area code: the rows `valhalla dncl status` prints, from the same
    service function."""
    areas = dncl.area_statuses(session, at=at, business_timezone=settings.business_timezone)
    return DnclSummary(imported=bool(areas), fresh_days=dncl.FRESH_DAYS, fix=dncl.IMPORT_FIX,
                       areas=areas)


def _kpi(session: Session, settings: Settings, at: datetime) -> KpiWindow:
    """KPI events per metric per business day over the 30 days ending today."""
    tz = settings.business_timezone
    today = business_date(at, tz)
    metrics = kpi.summary(session, at=at, days=KPI_DAYS, business_timezone=tz)
    return KpiWindow(since=today - timedelta(days=KPI_DAYS - 1), until=today, days=KPI_DAYS,
                     metrics=metrics)


def overview(session: Session, settings: Settings, at: datetime) -> StatusOverview:
    """Everything the Monday review looks at, evaluated at `at` (read-only): the control plane
    first, then the operations packs, as the review reads them."""
    tz = settings.business_timezone
    golive_summary = _golive(session, settings.golive_enforce)
    risk_today = _risk(session, settings, at)
    levers = regression.state(session)
    domains = _heimdall(session, at=at, business_timezone=tz)
    kpi_window = _kpi(session, settings, at)
    dncl_summary = _dncl(session, settings, at)
    followups = _ladder(session, settings, at)
    delivery = sending_report.delivery_status(session, at=at, business_timezone=tz)
    inbox_summary = inbox.status_summary(session, at=at)
    card = scorecard.compute(session, settings, at=at)  # the seed's scorecard, 30 days
    book = _runbook(session, settings, at)
    try:
        sla_minutes: int | None = ladder.ladder_config(settings.ladder).sla_minutes
    except ConfigError:  # the runbook's `followups` check reports it
        sla_minutes = None
    return StatusOverview(
        generated_at=at, business_date=business_date(at, tz), business_timezone=tz,
        ok=book.ok_to_enable_go_live,
        reason=None if book.ok_to_enable_go_live else "runbook_not_ok",
        golive=golive_summary, risk=risk_today,
        throttled_levers=[s.lever for s in levers if s.throttled], levers=levers,
        heimdall=domains, sla=followups.sla, sla_daily=followups.sla_daily,
        tasks=followups.tasks, dncl=dncl_summary, kpi=kpi_window, runbook=book,
        scorecard=card, delivery=delivery,
        worklists=worklists.all_lists(session, at=at, sla_minutes=sla_minutes),
        inbox=inbox_summary,
    )
