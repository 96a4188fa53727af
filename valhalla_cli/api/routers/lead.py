"""The lead registry: `/api/leads/*`, mirroring `valhalla lead` (no file import)."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, AtOnly, LeadPath, Limit, Market
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text
from valhalla_cli.vocabulary import CONSENT_CHANNELS, CONSENT_KINDS, LANGUAGES, words

router = PackRouter("lead", "/api/leads")


class Upsert(Params):
    lead: Annotated[Text, Field(description="The lead id.")]
    province: Annotated[Text | None, Field(description="Province code, e.g. ON (required to "
                                           "create).")] = None
    phone: Annotated[Text | None, Field(description="Phone number, e.g. (416) 555-0199 (stored "
                                        "as E.164).")] = None
    market: Market = None
    name: Annotated[Text | None, Field(description="The person's name.")] = None
    language: Annotated[Text | None, Field(description=f"{words(LANGUAGES)} (default: fr for QC, "
                                           "en elsewhere).")] = None
    source: Annotated[Text | None, Field(description="Where the lead came from, e.g. ppc, "
                                         "direct_mail.")] = None
    timezone: Annotated[Text | None, Field(description="A confirmed zone where the person is: "
                                           "it alone decides calling hours.")] = None
    at: At = None


@router.post("/upsert", cli="valhalla lead add", scope="operate")
def upsert(p: Upsert, call: Call) -> Answer:
    """Create or update a lead; an update changes only the fields given (audited)."""
    from valhalla_cli.services import lead

    fields = lead.validate_fields(lead_id=p.lead, province=p.province, phone=p.phone,
                                  market=p.market, name=p.name, language=p.language,
                                  source=p.source, timezone=p.timezone)
    result = lead.add(call.session, fields=fields, at=call.instant(p.at), actor=call.actor)
    return Answer(lead.upsert_view(result))


class ListQuery(Params):
    province: Annotated[Text | None, Field(description="Only this province.")] = None
    market: Annotated[Text | None, Field(description="Only this market.")] = None
    limit: Limit = 100


@router.get("", cli="valhalla lead list")
def list_leads(p: Annotated[ListQuery, Query()], call: Call) -> Answer:
    """Leads by id."""
    from valhalla_cli.services import lead

    return Answer(lead.list_leads(call.session, province=p.province, market=p.market,
                                  limit=p.limit))


class Inbound(Params):
    sender: Annotated[Text, Field(alias="from", description="The number that texted.")]
    body: Annotated[Text, Field(description="What it said.")]
    at: At = None


@router.post("/inbound", cli="valhalla lead inbound", scope="operate",
             returns="valhalla_cli.services.lead:InboundResult")
def inbound(p: Inbound, call: Call) -> Answer:
    """A text a lead sent back: STOP/ARRÊT/... opts the number out at once."""
    from valhalla_cli.services import lead

    cfg = call.settings
    return Answer(lead.inbound(call.session, phone=p.sender, body=p.body,
                               at=call.instant(p.at), actor=call.actor,
                               business_name=cfg.business_name,
                               business_callback=cfg.business_callback,
                               business_website=cfg.business_website,
                               business_timezone=cfg.business_timezone))


@router.get("/{lead}", cli="valhalla lead show")
def show(lead: LeadPath, p: Annotated[AtOnly, Query()], call: Call) -> Answer:
    """The lead, its consents, DNCL status, suppressions, ladders, replies and contact answer."""
    from valhalla_cli.services import lead_show

    view = lead_show.show(call.session, lead_id=lead, at=call.instant(p.at),
                          business_timezone=call.settings.business_timezone)
    return Answer(lead_show.as_data(view))


class Consent(Params):
    kind: Annotated[Text, Field(description=f"{words(CONSENT_KINDS)} (inquiry: 6 months; "
                                "business: 2 years SMS, 18 months call exemption).")]
    channel: Annotated[Text | None, Field(
        description=f"{words(CONSENT_CHANNELS)} (default all).")] = None
    evidence: Annotated[Text | None, Field(description="What proves it, e.g. 'web form "
                                           "2027-01-03, IP 203.0.113.9'.")] = None
    at: At = None


@router.post("/{lead}/consent", cli="valhalla lead consent", scope="operate")
def consent(lead: LeadPath, p: Consent, call: Call) -> Answer:
    """Record consent evidence (append-only)."""
    from valhalla_cli.services import lead as leads

    return Answer(leads.record_consent(
        call.session, lead_id=lead, kind=p.kind, channel=p.channel, evidence=p.evidence,
        withdraw=False, at=call.instant(p.at), actor=call.actor,
        business_timezone=call.settings.business_timezone))


@router.post("/{lead}/consent/withdraw", cli="valhalla lead consent --withdraw",
             scope="operate")
def withdraw(lead: LeadPath, p: AtOnly, call: Call) -> Answer:
    """The lead withdrew consent: an opt-out (suppresses the lead and its number)."""
    from valhalla_cli.services import lead as leads

    return Answer(leads.record_consent(
        call.session, lead_id=lead, kind=None, channel=None, evidence=None, withdraw=True,
        at=call.instant(p.at), actor=call.actor,
        business_timezone=call.settings.business_timezone))
