"""The lead registry: `/api/leads/*`, mirroring `valhalla lead` (no file import)."""

from valhalla_cli.api.routers._params import AT, MARKET, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("lead", "/api/leads")

LEAD = Param("lead", required=True, in_path=True, help="The lead id.")


@router.post("/upsert", cli="valhalla lead add", scope="operate", params=(
    Param("lead", required=True, help="The lead id."),
    Param("province", help="Province code, e.g. ON (required to create)."),
    Param("phone", help="Phone number, e.g. (416) 555-0199 (stored as E.164)."),
    MARKET,
    Param("name", help="The person's name."),
    Param("language", help="en or fr (default: fr for QC, en elsewhere)."),
    Param("source", help="Where the lead came from, e.g. ppc, direct_mail."),
    Param("timezone", help="A confirmed zone where the person is: it alone decides calling "
          "hours."), AT))
def upsert(call: Call) -> Answer:
    """Create or update a lead; an update changes only the fields given (audited)."""
    from valhalla_cli.services import lead

    fields = lead.validate_fields(lead_id=call["lead"], province=call["province"],
                                  phone=call["phone"], market=call["market"], name=call["name"],
                                  language=call["language"], source=call["source"],
                                  timezone=call["timezone"])
    result = lead.add(call.session, fields=fields, at=call.instant(), actor=call.actor)
    return Answer(lead.upsert_view(result))


@router.get("", cli="valhalla lead list", params=(
    Param("province", help="Only this province."), Param("market", help="Only this market."),
    limit(100)))
def list_leads(call: Call) -> Answer:
    """Leads by id."""
    from valhalla_cli.services import lead

    return Answer(lead.list_leads(call.session, province=call["province"],
                                  market=call["market"], limit=call["limit"]))


@router.post("/inbound", cli="valhalla lead inbound", scope="operate",
             returns="valhalla_cli.services.lead:InboundResult", params=(
    Param("from", required=True, help="The number that texted."),
    Param("body", required=True, help="What it said."), AT))
def inbound(call: Call) -> Answer:
    """A text a lead sent back: STOP/ARRÊT/... opts the number out at once."""
    from valhalla_cli.services import lead

    cfg = call.settings
    return Answer(lead.inbound(call.session, phone=call["from"], body=call["body"],
                               at=call.instant(), actor=call.actor,
                               business_name=cfg.business_name,
                               business_callback=cfg.business_callback,
                               business_website=cfg.business_website,
                               business_timezone=cfg.business_timezone))


@router.get("/{lead}", cli="valhalla lead show", params=(LEAD, AT))
def show(call: Call) -> Answer:
    """The lead, its consents, DNCL status, suppressions, ladders, replies and contact answer."""
    from valhalla_cli.services import lead_show

    view = lead_show.show(call.session, lead_id=call["lead"], at=call.instant(),
                          business_timezone=call.settings.business_timezone)
    return Answer(lead_show.as_data(view))


def _consent(call: Call, *, withdraw: bool) -> Answer:
    from valhalla_cli.services import lead

    p = call.params
    return Answer(lead.record_consent(
        call.session, lead_id=p["lead"], kind=p.get("kind"), channel=p.get("channel"),
        evidence=p.get("evidence"), withdraw=withdraw, at=call.instant(), actor=call.actor,
        business_timezone=call.settings.business_timezone))


@router.post("/{lead}/consent", cli="valhalla lead consent", scope="operate", params=(
    LEAD,
    Param("kind", required=True, help="express, inquiry (6 months) or business (2 years SMS, "
          "18 months call exemption)."),
    Param("channel", help="SMS, CALL or all (default all)."),
    Param("evidence", help="What proves it, e.g. 'web form 2027-01-03, IP 203.0.113.9'."), AT))
def consent(call: Call) -> Answer:
    """Record consent evidence (append-only)."""
    return _consent(call, withdraw=False)


@router.post("/{lead}/consent/withdraw", cli="valhalla lead consent --withdraw",
             scope="operate", params=(LEAD, AT))
def withdraw(call: Call) -> Answer:
    """The lead withdrew consent: an opt-out (suppresses the lead and its number)."""
    return _consent(call, withdraw=True)
