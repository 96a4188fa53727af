"""The risk pack's pure rules: engine names, idempotency refs, headroom and utilization."""

from __future__ import annotations

import re

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_text
from valhalla_cli.models.risk import GLOBAL_ENGINE
from valhalla_cli.services.audit import Pack

__all__ = ["GLOBAL", "OPEN", "PACK", "RELEASED", "SETTLED", "headroom_cents", "normalize_engine",
           "utilization_pct"]

PACK = Pack.RISK
GLOBAL = GLOBAL_ENGINE
_ENGINE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


OPEN, SETTLED, RELEASED = "open", "settled", "released"


def normalize_engine(name: str) -> str:
    """Engine names are lower-case words (`acquisitions`); `GLOBAL` is spelled in capitals."""
    cleaned = (name or "").strip()
    if cleaned.upper() == GLOBAL:
        return GLOBAL
    lowered = cleaned.lower()
    if not _ENGINE_NAME.match(lowered):
        raise BadInput(f"engine {name!r} must be 1-40 characters: a letter, then letters, digits, "
                       "'-' or '_'")
    return lowered


def _ref(ref: str | None) -> str:
    cleaned = parse_text(ref, field="--ref")
    if cleaned is None:
        raise BadInput("--ref must not be empty (it is the reservation's idempotency key)")
    return cleaned


def headroom_cents(cap: int, exposure: int) -> int:
    """Room left under a cap; never negative (a breach is reported separately)."""
    return max(cap - exposure, 0)


def utilization_pct(cap: int, exposure: int) -> float | None:
    """Exposure as a percentage of the cap; None when the cap is zero."""
    if cap <= 0:
        return None
    return round(exposure * 100 / cap, 2)
