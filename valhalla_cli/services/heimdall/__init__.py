"""Heimdall: confidence gates for AI recommendations.

A recommendation is recorded with the gate's decision: `reject` below the domain's
`min_confidence` (or when the domain is disabled), `act` only for a production domain while
go-live is live, `shadow` otherwise (logged and scored, not acted on). A domain moves from sandbox
to production only when its sandbox track record is good enough: at least `min_samples` outcomes
and a one-sided 95 % Wilson lower bound at or above `min_success_rate`.

The package, one module per responsibility (`from valhalla_cli.services import heimdall`
re-exports them all): `rules` (the modes, decisions and defaults, input validation, a policy's
threshold problems and the promotion figures: pure functions), `policies` (the domains'
thresholds: list and set, audited), `recommendations` (recording a recommendation with the
gate's decision, and its outcome once), `promotion` (the scorecard, promote and demote) and
`check` (the runbook check).
"""

from valhalla_cli.services.heimdall.check import (
    runbook_check,
)
from valhalla_cli.services.heimdall.policies import (
    PolicyChange,
    PolicyView,
    list_policies,
    set_policy,
)
from valhalla_cli.services.heimdall.promotion import (
    ModeChange,
    ScorecardRow,
    demote,
    promote,
    scorecard,
)
from valhalla_cli.services.heimdall.recommendations import (
    OutcomeResult,
    RecommendationView,
    RecordResult,
    record,
    record_outcome,
)
from valhalla_cli.services.heimdall.rules import (
    ACT,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_MIN_SUCCESS_RATE,
    FAILURE,
    MAX_MIN_SAMPLES,
    PACK,
    PRODUCTION,
    REJECT,
    SANDBOX,
    SEEDED_DOMAINS,
    SHADOW,
    SUCCESS,
    Figures,
    figures,
    parse_payload,
    threshold_problems,
)

__all__ = [
    "ACT",
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_MIN_SUCCESS_RATE",
    "FAILURE",
    "MAX_MIN_SAMPLES",
    "PACK",
    "PRODUCTION",
    "REJECT",
    "SANDBOX",
    "SEEDED_DOMAINS",
    "SHADOW",
    "SUCCESS",
    "Figures",
    "ModeChange",
    "OutcomeResult",
    "PolicyChange",
    "PolicyView",
    "RecommendationView",
    "RecordResult",
    "ScorecardRow",
    "demote",
    "figures",
    "list_policies",
    "parse_payload",
    "promote",
    "record",
    "record_outcome",
    "runbook_check",
    "scorecard",
    "set_policy",
    "threshold_problems",
]
