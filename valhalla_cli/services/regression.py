"""The regression tripwire: throttle a lever when a KPI drops significantly.

For each enabled policy, `evaluate` reads the metric's latest `recent_window` events up to `at`
and the `baseline_window` events just before them, in ONE indexed query (`kpi_event (metric,
occurred_at, id)`, newest first, LIMIT recent + baseline (+1 for `rate`)), so its cost grows with
the windows and not with the table. The rule itself is `stats.window_figures`.

A throttle is written into the foundation's `regression_state` (read by
`levers.throttled_lever`) by one conditional update, and stays until a human releases it.
After a release, a metric can throttle the lever again only with a recent window made wholly of
events after the release (the old, already-acknowledged drop does not re-throttle at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, insert_if_missing, upsert_insert
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_reason
from valhalla_cli.models import KpiEvent, RegressionPolicy, RegressionState
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.kpi import check_metric
from valhalla_cli.services.levers import FOLLOWUPS, OFFERS, known_levers
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.stats import INSUFFICIENT, RATE, STATISTICS, window_figures

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult
    from valhalla_cli.settings import Settings

PACK = Pack.REGRESSION
OK, THROTTLED, STILL_THROTTLED = "ok", "throttled", "still_throttled"

DEFAULT_RECENT, DEFAULT_BASELINE = 50, 200
DEFAULT_MAX_DROP_PCT, DEFAULT_CONFIDENCE = 20.0, 0.99
MAX_WINDOW = 10_000


def seeded_policies() -> dict[str, tuple[str, str]]:
    """The metrics the tripwire watches from the start: metric -> (statistic, lever). Each name is
    the constant of the pack that emits it, so a misspelt metric fails here instead of watching a
    metric nobody emits (read when needed: naming them loads those packs)."""
    from valhalla_cli.services.ladder.config import KPI_FOLLOWUP_COMPLETED, KPI_LADDER_CREATED
    from valhalla_cli.services.liquidity.rules import KPI_BUYER_FEEDBACK
    from valhalla_cli.services.offer.mao import KPI_OFFER_GENERATED
    from valhalla_cli.services.sending.ledger import KPI_SMS_DELIVERED

    return {
        KPI_LADDER_CREATED: ("rate", FOLLOWUPS),
        KPI_FOLLOWUP_COMPLETED: ("mean", FOLLOWUPS),
        KPI_BUYER_FEEDBACK: ("mean", OFFERS),
        KPI_OFFER_GENERATED: ("rate", OFFERS),
        # a collapse of delivery (carriers filtering the texts) throttles the ladder by itself
        KPI_SMS_DELIVERED: ("mean", FOLLOWUPS),
    }


# --- validation -------------------------------------------------------------------------------

def _lever(lever: str) -> str:
    name = (lever or "").strip().lower()
    if name not in known_levers():
        raise BadInput(f"unknown lever {lever!r}: use one of {', '.join(known_levers())}")
    return name


def _statistic(statistic: str) -> str:
    name = (statistic or "").strip().lower()
    if name not in STATISTICS:
        raise BadInput(f"--statistic must be one of {', '.join(STATISTICS)}, not {statistic!r}")
    return name


def _window(value: int, option: str) -> int:
    if not 2 <= value <= MAX_WINDOW:
        raise BadInput(f"{option} must be between 2 and {MAX_WINDOW} events, not {value}")
    return int(value)


def _max_drop(value: float) -> float:
    if not math.isfinite(value) or not 0.0 < value <= 100.0:
        raise BadInput(f"--max-drop-pct must be above 0 and at most 100, not {value!r}")
    return float(value)


def _confidence(value: float) -> float:
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise BadInput(f"--confidence must be 0 (test off) or between 0 and 1 (exclusive), "
                       f"not {value!r}")
    return float(value)


def policy_problems(p: RegressionPolicy) -> list[str]:
    """What is wrong with a stored policy (empty when fine); the runbook reports these."""
    checks = [
        (lambda: _lever(p.lever), "lever"),
        (lambda: _statistic(p.statistic), "statistic"),
        (lambda: _window(p.recent_window, "recent_window"), "recent_window"),
        (lambda: _window(p.baseline_window, "baseline_window"), "baseline_window"),
        (lambda: _max_drop(p.max_drop_pct), "max_drop_pct"),
        (lambda: _confidence(p.confidence), "confidence"),
    ]
    problems = []
    for check, name in checks:
        try:
            check()
        except (BadInput, TypeError):
            problems.append(f"{name} {getattr(p, name)!r}")
    return problems


# --- policies ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyView:
    metric: str
    lever: str
    statistic: str
    recent_window: int
    baseline_window: int
    max_drop_pct: float
    confidence: float
    enabled: bool
    updated_at: datetime | None
    updated_by: str | None


def _view(p: RegressionPolicy) -> PolicyView:
    return view_of(PolicyView, p)


def _as_dict(p: RegressionPolicy) -> dict[str, Any]:
    return {"lever": p.lever, "statistic": p.statistic, "recent_window": p.recent_window,
            "baseline_window": p.baseline_window, "max_drop_pct": p.max_drop_pct,
            "confidence": p.confidence, "enabled": p.enabled}


def list_policies(session: Session) -> list[PolicyView]:
    return [_view(p) for p in
            session.scalars(select(RegressionPolicy).order_by(col(RegressionPolicy.metric)))]


@dataclass(frozen=True)
class PolicyChange:
    metric: str
    created: bool
    changed: bool
    before: dict[str, Any] | None
    policy: PolicyView


def set_policy(
    session: Session, *, metric: str, actor: str, at: datetime, lever: str | None = None,
    statistic: str | None = None, recent_window: int | None = None,
    baseline_window: int | None = None, max_drop_pct: float | None = None,
    confidence: float | None = None, enabled: bool | None = None, reason: str | None = None,
) -> PolicyChange:
    """Change a metric's policy, or create it (a seeded metric gets its seeded lever and
    statistic by default; any other metric needs --lever and --statistic). Audited."""
    name = check_metric((metric or "").strip())
    reason = parse_reason(reason)
    values: dict[str, Any] = {}
    if lever is not None:
        values["lever"] = _lever(lever)
    if statistic is not None:
        values["statistic"] = _statistic(statistic)
    if recent_window is not None:
        values["recent_window"] = _window(recent_window, "--recent")
    if baseline_window is not None:
        values["baseline_window"] = _window(baseline_window, "--baseline")
    if max_drop_pct is not None:
        values["max_drop_pct"] = _max_drop(max_drop_pct)
    if confidence is not None:
        values["confidence"] = _confidence(confidence)
    if enabled is not None:
        values["enabled"] = enabled
    policy = session.get(RegressionPolicy, name, with_for_update=True)
    created = False
    if policy is None:
        seeded = seeded_policies().get(name)
        stat = values.get("statistic", seeded[0] if seeded else None)
        lev = values.get("lever", seeded[1] if seeded else None)
        if stat is None or lev is None:
            raise BadInput(f"no regression policy for {name!r}: a new metric needs --lever and "
                           "--statistic")
        # Two operators creating the same metric's policy at once: the second waits for the
        # first's row and changes it, as if it had come second.
        created = insert_if_missing(session, table_of(RegressionPolicy), {
            "metric": name, "lever": lev, "statistic": stat, "recent_window": DEFAULT_RECENT,
            "baseline_window": DEFAULT_BASELINE, "max_drop_pct": DEFAULT_MAX_DROP_PCT,
            "confidence": DEFAULT_CONFIDENCE, "enabled": True})
        policy = session.get(RegressionPolicy, name, with_for_update=True,
                             populate_existing=True)
        assert policy is not None  # inserted above, or by the caller that came first
    before = None if created else _as_dict(policy)
    changed = audit.apply_policy_change(
        session, policy, values, created=created, before=before, snapshot=_as_dict,
        pack=PACK, subject=name, actor=actor, at=at, reason=reason)
    return PolicyChange(metric=name, created=created, changed=changed, before=before,
                        policy=_view(policy))


# --- lever state ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeverState:
    lever: str
    throttled: bool
    since: datetime | None
    metric: str | None
    statistic: str | None
    baseline: float | None
    recent: float | None
    drop_pct: float | None
    z: float | None
    reason: str | None
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None


def _lever_state(lever: str, row: RegressionState | None) -> LeverState:
    if row is None:
        return LeverState(lever, False, *([None] * 11))
    return LeverState(lever=lever, throttled=row.throttled, since=row.since, metric=row.metric,
                      statistic=row.statistic, baseline=row.baseline, recent=row.recent,
                      drop_pct=row.drop_pct, z=row.z, reason=row.reason,
                      released_at=row.released_at, released_by=row.released_by,
                      release_reason=row.release_reason)


def state(session: Session) -> list[LeverState]:
    """Every lever, throttled or not (a lever with no row has never been throttled)."""
    rows = {r.lever: r for r in session.scalars(select(RegressionState))}
    return [_lever_state(lever, rows.get(lever)) for lever in known_levers()]


def _ensure_row(session: Session, lever: str) -> None:
    """Create the lever's row if missing, without racing another process (ON CONFLICT)."""
    insert = upsert_insert(session)
    session.execute(insert(table_of(RegressionState)).values(lever=lever, throttled=False)
                    .on_conflict_do_nothing(index_elements=["lever"]))


@dataclass(frozen=True)
class ReleaseResult:
    lever: str
    changed: bool
    state: LeverState


def release(session: Session, *, lever: str, reason: str | None, actor: str,
            at: datetime) -> ReleaseResult:
    """Clear a throttle (one conditional write); releasing a free lever changes nothing."""
    name = _lever(lever)
    why = parse_reason(reason, required=True)
    before = session.get(RegressionState, name)
    before_view = _lever_state(name, before)
    done = affected_rows(session.execute(
        update(RegressionState)
        .where(col(RegressionState.lever) == name, col(RegressionState.throttled).is_(True))
        .values(throttled=False, released_at=at, released_by=actor, release_reason=why)
        .execution_options(synchronize_session=False)
    ))
    if done == 1:
        audit.record(session, pack=PACK, action="release", actor=actor, at=at, subject=name,
                     before={"throttled": True, "since": before_view.since,
                             "metric": before_view.metric, "drop_pct": before_view.drop_pct},
                     after={"throttled": False}, reason=why)
    session.expire_all()
    return ReleaseResult(lever=name, changed=done == 1,
                         state=_lever_state(name, session.get(RegressionState, name)))


# --- evaluate ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    metric: str
    lever: str
    statistic: str
    baseline: float | None
    recent: float | None
    drop_pct: float | None
    z: float | None
    status: str  # ok | insufficient_data | throttled | still_throttled
    tripped: bool  # the figures cross the rule (drop and significance)
    note: str | None = None


@dataclass(frozen=True)
class EvaluationRun:
    at: datetime
    dry_run: bool
    results: list[Evaluation]
    throttled_levers: list[str]

    @property
    def refusal(self) -> Refusal | None:
        """Throttled levers are a "no" (and those a dry run would leave), with the way out."""
        if not self.throttled_levers:
            return None
        prefix = "dry run: would leave" if self.dry_run else "throttled"
        return Refusal("levers_throttled",
                       f"{prefix} lever(s) {', '.join(self.throttled_levers)}; see `valhalla "
                       "regression state`, release with `valhalla regression release LEVER "
                       "--reason ...`")


def fetch_window(session: Session, *, metric: str, at: datetime,
                 limit: int) -> list[tuple[datetime, float]]:
    """The metric's latest `limit` events up to `at`, oldest first: one indexed query."""
    rows = list(session.execute(
        select(col(KpiEvent.occurred_at), col(KpiEvent.value))
        .where(col(KpiEvent.metric) == metric, col(KpiEvent.occurred_at) <= at)
        .order_by(col(KpiEvent.occurred_at).desc(), col(KpiEvent.id).desc())
        .limit(limit)
    ).all())
    rows.reverse()
    return [(r[0], r[1]) for r in rows]


def _round(value: float | None, places: int = 6) -> float | None:
    return None if value is None else round(value, places)


def evaluate(session: Session, *, at: datetime, actor: str, dry_run: bool = False
             ) -> EvaluationRun:
    """Evaluate every enabled policy; throttle levers whose metric dropped significantly."""
    policies = list(session.scalars(select(RegressionPolicy)
                                    .where(col(RegressionPolicy.enabled).is_(True))
                                    .order_by(col(RegressionPolicy.metric))))
    rows = {r.lever: r for r in session.scalars(select(RegressionState))}
    was_throttled = {lever for lever, r in rows.items() if r.throttled}
    throttled_now = set(was_throttled)
    results = []
    for p in policies:
        needed = p.recent_window + p.baseline_window
        # For `rate` fetch one extra predecessor so the first baseline event has a gap too.
        limit = needed + 1 if p.statistic == RATE else needed
        events = fetch_window(session, metric=p.metric, at=at, limit=limit)
        fig = window_figures(events, statistic=p.statistic, recent_window=p.recent_window,
                             baseline_window=p.baseline_window, max_drop_pct=p.max_drop_pct,
                             confidence=p.confidence,
                             has_predecessor=p.statistic == RATE and len(events) == limit)
        note = None
        if fig.status == INSUFFICIENT:
            status = INSUFFICIENT
            note = f"fewer than {needed} events up to --at"
        elif p.lever in was_throttled:
            status = STILL_THROTTLED
        elif fig.tripped:
            row = rows.get(p.lever)
            released_at = row.released_at if row is not None else None
            if released_at is not None and fig.recent_from is not None \
                    and fig.recent_from <= released_at:
                status = OK
                note = (f"released at {released_at.isoformat()}: waiting for a recent window "
                        "made wholly of events after the release")
            else:
                status = THROTTLED
                if p.lever not in throttled_now:
                    if not dry_run:
                        _throttle(session, policy=p, fig=fig, actor=actor, at=at)
                    throttled_now.add(p.lever)
        else:
            status = OK
        results.append(Evaluation(metric=p.metric, lever=p.lever, statistic=p.statistic,
                                  baseline=_round(fig.baseline), recent=_round(fig.recent),
                                  drop_pct=_round(fig.drop_pct, 2), z=_round(fig.z, 4),
                                  status=status, tripped=fig.tripped, note=note))
    return EvaluationRun(at=at, dry_run=dry_run, results=results,
                         throttled_levers=sorted(throttled_now))


def _throttle(session: Session, *, policy: RegressionPolicy, fig: Any, actor: str,
              at: datetime) -> None:
    _ensure_row(session, policy.lever)
    unit = "events/h" if policy.statistic == RATE else "mean"
    z_text = "z n/a (every value moved)" if fig.z is None else f"z {fig.z:.2f}"
    reason = (f"{policy.metric} {policy.statistic} fell {fig.drop_pct:.1f}% "
              f"({fig.baseline:.4g} -> {fig.recent:.4g} {unit}, {z_text}; "
              f"limit {policy.max_drop_pct:g}% at confidence {policy.confidence:g})")
    values = dict(throttled=True, since=at, metric=policy.metric, statistic=policy.statistic,
                  baseline=fig.baseline, recent=fig.recent, drop_pct=fig.drop_pct, z=fig.z,
                  reason=reason, released_at=None, released_by=None, release_reason=None)
    done = affected_rows(session.execute(
        update(RegressionState)
        .where(col(RegressionState.lever) == policy.lever,
               col(RegressionState.throttled).is_(False))
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    if done == 1:  # another evaluate may have throttled it first: then it owns the audit entry
        audit.record(session, pack=PACK, action="throttle", actor=actor, at=at,
                     subject=policy.lever, before={"throttled": False},
                     after={k: v for k, v in values.items() if not k.startswith("release")},
                     reason=reason)


# --- runbook ----------------------------------------------------------------------------------

def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails when a seeded metric has no policy, a policy is malformed, or a lever is throttled;
    warns when a seeded policy is disabled."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    policies = {p.metric: p for p in session.scalars(select(RegressionPolicy))}
    seeded = seeded_policies()
    missing = [m for m in seeded if m not in policies]
    if missing:
        return CheckResult(FAIL, "seeded metrics without a policy: "
                           + ", ".join(missing), f"valhalla regression policy-set {missing[0]}")
    broken = {m: policy_problems(p) for m, p in sorted(policies.items())}
    broken = {m: probs for m, probs in broken.items() if probs}
    if broken:
        return CheckResult(FAIL, "; ".join(f"{m}: {', '.join(p)}"
                                                         for m, p in broken.items()),
                           f"valhalla regression policy-set {next(iter(broken))} ...")
    throttled = [s for s in state(session) if s.throttled]
    if throttled:
        return CheckResult(FAIL, "; ".join(
            f"lever {s.lever} throttled since {s.since.isoformat() if s.since else '?'}: "
            f"{s.reason}" for s in throttled),
            f"valhalla regression release {throttled[0].lever} --reason ...")
    disabled = [m for m in seeded if not policies[m].enabled]
    if disabled:
        return CheckResult(WARN, "seeded policies disabled: " + ", ".join(disabled),
                           f"valhalla regression policy-set {disabled[0]} --enable")
    from valhalla_cli.wording import plural

    return CheckResult(OK, f"{plural(len(policies), 'policy')}, no lever throttled")


# --- the scorecard's figure --------------------------------------------------------------------

@dataclass(frozen=True)
class Engagement:
    lever: str
    since: datetime  # when the throttle engaged (before the period when it was carried in)
    carried_in: bool  # engaged before the period and still engaged when it began


def engagements(session: Session, *, lo: datetime, hi: datetime) -> list[Engagement]:
    """Throttles engaged at any moment of [lo, hi): those engaged inside it, and those engaged
    before it and not yet released when it began (read from the audit log, which records every
    throttle and release)."""
    from valhalla_cli.models import AuditEvent

    a = AuditEvent
    found: list[Engagement] = []
    last_before = session.execute(
        select(col(a.subject), col(a.action), func.max(col(a.at)))
        .where(col(a.pack) == PACK.value, col(a.action).in_(("throttle", "release")),
               col(a.at) < lo)
        .group_by(col(a.subject), col(a.action))).all()
    latest: dict[str, dict[str, datetime]] = {}
    for lever, action, at in last_before:
        latest.setdefault(lever or "", {})[action] = at
    for lever, moments in sorted(latest.items()):
        engaged, released = moments.get("throttle"), moments.get("release")
        if engaged is not None and (released is None or released < engaged):
            found.append(Engagement(lever, engaged, True))
    for lever, at in session.execute(
            select(col(a.subject), col(a.at))
            .where(col(a.pack) == PACK.value, col(a.action) == "throttle", col(a.at) >= lo,
                   col(a.at) < hi)
            .order_by(col(a.at), col(a.id))):
        found.append(Engagement(lever or "", at, False))
    return found
