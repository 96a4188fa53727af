"""Heimdall: `/api/governance/heimdall/*`, mirroring `valhalla heimdall`."""

from valhalla_cli.api.routers._params import AT, ENABLED, OPTIONAL_REASON, REASON
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("heimdall", "/api/governance/heimdall")

DOMAIN = Param("domain", required=True, help="Recommendation domain, e.g. lead_scoring.")


@router.post("/record", cli="valhalla heimdall record", scope="operate", params=(
    DOMAIN,
    Param("confidence", "float", required=True, help="The model's confidence, 0 to 1."),
    Param("subject", required=True, help="What it is about (lead id, offer ref...)."),
    Param("payload", help="The recommendation as JSON text."), AT))
def record(call: Call) -> Answer:
    """Record an AI recommendation and gate it: act (200), shadow or reject (409)."""
    from valhalla_cli.services import heimdall

    data = heimdall.parse_payload(call["payload"])
    result = heimdall.record(call.session, domain=call["domain"],
                             confidence=call["confidence"], subject=call["subject"],
                             payload=data, actor=call.actor, at=call.instant(),
                             enforce=call.settings.golive_enforce)
    return Answer(result, refusal=result.refusal)


@router.post("/recommendation/{recommendation_id}/outcome", cli="valhalla heimdall outcome",
             scope="operate", params=(
                 Param("recommendation_id", "int", required=True, in_path=True,
                       help="The recommendation to score."),
                 Param("success", "bool", required=True, help="What happened: true or false."),
                 AT))
def outcome(call: Call) -> Answer:
    """Record what happened to a recommendation, once (409 for a different second outcome)."""
    from valhalla_cli.services import heimdall

    result = heimdall.record_outcome(call.session, recommendation_id=call["recommendation_id"],
                                     success=call["success"], actor=call.actor,
                                     at=call.instant(),
                                     business_timezone=call.settings.business_timezone)
    return Answer(result, refusal=result.refusal)


@router.get("/scorecard", cli="valhalla heimdall scorecard", params=(
    Param("domain", help="Only this domain."),
    Param("days", "int", help="Only outcomes of the N business days ending at `at`."), AT))
def scorecard(call: Call) -> Answer:
    """Success rate and Wilson lower bound per domain."""
    from valhalla_cli.services import heimdall

    return Answer(heimdall.scorecard(call.session, at=call.instant(),
                                     business_timezone=call.settings.business_timezone,
                                     domain=call["domain"], days=call["days"]))


def _mode_change(call: Call, action: str) -> Answer:
    from valhalla_cli.services import heimdall

    result = getattr(heimdall, action)(call.session, domain=call["domain"],
                                       reason=call["reason"], actor=call.actor,
                                       at=call.instant())
    return Answer(result, refusal=result.refusal)


@router.post("/promote", cli="valhalla heimdall promote", scope="admin",
             params=(DOMAIN, REASON, AT))
def promote(call: Call) -> Answer:
    """Move a domain to production if its sandbox record passes the gate (else 409)."""
    return _mode_change(call, "promote")


@router.post("/demote", cli="valhalla heimdall demote", scope="admin",
             params=(DOMAIN, REASON, AT))
def demote(call: Call) -> Answer:
    """Return a domain to sandbox."""
    return _mode_change(call, "demote")


@router.get("/policies", cli="valhalla heimdall policies")
def policies(call: Call) -> Answer:
    """The domains with their mode and gate thresholds."""
    from valhalla_cli.services import heimdall

    return Answer(heimdall.list_policies(call.session))


@router.post("/policies/upsert", cli="valhalla heimdall policy-set", scope="admin", params=(
    DOMAIN,
    Param("min_confidence", "float", help="Reject recommendations below this (0-1)."),
    Param("min_samples", "int", help="Sandbox outcomes needed before promotion."),
    Param("min_success_rate", "float", help="Wilson lower bound needed for promotion (0-1)."),
    ENABLED, OPTIONAL_REASON, AT))
def policy_set(call: Call) -> Answer:
    """Change a domain's thresholds (a missing domain is created in sandbox). Audited."""
    from valhalla_cli.services import heimdall

    result = heimdall.set_policy(call.session, domain=call["domain"], actor=call.actor,
                                 at=call.instant(), min_confidence=call["min_confidence"],
                                 min_samples=call["min_samples"],
                                 min_success_rate=call["min_success_rate"],
                                 enabled=call["enabled"], reason=call["reason"])
    return Answer(result.policy)
