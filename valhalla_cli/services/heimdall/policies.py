"""Heimdall's policies: each domain's thresholds, listed and set (audited; a missing domain is
created in sandbox with the seeded defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import NotFound
from valhalla_cli.inputs import parse_reason
from valhalla_cli.models import HeimdallPolicy
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.heimdall.rules import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_MIN_SUCCESS_RATE,
    PACK,
    SANDBOX,
    _domain_name,
    _min_samples,
    _unit,
)

__all__ = ["PolicyChange", "PolicyView", "list_policies", "set_policy"]


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
    return view_of(PolicyView, p)


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
    reason = parse_reason(reason)
    if min_confidence is not None:
        min_confidence = _unit(min_confidence, "--min-confidence")
    if min_success_rate is not None:
        min_success_rate = _unit(min_success_rate, "--min-success-rate")
    if min_samples is not None:
        min_samples = _min_samples(min_samples)
    policy = session.get(HeimdallPolicy, name, with_for_update=True)
    created = False
    if policy is None:
        # Two operators creating the same domain's policy at once: the second waits for the
        # first's row and changes it, as if it had come second.
        created = insert_if_missing(session, table_of(HeimdallPolicy), {
            "domain": name, "mode": SANDBOX, "min_confidence": DEFAULT_MIN_CONFIDENCE,
            "min_samples": DEFAULT_MIN_SAMPLES, "min_success_rate": DEFAULT_MIN_SUCCESS_RATE,
            "enabled": True})
        policy = session.get(HeimdallPolicy, name, with_for_update=True,
                             populate_existing=True)
        assert policy is not None  # inserted above, or by the caller that came first
    before = None if created else _policy_dict(policy)
    values = {field: value for field, value in (
        ("min_confidence", min_confidence), ("min_samples", min_samples),
        ("min_success_rate", min_success_rate), ("enabled", enabled)) if value is not None}
    changed = audit.apply_policy_change(
        session, policy, values, created=created, before=before, snapshot=_policy_dict,
        pack=PACK, subject=name, actor=actor, at=at, reason=reason)
    return PolicyChange(domain=name, created=created, changed=changed, before=before,
                        policy=_policy_view(policy))
