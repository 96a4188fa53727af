"""Heimdall's pure rules: modes, decisions and defaults, input validation, a policy's threshold
problems, and the promotion figures (the Wilson lower bound against the policy)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from valhalla_cli.errors import BadInput
from valhalla_cli.models import HeimdallPolicy
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.stats import wilson_lower_bound

__all__ = ["ACT", "DEFAULT_MIN_CONFIDENCE", "DEFAULT_MIN_SAMPLES", "DEFAULT_MIN_SUCCESS_RATE",
           "FAILURE", "MAX_MIN_SAMPLES", "PACK", "PRODUCTION", "REJECT", "SANDBOX",
           "SEEDED_DOMAINS", "SHADOW", "SUCCESS", "Figures", "figures", "parse_payload",
           "threshold_problems"]

PACK = Pack.HEIMDALL
SANDBOX, PRODUCTION = "sandbox", "production"
REJECT, SHADOW, ACT = "reject", "shadow", "act"
SUCCESS, FAILURE = "success", "failure"

SEEDED_DOMAINS = ("lead_scoring", "offer_pricing", "buyer_matching", "followup_timing")
DEFAULT_MIN_CONFIDENCE = 0.80
DEFAULT_MIN_SAMPLES = 30
DEFAULT_MIN_SUCCESS_RATE = 0.70
MAX_MIN_SAMPLES = 1_000_000

_DOMAIN = re.compile(r"^[a-z][a-z0-9_]{0,79}$")


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
    from valhalla_cli.inputs import parse_reason

    why = parse_reason(reason, required=True)
    assert why is not None
    return why


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


@dataclass(frozen=True)
class Figures:
    samples: int
    successes: int
    success_rate: float | None
    wilson_lower: float
    eligible: bool


def figures(successes: int, samples: int, *, min_samples: int,
            min_success_rate: float) -> Figures:
    """The gate's figures for a track record; `eligible` is the promotion rule."""
    lower = wilson_lower_bound(successes, samples)
    return Figures(samples=samples, successes=successes,
                   success_rate=successes / samples if samples else None,
                   wilson_lower=round(lower, 6),
                   eligible=samples >= min_samples and lower >= min_success_rate)
