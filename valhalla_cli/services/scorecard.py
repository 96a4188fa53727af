"""The seed's first-month scorecard: eight figures, each read from its own pack.

The scorecard computes nothing itself: each metric is one function of the pack that owns the
figure (`METRICS`, like the runbook's `CHECKS`), given the period, returning its value and
whether it is met. A figure with no data (no completed contact, no offer decided...) has
`value` and `met` null and does not fail the scorecard.

Rates are numbers between 0 and 1 (the SLA's percentage is divided by 100); overages and
throttles are counts. The runbook gate is evaluated at `at` (it is a state, not a history);
every other figure covers the period, by default the 30 business dates ending today.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from valhalla_cli.services.refusals import Refusal

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings

PERIOD_DAYS = 30
# How long a sent offer is given to reach a contract: a contract rate whose cohort includes
# offers sent less than this long ago is `pending` when below target, not missed.
CONTRACT_WINDOW_DAYS = 30
TARGETS_MISSED = "targets_missed"


@dataclass(frozen=True)
class Period:
    since: date
    until: date
    lo: datetime  # UTC start of `since` in the business time zone
    hi: datetime  # UTC start of the day after `until`
    at: datetime
    business_timezone: str

    @property
    def args(self) -> str:
        return f"--since {self.since.isoformat()} --until {self.until.isoformat()}"


@dataclass(frozen=True)
class Metric:
    metric: str
    value: float | int | None
    target: str  # as the seed states it, e.g. "> 0.40"
    comparison: str  # >, >= or ==
    threshold: float | int
    met: bool | None  # None: no data in the period, or pending
    detail: str  # the command that shows the figure
    state: str = "no_data"  # met | missed | pending | no_data
    note: str | None = None  # why it is pending, in words


@dataclass(frozen=True)
class Scorecard:
    since: date
    until: date
    generated_at: datetime
    ok: bool  # every metric with data is met
    reason: str | None  # targets_missed
    missed: list[str]
    metrics: list[Metric]

    @property
    def refusal(self) -> Refusal | None:
        """Targets missed in the period."""
        if self.ok:
            return None
        return Refusal(self.reason or "targets_missed", f"{len(self.missed)} scorecard target(s) "
                       "missed: " + ", ".join(self.missed))


def judge(value: float | int | None, comparison: str, threshold: float | int) -> bool | None:
    if value is None:
        return None
    if comparison == ">":
        return value > threshold
    if comparison == ">=":
        return value >= threshold
    return value == threshold


def _metric(name: str, value: float | int | None, comparison: str, threshold: float | int,
            detail: str, *, met: bool | None = None) -> Metric:
    shown = f"{threshold:.2f}" if isinstance(threshold, float) else str(threshold)
    verdict = (judge(value, comparison, threshold) if met is None and value is not None
               else met)
    return Metric(metric=name, value=value, target=f"{comparison} {shown}",
                  comparison=comparison, threshold=threshold, met=verdict, detail=detail,
                  state="no_data" if verdict is None else "met" if verdict else "missed")


# --- one function per figure, each calling the pack that owns it ------------------------------

Context = dict[str, Any]


def runbook_gate(session: Session, settings: Settings, period: Period, ctx: Context) -> Metric:
    """The share of runbook checks that pass (warnings do not block, as for the gate)."""
    from valhalla_cli.services import runbook

    report = runbook.report_for(session, settings, at=period.at)
    passing = sum(1 for c in report.checks if c.status != runbook.FAIL)
    value = round(passing / len(report.checks), 4) if report.checks else None
    return _metric("runbook_gate", value, "==", 1.0, "valhalla runbook status",
                   met=report.ok_to_enable_go_live)


def window_compliance(session: Session, settings: Settings, period: Period, ctx: Context
                      ) -> Metric:
    from valhalla_cli.services import ladder_breaches

    found = ladder_breaches.report(session, at=period.at, since=period.since,
                                   until=period.until,
                                   business_timezone=period.business_timezone, limit=1)
    met = None if found.compliance is None else found.breaches == 0
    return _metric("contact_window_compliance", found.compliance, "==", 1.0,
                   f"valhalla ladder breaches {period.args}", met=met)


def ladder_sla(session: Session, settings: Settings, period: Period, ctx: Context) -> Metric:
    from valhalla_cli.errors import ConfigError
    from valhalla_cli.services import ladder

    detail = f"valhalla ladder sla {period.args}"
    try:
        config = ladder.ladder_config(settings.ladder)
    except ConfigError:  # the runbook's `followups` check reports it, with the fix
        return _metric("ladder_sla_within_2h", None, ">=", 0.9, detail)
    row = ladder.sla(session, at=period.at, since=period.since, until=period.until, by=None,
                     business_timezone=period.business_timezone, config=config)[0]
    value = None if row.within_2h_pct is None else round(row.within_2h_pct / 100, 4)
    return _metric("ladder_sla_within_2h", value, ">=", 0.9, detail)


def buyer_response(session: Session, settings: Settings, period: Period, ctx: Context
                   ) -> Metric:
    from valhalla_cli.services import liquidity

    figure = liquidity.period_response(session, since=period.since, until=period.until)
    return _metric("buyer_response_rate", figure.response_rate, ">", 0.6,
                   "valhalla liquidity nodes")


def _funnel(session: Session, period: Period, ctx: Context) -> Any:
    if "funnel" not in ctx:  # two metrics, one funnel
        from valhalla_cli.services import offer_outcome

        ctx["funnel"] = offer_outcome.funnel(session, at=period.at, since=period.since,
                                             until=period.until, by=None,
                                             business_timezone=period.business_timezone)[0]
    return ctx["funnel"]


def offer_accept(session: Session, settings: Settings, period: Period, ctx: Context) -> Metric:
    row = _funnel(session, period, ctx)
    return _metric("offer_accept_rate", row.accept_rate, ">", 0.4,
                   f"valhalla offer funnel {period.args}")


def offer_contract(session: Session, settings: Settings, period: Period, ctx: Context
                   ) -> Metric:
    from dataclasses import replace
    from datetime import timedelta

    row = _funnel(session, period, ctx)
    figure = _metric("offer_contract_rate", row.contract_rate, ">", 0.25,
                     f"valhalla offer funnel {period.args}")
    window = timedelta(days=CONTRACT_WINDOW_DAYS)
    if figure.met is False and period.hi > period.at - window:
        # Offers sent in the last days of the period have not had the window to contract yet.
        mature = (period.hi + window).astimezone(_zone(period.business_timezone)).date()
        figure = replace(figure, met=None, state="pending",
                         note=f"pending: offers sent up to {period.until} have had less than "
                         f"{CONTRACT_WINDOW_DAYS} days to reach a contract; judged from "
                         f"{mature}")
    return figure


def _zone(name: str) -> Any:
    from valhalla_cli.tz import zone

    return zone(name)


def cap_overages(session: Session, settings: Settings, period: Period, ctx: Context) -> Metric:
    from valhalla_cli.services import risk

    found = risk.overages(session, since=period.since, until=period.until)
    detail = (f"valhalla risk snapshot --day {found[0].day.isoformat()}" if found
              else "valhalla risk snapshot")
    return _metric("daily_cap_overages", len(found), "==", 0, detail)


def throttles(session: Session, settings: Settings, period: Period, ctx: Context) -> Metric:
    from valhalla_cli.services import regression

    found = regression.engagements(session, lo=period.lo, hi=period.hi)
    return _metric("regression_throttles", len(found), "==", 0, "valhalla regression state")


# The seed's order. A pack adds a figure with one line: its name and the function.
METRICS: tuple[tuple[str, Callable[..., Metric]], ...] = (
    ("runbook_gate", runbook_gate),
    ("contact_window_compliance", window_compliance),
    ("ladder_sla_within_2h", ladder_sla),
    ("buyer_response_rate", buyer_response),
    ("offer_accept_rate", offer_accept),
    ("offer_contract_rate", offer_contract),
    ("daily_cap_overages", cap_overages),
    ("regression_throttles", throttles),
)


def compute(session: Session, settings: Settings, *, at: datetime, since: date | None = None,
            until: date | None = None) -> Scorecard:
    """The eight figures for [since, until] (business dates, inclusive; default the 30 ending
    with the business date of `at`). The runbook run is shared with `valhalla status` when both
    are read in one transaction (`runbook.report_for`)."""
    from valhalla_cli.clock import business_period

    tz = settings.business_timezone
    since, until, lo, hi = business_period(at, since, until, tz, days=PERIOD_DAYS)
    period = Period(since, until, lo, hi, at, tz)
    ctx: Context = {}
    metrics = [figure(session, settings, period, ctx) for _, figure in METRICS]
    missed = [m.metric for m in metrics if m.met is False]
    return Scorecard(since=since, until=until, generated_at=at, ok=not missed,
                     reason=TARGETS_MISSED if missed else None, missed=missed, metrics=metrics)
