"""Market policy and contact compliance: `/api/governance/market/*`, mirroring `valhalla market`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Enabled, Limit, Market, Province, ProvinceFilter
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Text, Texts
from valhalla_cli.vocabulary import CONTACT_CHANNELS, words

router = PackRouter("market", "/api/governance/market")


class PoliciesQuery(Params):
    province: ProvinceFilter = None


@router.get("/policies", cli="valhalla market policies")
def policies(p: Annotated[PoliciesQuery, Query()], call: Call) -> Answer:
    """The stored policies (province-wide rows have market '*')."""
    from valhalla_cli.services import policies

    return Answer(policies.list_policies(call.session, province=p.province))


class PolicySet(Params):
    province: Province
    market: Market = None
    timezone: Annotated[Texts | None, Field(description="IANA zones (replaces the list).")] = None
    window: Annotated[Texts | None, Field(description="Contact windows, e.g. 'SMS mon-fri "
                                          "09:00-20:00' (replaces that channel's windows).")] = None
    channels: Annotated[Text | None, Field(description="Allowed channels, e.g. SMS,CALL.")] = None
    min_lead_score: Annotated[Int | None, Field(description="Minimum lead score, 0-100.")] = None
    holidays: Annotated[bool | None, Field(description="Quiet on the province's statutory "
                                           "holidays.")] = None
    enabled: Enabled = None
    require_sms_consent: Annotated[bool | None, Field(
        description="Texts need CASL consent recorded here (seeded on; the runbook warns while "
        "off).")] = None
    at: At = None


@router.post("/policies/upsert", cli="valhalla market policy-set", scope="admin")
def policy_set(p: PolicySet, call: Call) -> Answer:
    """Create or update a policy; only the fields given change (audited)."""
    from valhalla_cli.services import policies

    return Answer(policies.policy_set(
        call.session, province=p.province, market=p.market, timezones=p.timezone,
        windows=p.window, channels=p.channels, min_lead_score=p.min_lead_score,
        quiet_on_holidays=p.holidays, enabled=p.enabled, actor=call.actor,
        at=call.instant(p.at), require_sms_consent=p.require_sms_consent))


class EffectiveQuery(Params):
    province: Province
    market: Market = None


@router.get("/effective", cli="valhalla market effective")
def effective(p: Annotated[EffectiveQuery, Query()], call: Call) -> Answer:
    """The merged policy for a province or market, with the source of each field."""
    from valhalla_cli.services import policies

    return Answer(policies.effective_policy(call.session, province=p.province, market=p.market))


class CanContactQuery(Params):
    province: Annotated[Text | None, Field(description="Province or territory code, e.g. ON "
                                           "(may be left out with lead).")] = None
    channel: Annotated[Text, Field(description=f"{words(CONTACT_CHANNELS)}.")]
    market: Market = None
    lead_score: Annotated[Int | None, Field(description="The lead's score, 0-100.")] = None
    lead: Annotated[Text | None, Field(description="Lead id: its province, zones, number and "
                                       "consents decide.")] = None
    phone: Annotated[Text | None, Field(description="A number alone (suppression, DNCL, "
                                        "area-code zones).")] = None
    at: At = None


@router.get("/can-contact", cli="valhalla market can-contact",
            returns="valhalla_cli.services.market:ContactAnswer")
def can_contact(p: Annotated[CanContactQuery, Query()], call: Call) -> Answer:
    """May this lead be contacted on this channel now? 200 allowed, 409 denied."""
    from valhalla_cli.services import market

    answer = market.can_contact(call.session, province=p.province, market=p.market,
                                channel=p.channel, at=call.instant(p.at),
                                lead_score=p.lead_score, lead_id=p.lead, phone=p.phone,
                                business_timezone=call.settings.business_timezone)
    return Answer(answer, refusal=answer.refusal)


class Suppress(Params):
    lead: Annotated[Text, Field(description="The lead id.")]
    reason: Annotated[Text, Field(description="Why (recorded in the audit log).")]
    phone: Annotated[Text | None, Field(description="The phone number that opted out.")] = None
    at: At = None


@router.post("/suppress", cli="valhalla market suppress", scope="operate")
def suppress(p: Suppress, call: Call) -> Answer:
    """Suppress a lead on every channel at once (its remaining follow-ups are cancelled)."""
    from valhalla_cli.services import suppression

    return Answer(suppression.suppress(call.session, lead_id=p.lead, phone=p.phone,
                                       reason=p.reason, actor=call.actor, at=call.instant(p.at)))


class SuppressionsQuery(Params):
    lead: Annotated[Text | None, Field(description="Only this lead.")] = None
    limit: Limit = 100


@router.get("/suppressions", cli="valhalla market suppressions")
def suppressions(p: Annotated[SuppressionsQuery, Query()], call: Call) -> Answer:
    """Suppressed leads, newest first."""
    from valhalla_cli.services import suppression

    return Answer(suppression.list_suppressions(call.session, lead_id=p.lead, limit=p.limit))
