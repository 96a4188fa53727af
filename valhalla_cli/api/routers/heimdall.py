"""Heimdall: `/api/governance/heimdall/*`, mirroring `valhalla heimdall`."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Enabled, Nothing, OptionalReason, Reason
from valhalla_cli.api.routing import Answer, Call, Int, Number, PackRouter, Params, Text

router = PackRouter("heimdall", "/api/governance/heimdall")

Domain = Annotated[Text, Field(description="Recommendation domain, e.g. lead_scoring.")]


class Record(Params):
    domain: Domain
    confidence: Annotated[Number, Field(description="The model's confidence, 0 to 1.")]
    subject: Annotated[Text, Field(description="What it is about (lead id, offer ref...).")]
    payload: Annotated[Text | None, Field(description="The recommendation as JSON text.")] = None
    at: At = None


@router.post("/record", cli="valhalla heimdall record", scope="operate")
def record(p: Record, call: Call) -> Answer:
    """Record an AI recommendation and gate it: act (200), shadow or reject (409)."""
    from valhalla_cli.services import heimdall

    data = heimdall.parse_payload(p.payload)
    result = heimdall.record(call.session, domain=p.domain, confidence=p.confidence,
                             subject=p.subject, payload=data, actor=call.actor,
                             at=call.instant(p.at), enforce=call.settings.golive_enforce)
    return Answer(result, refusal=result.refusal)


class Outcome(Params):
    success: Annotated[bool, Field(description="What happened: true or false.")]
    at: At = None


@router.post("/recommendation/{recommendation_id}/outcome", cli="valhalla heimdall outcome",
             scope="operate")
def outcome(recommendation_id: Annotated[Int, Path(description="The recommendation to score.")],
            p: Outcome, call: Call) -> Answer:
    """Record what happened to a recommendation, once (409 for a different second outcome)."""
    from valhalla_cli.services import heimdall

    result = heimdall.record_outcome(call.session, recommendation_id=recommendation_id,
                                     success=p.success, actor=call.actor, at=call.instant(p.at),
                                     business_timezone=call.settings.business_timezone)
    return Answer(result, refusal=result.refusal)


class ScorecardQuery(Params):
    domain: Annotated[Text | None, Field(description="Only this domain.")] = None
    days: Annotated[Int | None, Field(description="Only outcomes of the N business days ending "
                                      "at `at`.")] = None
    at: At = None


@router.get("/scorecard", cli="valhalla heimdall scorecard")
def scorecard(p: Annotated[ScorecardQuery, Query()], call: Call) -> Answer:
    """Success rate and Wilson lower bound per domain."""
    from valhalla_cli.services import heimdall

    return Answer(heimdall.scorecard(call.session, at=call.instant(p.at),
                                     business_timezone=call.settings.business_timezone,
                                     domain=p.domain, days=p.days))


class ModeChange(Params):
    domain: Domain
    reason: Reason
    at: At = None


def _mode_change(p: ModeChange, call: Call, action: str) -> Answer:
    from valhalla_cli.services import heimdall

    result = getattr(heimdall, action)(call.session, domain=p.domain, reason=p.reason,
                                       actor=call.actor, at=call.instant(p.at))
    return Answer(result, refusal=result.refusal)


@router.post("/promote", cli="valhalla heimdall promote", scope="admin")
def promote(p: ModeChange, call: Call) -> Answer:
    """Move a domain to production if its sandbox record passes the gate (else 409)."""
    return _mode_change(p, call, "promote")


@router.post("/demote", cli="valhalla heimdall demote", scope="admin")
def demote(p: ModeChange, call: Call) -> Answer:
    """Return a domain to sandbox."""
    return _mode_change(p, call, "demote")


@router.get("/policies", cli="valhalla heimdall policies")
def policies(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The domains with their mode and gate thresholds."""
    from valhalla_cli.services import heimdall

    return Answer(heimdall.list_policies(call.session))


class PolicySet(Params):
    domain: Domain
    min_confidence: Annotated[Number | None, Field(description="Reject recommendations below "
                                                   "this (0-1).")] = None
    min_samples: Annotated[Int | None, Field(description="Sandbox outcomes needed before "
                                             "promotion.")] = None
    min_success_rate: Annotated[Number | None, Field(description="Wilson lower bound needed for "
                                                     "promotion (0-1).")] = None
    enabled: Enabled = None
    reason: OptionalReason = None
    at: At = None


@router.post("/policies/upsert", cli="valhalla heimdall policy-set", scope="admin")
def policy_set(p: PolicySet, call: Call) -> Answer:
    """Change a domain's thresholds (a missing domain is created in sandbox). Audited."""
    from valhalla_cli.services import heimdall

    result = heimdall.set_policy(call.session, domain=p.domain, actor=call.actor,
                                 at=call.instant(p.at), min_confidence=p.min_confidence,
                                 min_samples=p.min_samples,
                                 min_success_rate=p.min_success_rate, enabled=p.enabled,
                                 reason=p.reason)
    return Answer(result.policy)
