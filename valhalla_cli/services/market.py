"""The contact decision for an instant (`can_contact`, `valhalla market can-contact`): the
market policy (`policies`), then the lead's rules (suppression, number, consents), judged by the
one decision of `contact_rules.decide`, with the "no" in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import market_key, parse_lead_id, parse_province
from valhalla_cli.services.contact_rules import (
    HOURS_REASONS,
    Reason,
    check_channel,
    check_score,
    decide,
)
from valhalla_cli.services.policies import effective_policy, scope_market
from valhalla_cli.services.refusals import Refusal


@dataclass(frozen=True)
class ZoneAnswer:
    timezone: str
    source: str  # confirmed | policy | area_code
    local_time: str  # local wall-clock time with its offset
    open: bool


@dataclass(frozen=True)
class ContactAnswer:
    allowed: bool
    reason: Reason | None
    scope: str  # lead | phone | hours_only
    lead_id: str | None
    phone: str | None
    zones: list[ZoneAnswer]
    next_open_at: datetime | None
    closed_zones: list[str] = field(default_factory=list)  # the zones whose window is shut
    holiday: str | None = None  # the statutory holiday's name, when one closes a zone
    message: str | None = None  # the "no" in words, with the command that changes it

    @property
    def refusal(self) -> Refusal | None:
        """The "no": the first reason, and the sentence with the command that changes it."""
        if self.allowed:
            return None
        return Refusal(str(self.reason), f"contact not allowed: {self.reason}: {self.message}")


def can_contact(
    session: Session,
    *,
    province: str | None,
    market: str | None,
    channel: str,
    at: datetime,
    business_timezone: str,
    lead_score: int | None = None,
    lead_id: str | None = None,
    phone: str | None = None,
    score_optional: bool = False,
) -> ContactAnswer:
    """The contact decision for an instant: the market policy, then the lead's rules.

    With `lead_id` the lead's province, market, zones, number and consents decide; with
    `phone` a bare number (suppression, DNCL, its area code's zones); with neither, the hours
    alone (`scope: hours_only`)."""
    from dataclasses import replace

    from valhalla_cli.services.contact_facts import facts_for, get_lead, lead_contact_zones

    channel = check_channel(channel)
    lead_score = check_score(lead_score)
    if lead_id is not None and phone is not None:
        raise BadInput("give --lead or --phone, not both")
    facts = None
    confirmed = None
    record = None
    if lead_id is not None:
        from valhalla_cli.errors import NotFound

        lead_id = parse_lead_id(lead_id, field="--lead")
        try:
            record = get_lead(session, lead_id)
        except NotFound:
            if province is None:
                raise
            # A lead id the registry does not know (suppressed before it was registered):
            # judged with the province given, and it has no number.
            record = None
    if lead_id is not None and record is None:
        per_lead, _ = facts_for(session, lead_ids=[lead_id], at=at,
                                business_timezone=business_timezone)
        facts, scope = per_lead[lead_id], "lead"
    elif lead_id is not None and record is not None:
        if province is not None and parse_province(province) != record.province:
            raise BadInput(f"lead {lead_id} is in {record.province}, not {province.upper()}: "
                           "leave the province out or give the lead's")
        given = scope_market(market) if market is not None else None
        if given is not None and market_key(given) != market_key(record.market or "*"):
            raise BadInput(f"lead {lead_id} is in market {record.market or '*'}, not {given}")
        province, market, confirmed = record.province, record.market, record.timezone
        per_lead, _ = facts_for(session, lead_ids=[lead_id], at=at,
                                business_timezone=business_timezone,
                                leads={lead_id: record})
        facts, scope = per_lead[lead_id], "lead"
    elif phone is not None:
        from valhalla_cli.phones import parse_phone

        phone = parse_phone(phone)
        if province is None:
            raise BadInput("PROVINCE is required with --phone")
        _, per_phone = facts_for(session, phones=[phone], at=at,
                                 business_timezone=business_timezone)
        facts, scope = per_phone[phone], "phone"
    else:
        scope = "hours_only"
    if province is None:
        raise BadInput("PROVINCE is required without --lead")
    policy = effective_policy(session, province=province, market=market)
    if policy.min_lead_score > 0 and lead_score is None and not score_optional:
        raise BadInput(f"--lead-score is required: the {policy.province}/{policy.market} policy "
                       f"has a minimum lead score of {policy.min_lead_score}")
    zones = lead_contact_zones(policy_zones=policy.timezones,
                               phone=facts.phone if facts else None,
                               confirmed_timezone=confirmed)
    rules = replace(policy.rules(channel), timezones=tuple(z.timezone for z in zones))
    block = facts.block(channel, require_sms_consent=policy.require_sms_consent) if facts else None
    decision = decide(
        enabled=policy.enabled, channel_allowed=channel in policy.channels,
        min_lead_score=policy.min_lead_score, lead_score=lead_score,
        suppressed=facts.suppressed if facts else False, lead_block=block,
        rules=rules, instant=at,
    )
    source = {z.timezone: z.source for z in zones}
    answers = [ZoneAnswer(z.timezone, source.get(z.timezone, "policy"), z.local_time, z.open)
               for z in decision.zones]
    if decision.allowed:
        return ContactAnswer(True, None, scope, lead_id, facts.phone if facts else None,
                             answers, decision.next_open_at)
    from valhalla_cli.services import refusals

    clocks = [refusals.ZoneClock(z.timezone, z.source, z.local_time, z.open) for z in answers]
    holiday = (refusals.holiday_name(policy.province, [c for c in clocks if not c.open])
               if decision.reason is Reason.HOLIDAY else None)
    closed = refusals.closed_zones(clocks) if decision.reason in HOURS_REASONS else []
    message = refusals.contact(
        decision.reason or "", channel=channel, province=policy.province,
        market=market, lead_id=lead_id, phone=facts.phone if facts else None, zones=clocks,
        next_open_at=decision.next_open_at, business_timezone=business_timezone, at=at,
        holiday=holiday, lead_score=lead_score, min_lead_score=policy.min_lead_score)
    return ContactAnswer(False, decision.reason, scope, lead_id,
                         facts.phone if facts else None, answers, decision.next_open_at,
                         closed, holiday, message)
