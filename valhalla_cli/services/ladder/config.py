"""The ladder's outcomes and its configuration: the `[ladder]` settings, validated once (a
bad value is exit 3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from valhalla_cli.errors import BadInput, ConfigError
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import StepSpec, parse_steps
from valhalla_cli.vocabulary import (
    LADDER_CONTINUE_OUTCOMES,
    LADDER_GROUPS,
    LADDER_OPT_OUT,
    LADDER_STOP_OUTCOMES,
)

__all__ = ["CONTINUE_OUTCOMES", "GROUPS", "KPI_FOLLOWUP_COMPLETED", "KPI_LADDER_CREATED",
           "OPT_OUT", "OUTCOMES", "PACK", "RECHECK_BLOCKED", "STOP_OUTCOMES", "LadderConfig",
           "ladder_config"]

PACK = Pack.LADDER
# The KPI metrics the ladder emits (the regression tripwire watches both).
KPI_LADDER_CREATED = "ladder_created"  # 1 per ladder created
KPI_FOLLOWUP_COMPLETED = "followup_completed"  # 1 when completed within the SLA, else 0
CONTINUE_OUTCOMES, STOP_OUTCOMES = LADDER_CONTINUE_OUTCOMES, LADDER_STOP_OUTCOMES
OPT_OUT = LADDER_OPT_OUT
OUTCOMES = (*CONTINUE_OUTCOMES, *STOP_OUTCOMES, OPT_OUT)
RECHECK_BLOCKED = timedelta(hours=1)  # a task with no known opening is looked at again hourly
GROUPS = LADDER_GROUPS


@dataclass(frozen=True)
class LadderConfig:
    steps: list[StepSpec]
    lease: timedelta
    max_attempts: int
    sla_minutes: int
    fast_sla_minutes: int


def ladder_config(ladder_settings: Any) -> LadderConfig:
    """Validate the `[ladder]` settings; a bad value is a configuration error (exit 3)."""
    from valhalla_cli.clock import parse_duration

    try:
        steps = parse_steps(list(ladder_settings.steps))
    except ValueError as exc:
        raise ConfigError(f"ladder.steps: {exc}") from None
    try:
        lease = parse_duration(str(ladder_settings.lease), option="ladder.lease")
    except BadInput as exc:
        raise ConfigError(exc.message) from None
    if ladder_settings.max_attempts < 1:
        raise ConfigError("ladder.max_attempts must be at least 1")
    if ladder_settings.sla_minutes < 1:
        raise ConfigError("ladder.sla_minutes must be at least 1")
    if not 1 <= ladder_settings.fast_sla_minutes <= ladder_settings.sla_minutes:
        raise ConfigError("ladder.fast_sla_minutes must be between 1 and ladder.sla_minutes")
    return LadderConfig(steps, lease, int(ladder_settings.max_attempts),
                        int(ladder_settings.sla_minutes), int(ladder_settings.fast_sla_minutes))
