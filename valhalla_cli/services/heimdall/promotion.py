"""The track record and the moves it allows: the scorecard per domain, promote (only through
the gate) and demote (always)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput
from valhalla_cli.models import HeimdallPolicy, HeimdallRecommendation
from valhalla_cli.services import audit
from valhalla_cli.services.heimdall.policies import _get_policy, _policy_dict
from valhalla_cli.services.heimdall.rules import (
    PACK,
    PRODUCTION,
    SANDBOX,
    SUCCESS,
    Figures,
    _require_reason,
    figures,
)
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.stats import wilson_lower_bound

__all__ = ["ModeChange", "ScorecardRow", "demote", "promote", "scorecard"]


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

    @property
    def refusal(self) -> Refusal | None:
        """A promotion the gate refuses, with the record it judged."""
        if not self.refused:
            return None
        return Refusal(self.reason or "refused",
                       f"{self.domain} not promoted ({self.reason}): {self.samples} sandbox "
                       f"samples (need {self.min_samples}), Wilson lower bound "
                       f"{self.wilson_lower:.3f} "
                       f"(need {self.min_success_rate:g})")


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
