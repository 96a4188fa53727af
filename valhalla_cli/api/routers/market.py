"""Market policy and contact compliance: `/api/governance/market/*`, mirroring `valhalla market`."""

from valhalla_cli.api.routers._params import AT, ENABLED, MARKET, PROVINCE, PROVINCE_FILTER, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("market", "/api/governance/market")


@router.get("/policies", cli="valhalla market policies", params=(PROVINCE_FILTER,))
def policies(call: Call) -> Answer:
    """The stored policies (province-wide rows have market '*')."""
    from valhalla_cli.services import policies

    return Answer(policies.list_policies(call.session, province=call["province"]))


@router.post("/policies/upsert", cli="valhalla market policy-set", scope="admin", params=(
    PROVINCE, MARKET,
    Param("timezone", "list", help="IANA zones (replaces the list)."),
    Param("window", "list", help="Contact windows, e.g. 'SMS mon-fri 09:00-20:00' (replaces "
          "that channel's windows)."),
    Param("channels", help="Allowed channels, e.g. SMS,CALL."),
    Param("min_lead_score", "int", help="Minimum lead score, 0-100."),
    Param("holidays", "bool", help="Quiet on the province's statutory holidays."),
    ENABLED,
    Param("require_sms_consent", "bool", help="Texts need CASL consent recorded here (seeded "
          "on; the runbook warns while off)."), AT))
def policy_set(call: Call) -> Answer:
    """Create or update a policy; only the fields given change (audited)."""
    from valhalla_cli.services import policies

    return Answer(policies.policy_set(
        call.session, province=call["province"], market=call["market"],
        timezones=call["timezone"], windows=call["window"], channels=call["channels"],
        min_lead_score=call["min_lead_score"], quiet_on_holidays=call["holidays"],
        enabled=call["enabled"], actor=call.actor, at=call.instant(),
        require_sms_consent=call["require_sms_consent"]))


@router.get("/effective", cli="valhalla market effective", params=(PROVINCE, MARKET))
def effective(call: Call) -> Answer:
    """The merged policy for a province or market, with the source of each field."""
    from valhalla_cli.services import policies

    return Answer(policies.effective_policy(call.session, province=call["province"],
                                            market=call["market"]))


@router.get("/can-contact", cli="valhalla market can-contact",
            returns="valhalla_cli.services.market:ContactAnswer", params=(
    Param("province", help="Province or territory code, e.g. ON (may be left out with lead)."),
    Param("channel", required=True, help="SMS or CALL."), MARKET,
    Param("lead_score", "int", help="The lead's score, 0-100."),
    Param("lead", help="Lead id: its province, zones, number and consents decide."),
    Param("phone", help="A number alone (suppression, DNCL, area-code zones)."), AT))
def can_contact(call: Call) -> Answer:
    """May this lead be contacted on this channel now? 200 allowed, 409 denied."""
    from valhalla_cli.services import market

    answer = market.can_contact(call.session, province=call["province"], market=call["market"],
                                channel=call["channel"], at=call.instant(),
                                lead_score=call["lead_score"], lead_id=call["lead"],
                                phone=call["phone"],
                                business_timezone=call.settings.business_timezone)
    return Answer(answer, refusal=answer.refusal)


@router.post("/suppress", cli="valhalla market suppress", scope="operate", params=(
    Param("lead", required=True, help="The lead id."),
    Param("reason", required=True, help="Why (recorded in the audit log)."),
    Param("phone", help="The phone number that opted out."), AT))
def suppress(call: Call) -> Answer:
    """Suppress a lead on every channel at once (its remaining follow-ups are cancelled)."""
    from valhalla_cli.services import suppression

    return Answer(suppression.suppress(call.session, lead_id=call["lead"], phone=call["phone"],
                                       reason=call["reason"], actor=call.actor,
                                       at=call.instant()))


@router.get("/suppressions", cli="valhalla market suppressions", params=(
    Param("lead", help="Only this lead."), limit(100)))
def suppressions(call: Call) -> Answer:
    """Suppressed leads, newest first."""
    from valhalla_cli.services import suppression

    return Answer(suppression.list_suppressions(call.session, lead_id=call["lead"],
                                                limit=call["limit"]))
