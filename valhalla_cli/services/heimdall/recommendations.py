"""Recording recommendations with the gate's decision, and their outcome once (one conditional
write, then the day's roll-up by an atomic upsert)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, upsert_insert
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_text
from valhalla_cli.models import HeimdallPolicy, HeimdallRecommendation, HeimdallScorecard
from valhalla_cli.models.types import pk, table_of, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.heimdall.policies import _get_policy
from valhalla_cli.services.heimdall.rules import (
    ACT,
    FAILURE,
    PACK,
    PRODUCTION,
    REJECT,
    SHADOW,
    SUCCESS,
    _unit,
)
from valhalla_cli.services.refusals import Refusal

__all__ = ["OutcomeResult", "RecommendationView", "RecordResult", "record", "record_outcome"]


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

    @property
    def refusal(self) -> Refusal | None:
        """Anything but `act` is a "no" (reject or shadow), in the words of the gate."""
        if self.decision == ACT:
            return None
        return Refusal(self.reason or self.decision, f"{self.decision}: {self.message}")


def record(
    session: Session, *, domain: str, confidence: float, subject: str, payload: Any = None,
    actor: str, at: datetime, enforce: bool,
) -> RecordResult:
    """Store a recommendation and decide: reject, shadow or act."""
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
    return view_of(RecommendationView, r, recommendation_id=pk(r.id))


@dataclass(frozen=True)
class OutcomeResult:
    recommendation: RecommendationView
    changed: bool
    refused: bool
    reason: str | None  # outcome_already_recorded when a different outcome was recorded before

    @property
    def refusal(self) -> Refusal | None:
        """A different outcome recorded before: an outcome is recorded once."""
        if not self.refused:
            return None
        return Refusal(self.reason or "outcome_already_recorded",
                       f"recommendation {self.recommendation.recommendation_id} already has the "
                       f"outcome {self.recommendation.outcome!r}: an outcome is recorded once")


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
