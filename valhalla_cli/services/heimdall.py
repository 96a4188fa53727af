"""Heimdall: confidence gates for AI recommendations (SPEC section 10).

A recommendation is recorded with the gate's decision: `reject` below the domain's
`min_confidence` (or when the domain is disabled), `act` only for a production domain while
go-live is live, `shadow` otherwise (logged and scored, not acted on). A domain moves from sandbox
to production only when its sandbox track record is good enough: at least `min_samples` outcomes
and a one-sided 95 % Wilson lower bound at or above `min_success_rate`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, upsert_insert
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_text
from valhalla_cli.models import HeimdallPolicy, HeimdallRecommendation, HeimdallScorecard
from valhalla_cli.models.types import pk, table_of
from valhalla_cli.services import audit
from valhalla_cli.services.stats import wilson_lower_bound

if TYPE_CHECKING:
    from valhalla_cli.services.runbook import CheckResult
    from valhalla_cli.settings import Settings

PACK = "heimdall"
SANDBOX, PRODUCTION = "sandbox", "production"
REJECT, SHADOW, ACT = "reject", "shadow", "act"
SUCCESS, FAILURE = "success", "failure"

SEEDED_DOMAINS = ("lead_scoring", "offer_pricing", "buyer_matching", "followup_timing")
DEFAULT_MIN_CONFIDENCE = 0.80
DEFAULT_MIN_SAMPLES = 30
DEFAULT_MIN_SUCCESS_RATE = 0.70
MAX_MIN_SAMPLES = 1_000_000

_DOMAIN = re.compile(r"^[a-z][a-z0-9_]{0,79}$")


# --- validation -------------------------------------------------------------------------------

def _domain_name(domain: str) -> str:
    name = (domain or "").strip().lower()
    if not _DOMAIN.match(name):
        raise BadInput(f"domain {domain!r} must be snake_case (a-z, 0-9, _), e.g. lead_scoring")
    return name


def _unit(value: float, option: str) -> float:
    if value is None or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise BadInput(f"{option} must be a number between 0 and 1, not {value!r}")
    return float(value)


def _min_samples(value: int) -> int:
    if not 1 <= value <= MAX_MIN_SAMPLES:
        raise BadInput(f"--min-samples must be between 1 and {MAX_MIN_SAMPLES}, not {value}")
    return int(value)


def _require_reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise BadInput("--reason must not be empty")
    return reason.strip()


def parse_payload(text: str | None) -> Any:
    """The --payload option: any JSON value (None when absent)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--payload is not valid JSON ({exc.msg} at character {exc.pos})") from None


def threshold_problems(policy: HeimdallPolicy) -> list[str]:
    """Why a policy row cannot be trusted (empty when it is fine). Used by the runbook."""
    problems = []
    if policy.mode not in (SANDBOX, PRODUCTION):
        problems.append(f"mode {policy.mode!r}")

    def bad_unit(v: Any) -> bool:
        return v is None or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or not 0.0 <= v <= 1.0

    if bad_unit(policy.min_confidence):
        problems.append(f"min_confidence {policy.min_confidence!r} outside 0-1")
    if bad_unit(policy.min_success_rate):
        problems.append(f"min_success_rate {policy.min_success_rate!r} outside 0-1")
    if policy.min_samples is None or not 1 <= policy.min_samples <= MAX_MIN_SAMPLES:
        problems.append(f"min_samples {policy.min_samples!r} outside 1-{MAX_MIN_SAMPLES}")
    return problems


# --- policies ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyView:
    domain: str
    mode: str
    enabled: bool
    min_confidence: float
    min_samples: int
    min_success_rate: float
    updated_at: datetime | None
    updated_by: str | None


def _policy_view(p: HeimdallPolicy) -> PolicyView:
    return PolicyView(domain=p.domain, mode=p.mode, enabled=p.enabled,
                      min_confidence=p.min_confidence, min_samples=p.min_samples,
                      min_success_rate=p.min_success_rate, updated_at=p.updated_at,
                      updated_by=p.updated_by)


def _policy_dict(p: HeimdallPolicy) -> dict[str, Any]:
    return {"mode": p.mode, "enabled": p.enabled, "min_confidence": p.min_confidence,
            "min_samples": p.min_samples, "min_success_rate": p.min_success_rate}


def _get_policy(session: Session, domain: str, *, for_update: bool = False) -> HeimdallPolicy:
    name = _domain_name(domain)
    policy = session.get(HeimdallPolicy, name, with_for_update=for_update or None)
    if policy is None:
        raise NotFound(f"no heimdall policy for domain {name!r} "
                       "(see `valhalla heimdall policies`)")
    return policy


def list_policies(session: Session) -> list[PolicyView]:
    rows = session.scalars(select(HeimdallPolicy).order_by(col(HeimdallPolicy.domain)))
    return [_policy_view(p) for p in rows]


@dataclass(frozen=True)
class PolicyChange:
    domain: str
    created: bool
    changed: bool
    before: dict[str, Any] | None
    policy: PolicyView


def set_policy(
    session: Session, *, domain: str, actor: str, at: datetime,
    min_confidence: float | None = None, min_samples: int | None = None,
    min_success_rate: float | None = None, enabled: bool | None = None,
    reason: str | None = None,
) -> PolicyChange:
    """Change a domain's thresholds; a domain with no policy is created in sandbox with the
    seeded defaults (so a deleted seeded domain can be restored), audited either way."""
    name = _domain_name(domain)
    if min_confidence is not None:
        min_confidence = _unit(min_confidence, "--min-confidence")
    if min_success_rate is not None:
        min_success_rate = _unit(min_success_rate, "--min-success-rate")
    if min_samples is not None:
        min_samples = _min_samples(min_samples)
    policy = session.get(HeimdallPolicy, name, with_for_update=True)
    created = policy is None
    if policy is None:
        policy = HeimdallPolicy(domain=name, mode=SANDBOX, min_confidence=DEFAULT_MIN_CONFIDENCE,
                                min_samples=DEFAULT_MIN_SAMPLES,
                                min_success_rate=DEFAULT_MIN_SUCCESS_RATE, enabled=True)
        session.add(policy)
        before = None
    else:
        before = _policy_dict(policy)
    values = {field: value for field, value in (
        ("min_confidence", min_confidence), ("min_samples", min_samples),
        ("min_success_rate", min_success_rate), ("enabled", enabled)) if value is not None}
    changed = audit.apply_policy_change(
        session, policy, values, created=created, before=before, snapshot=_policy_dict,
        pack=PACK, subject=name, actor=actor, at=at, reason=reason)
    return PolicyChange(domain=name, created=created, changed=changed, before=before,
                        policy=_policy_view(policy))


# --- record -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordResult:
    recommendation_id: int
    domain: str
    subject: str
    confidence: float
    min_confidence: float
    mode: str
    decision: str
    reason: str | None  # below_min_confidence | domain_disabled | sandbox_mode | golive_... | None
    recorded_at: datetime
    message: str | None  # the human sentence for a "no"
    warning: str | None = None


def record(
    session: Session, *, domain: str, confidence: float, subject: str, payload: Any = None,
    actor: str, at: datetime, enforce: bool,
) -> RecordResult:
    """Store a recommendation and decide: reject, shadow or act (SPEC section 10)."""
    from valhalla_cli.services.golive import live_status

    confidence = _unit(confidence, "--confidence")
    subject = parse_text(subject, field="--subject", required=True) or ""
    policy = _get_policy(session, domain)
    warning = None
    if not policy.enabled:
        decision, reason = REJECT, "domain_disabled"
        message = f"domain {policy.domain} is disabled: the recommendation is rejected"
    elif confidence < policy.min_confidence:
        decision, reason = REJECT, "below_min_confidence"
        message = (f"confidence {confidence:g} is below {policy.domain}'s min_confidence "
                   f"{policy.min_confidence:g}: rejected")
    elif policy.mode != PRODUCTION:
        decision, reason = SHADOW, "sandbox_mode"
        message = (f"{policy.domain} is in sandbox: shadow only (logged and scored, "
                   "not acted on)")
    else:
        live = live_status(session, enforce=enforce)
        warning = live.warning
        if live.live:
            decision, reason, message = ACT, None, None
        else:
            decision, reason = SHADOW, live.reason
            message = f"not live: {live.message}; shadow only"
    row = HeimdallRecommendation(
        domain=policy.domain, subject=subject, confidence=confidence, payload=payload,
        mode=policy.mode, decision=decision, reason=reason, recorded_at=at, recorded_by=actor,
    )
    session.add(row)
    session.flush()
    return RecordResult(recommendation_id=pk(row.id), domain=policy.domain, subject=subject,
                        confidence=confidence, min_confidence=policy.min_confidence,
                        mode=policy.mode, decision=decision, reason=reason, recorded_at=at,
                        message=message, warning=warning)


# --- outcome ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecommendationView:
    recommendation_id: int
    domain: str
    subject: str
    confidence: float
    mode: str
    decision: str
    recorded_at: datetime
    outcome: str | None
    outcome_at: datetime | None
    outcome_by: str | None


def _rec_view(r: HeimdallRecommendation) -> RecommendationView:
    return RecommendationView(recommendation_id=pk(r.id), domain=r.domain, subject=r.subject,
                              confidence=r.confidence, mode=r.mode, decision=r.decision,
                              recorded_at=r.recorded_at, outcome=r.outcome,
                              outcome_at=r.outcome_at, outcome_by=r.outcome_by)


@dataclass(frozen=True)
class OutcomeResult:
    recommendation: RecommendationView
    changed: bool
    refused: bool
    reason: str | None  # outcome_already_recorded when a different outcome was recorded before


def record_outcome(
    session: Session, *, recommendation_id: int, success: bool, actor: str, at: datetime,
    business_timezone: str,
) -> OutcomeResult:
    """Record what happened, once: one conditional write (`outcome IS NULL`), so two operators
    racing cannot both record. Repeating the same outcome is a no-op; a different one is a "no".
    """
    from valhalla_cli.clock import business_date

    outcome = SUCCESS if success else FAILURE
    row = session.get(HeimdallRecommendation, recommendation_id)
    if row is None:
        raise NotFound(f"no recommendation {recommendation_id}")
    if at < row.recorded_at:
        raise BadInput(f"--at {at.isoformat()} is before the recommendation was recorded "
                       f"({row.recorded_at.isoformat()})")
    done = affected_rows(session.execute(
        update(HeimdallRecommendation)
        .where(col(HeimdallRecommendation.id) == recommendation_id,
               col(HeimdallRecommendation.outcome).is_(None))
        .values(outcome=outcome, outcome_at=at, outcome_by=actor)
        .execution_options(synchronize_session=False)
    ))
    session.refresh(row)
    if done != 1:
        same = row.outcome == outcome
        return OutcomeResult(_rec_view(row), changed=False, refused=not same,
                             reason=None if same else "outcome_already_recorded")
    policy = session.get(HeimdallPolicy, row.domain)
    if policy is not None and row.confidence >= policy.min_confidence:
        _bump_rollup(session, day=business_date(at, business_timezone), domain=row.domain,
                     mode=row.mode, success=success, at=at)
    audit.record(session, pack=PACK, action="outcome", actor=actor, at=at,
                 subject=f"recommendation:{row.id}", before={"outcome": None},
                 after={"outcome": outcome, "domain": row.domain, "mode": row.mode})
    return OutcomeResult(_rec_view(row), changed=True, refused=False, reason=None)


def _bump_rollup(session: Session, *, day: date, domain: str, mode: str, success: bool,
                 at: datetime) -> None:
    """Add one outcome to the day's roll-up with one atomic upsert (safe under concurrency)."""
    insert = upsert_insert(session)
    table = table_of(HeimdallScorecard)
    stmt = insert(table).values(day=day, domain=domain, mode=mode, samples=1,
                                successes=1 if success else 0, updated_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "domain", "mode"],
        set_={"samples": table.c.samples + 1,
              "successes": table.c.successes + (1 if success else 0),
              "updated_at": at},
    )
    session.execute(stmt)


# --- scorecard and promotion ------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    samples: int
    successes: int
    success_rate: float | None
    wilson_lower: float
    eligible: bool


@dataclass(frozen=True)
class ScorecardRow:
    domain: str
    mode: str
    samples: int
    successes: int
    success_rate: float | None
    wilson_lower: float
    eligible: bool
    min_confidence: float
    min_samples: int
    min_success_rate: float
    production: Figures


def figures(successes: int, samples: int, *, min_samples: int,
            min_success_rate: float) -> Figures:
    """The gate's figures for a track record; `eligible` is the promotion rule."""
    lower = wilson_lower_bound(successes, samples)
    return Figures(samples=samples, successes=successes,
                   success_rate=successes / samples if samples else None,
                   wilson_lower=round(lower, 6),
                   eligible=samples >= min_samples and lower >= min_success_rate)


def _counts(session: Session, policy: HeimdallPolicy, mode: str,
            since: datetime | None, until: datetime | None) -> tuple[int, int]:
    r = HeimdallRecommendation
    query = select(func.count(), func.coalesce(func.sum(case((col(r.outcome) == SUCCESS, 1),
                                                             else_=0)), 0)).where(
        col(r.domain) == policy.domain, col(r.mode) == mode, col(r.outcome).is_not(None),
        col(r.confidence) >= policy.min_confidence,
    )
    if since is not None:
        query = query.where(col(r.outcome_at) >= since)
    if until is not None:
        query = query.where(col(r.outcome_at) <= until)
    samples, successes = session.execute(query).one()
    return int(samples), int(successes)


def _scorecard_row(session: Session, policy: HeimdallPolicy, since: datetime | None,
                   until: datetime | None) -> ScorecardRow:
    rule: dict[str, Any] = dict(min_samples=policy.min_samples,
                                min_success_rate=policy.min_success_rate)
    sb_samples, sb_successes = _counts(session, policy, SANDBOX, since, until)
    sandbox = figures(sb_successes, sb_samples, **rule)
    pr_samples, pr_successes = _counts(session, policy, PRODUCTION, since, until)
    return ScorecardRow(
        domain=policy.domain, mode=policy.mode, samples=sandbox.samples,
        successes=sandbox.successes, success_rate=sandbox.success_rate,
        wilson_lower=sandbox.wilson_lower, eligible=sandbox.eligible,
        min_confidence=policy.min_confidence, min_samples=policy.min_samples,
        min_success_rate=policy.min_success_rate,
        production=figures(pr_successes, pr_samples, **rule),
    )


def scorecard(session: Session, *, at: datetime, business_timezone: str,
              domain: str | None = None, days: int | None = None) -> list[ScorecardRow]:
    """One row per domain: sandbox figures at the top level, production ones in `production`.

    Counts recommendations at or above the domain's current `min_confidence` that have an
    outcome; with `days`, those whose outcome was recorded in the N business days ending at
    `at` (at included).
    """
    from valhalla_cli.clock import business_date, start_of_business_day

    since = until = None
    if days is not None:
        if not 1 <= days <= 3660:
            raise BadInput("--days must be between 1 and 3660")
        first = business_date(at, business_timezone) - timedelta(days=days - 1)
        since, until = start_of_business_day(first, business_timezone), at
    if domain is not None:
        policies = [_get_policy(session, domain)]
    else:
        policies = list(session.scalars(
            select(HeimdallPolicy).order_by(col(HeimdallPolicy.domain))))
    return [_scorecard_row(session, p, since, until) for p in policies]


@dataclass(frozen=True)
class ModeChange:
    domain: str
    action: str  # promote | demote
    changed: bool
    refused: bool
    reason: str | None  # too_few_samples | below_min_success_rate | domain_disabled | None
    mode: str
    samples: int
    successes: int
    success_rate: float | None
    wilson_lower: float
    min_samples: int
    min_success_rate: float


def promote(session: Session, *, domain: str, reason: str | None, actor: str,
            at: datetime) -> ModeChange:
    """Move a domain to production if its whole sandbox record passes the gate; else a "no"."""
    why = _require_reason(reason)
    policy = _get_policy(session, domain, for_update=True)
    card = _scorecard_row(session, policy, None, None)

    def result(changed: bool, refused: bool, code: str | None) -> ModeChange:
        return ModeChange(domain=policy.domain, action="promote", changed=changed,
                          refused=refused, reason=code, mode=policy.mode, samples=card.samples,
                          successes=card.successes, success_rate=card.success_rate,
                          wilson_lower=card.wilson_lower, min_samples=policy.min_samples,
                          min_success_rate=policy.min_success_rate)

    if policy.mode == PRODUCTION:
        return result(False, False, None)
    if not policy.enabled:
        return result(False, True, "domain_disabled")
    if card.samples < policy.min_samples:
        return result(False, True, "too_few_samples")
    if wilson_lower_bound(card.successes, card.samples) < policy.min_success_rate:
        return result(False, True, "below_min_success_rate")
    before = _policy_dict(policy)
    policy.mode, policy.updated_at, policy.updated_by = PRODUCTION, at, actor
    session.flush()
    audit.record(session, pack=PACK, action="promote", actor=actor, at=at, subject=policy.domain,
                 before=before, after={**_policy_dict(policy), "samples": card.samples,
                                       "successes": card.successes,
                                       "wilson_lower": card.wilson_lower},
                 reason=why)
    return result(True, False, None)


def demote(session: Session, *, domain: str, reason: str | None, actor: str,
           at: datetime) -> ModeChange:
    """Return a domain to sandbox (always allowed: it only removes authority)."""
    why = _require_reason(reason)
    policy = _get_policy(session, domain, for_update=True)
    card = _scorecard_row(session, policy, None, None)
    changed = policy.mode != SANDBOX
    if changed:
        before = _policy_dict(policy)
        policy.mode, policy.updated_at, policy.updated_by = SANDBOX, at, actor
        session.flush()
        audit.record(session, pack=PACK, action="demote", actor=actor, at=at,
                     subject=policy.domain, before=before, after=_policy_dict(policy),
                     reason=why)
    return ModeChange(domain=policy.domain, action="demote", changed=changed, refused=False,
                      reason=None, mode=policy.mode, samples=card.samples,
                      successes=card.successes, success_rate=card.success_rate,
                      wilson_lower=card.wilson_lower, min_samples=policy.min_samples,
                      min_success_rate=policy.min_success_rate)


# --- runbook ----------------------------------------------------------------------------------

def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails when a seeded domain has no policy or a policy's thresholds are out of range."""
    from valhalla_cli.services.runbook import FAIL, OK, CheckResult

    policies = {p.domain: p for p in session.scalars(select(HeimdallPolicy))}
    missing = [d for d in SEEDED_DOMAINS if d not in policies]
    if missing:
        return CheckResult("heimdall", FAIL, "seeded domains without a policy: "
                           + ", ".join(missing), f"valhalla heimdall policy-set {missing[0]}")
    broken = {d: threshold_problems(p) for d, p in sorted(policies.items())}
    broken = {d: probs for d, probs in broken.items() if probs}
    if broken:
        first = next(iter(broken))
        return CheckResult("heimdall", FAIL, "; ".join(f"{d}: {', '.join(p)}"
                                                       for d, p in broken.items()),
                           f"valhalla heimdall policy-set {first} --min-confidence 0.8 "
                           "--min-samples 30 --min-success-rate 0.7")
    modes = ", ".join(f"{d} {p.mode}" + ("" if p.enabled else " (disabled)")
                      for d, p in sorted(policies.items()))
    return CheckResult("heimdall", OK, f"{len(policies)} domains: {modes}")
