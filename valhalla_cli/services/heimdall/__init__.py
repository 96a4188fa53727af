"""Heimdall: confidence gates for AI recommendations.

A recommendation is recorded with the gate's decision: `reject` below the domain's
`min_confidence` (or when the domain is disabled), `act` only for a production domain while
go-live is live, `shadow` otherwise (logged and scored, not acted on). A domain moves from sandbox
to production only when its sandbox track record is good enough: at least `min_samples` outcomes
and a one-sided 95 % Wilson lower bound at or above `min_success_rate`.

The package, one module per responsibility, offers the names each module lists in its
`__all__`: `rules` (the modes, decisions and defaults, input validation, a policy's
threshold problems and the promotion figures: pure functions), `policies` (the domains'
thresholds: list and set, audited), `recommendations` (recording a recommendation with the
gate's decision, and its outcome once), `promotion` (the scorecard, promote and demote) and
`check` (the runbook check).
"""

from valhalla_cli.services.heimdall.check import *
from valhalla_cli.services.heimdall.policies import *
from valhalla_cli.services.heimdall.promotion import *
from valhalla_cli.services.heimdall.recommendations import *
from valhalla_cli.services.heimdall.rules import *
