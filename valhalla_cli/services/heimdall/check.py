"""Heimdall's runbook check: every seeded domain has a policy and every threshold is in range."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from valhalla_cli.models import HeimdallPolicy
from valhalla_cli.services.heimdall.rules import SEEDED_DOMAINS, threshold_problems

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult
    from valhalla_cli.settings import Settings

__all__ = ["runbook_check"]


def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails when a seeded domain has no policy or a policy's thresholds are out of range."""
    from valhalla_cli.services.checks import FAIL, OK, CheckResult

    policies = {p.domain: p for p in session.scalars(select(HeimdallPolicy))}
    missing = [d for d in SEEDED_DOMAINS if d not in policies]
    if missing:
        return CheckResult(FAIL, "seeded domains without a policy: "
                           + ", ".join(missing), f"valhalla heimdall policy-set {missing[0]}")
    broken = {d: threshold_problems(p) for d, p in sorted(policies.items())}
    broken = {d: probs for d, probs in broken.items() if probs}
    if broken:
        first = next(iter(broken))
        return CheckResult(FAIL, "; ".join(f"{d}: {', '.join(p)}"
                                                       for d, p in broken.items()),
                           f"valhalla heimdall policy-set {first} --min-confidence 0.8 "
                           "--min-samples 30 --min-success-rate 0.7")
    modes = ", ".join(f"{d} {p.mode}" + ("" if p.enabled else " (disabled)")
                      for d, p in sorted(policies.items()))
    from valhalla_cli.wording import plural

    return CheckResult(OK, f"{plural(len(policies), 'domain')}: {modes}")
