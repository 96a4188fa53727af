"""`lead show`: the lead with everything about it, composed from the packs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import NotFound
from valhalla_cli.models import ContactSuppression, InboundMessage, LeadConsent
from valhalla_cli.models.types import view_of
from valhalla_cli.services.contact_facts import LeadRecord, facts_for, get_lead
from valhalla_cli.services.lead import ConsentView, _consent_view

# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InboundView:
    received_at: datetime
    phone: str
    body: str
    action: str


@dataclass(frozen=True)
class ChannelContact:
    channel: str
    allowed: bool
    reason: str | None
    message: str | None = None  # the "no" in words, with its next step


@dataclass(frozen=True)
class LeadShow:
    lead: LeadRecord
    consents: list[ConsentView]
    dncl: dict[str, Any] | None
    suppressions: list[Any]
    suppressed: bool
    ladders: list[Any]
    inbound: list[InboundView]
    contact: list[ChannelContact]
    messages: list[Any]  # the texts sent to the lead (`valhalla send`), oldest first
    # inbound and outbound texts in time order (`inbox show`'s conversation), and the inbox item
    conversation: list[Any] = field(default_factory=list)
    inbox: Any = None
    calls: list[Any] = field(default_factory=list)  # calls placed at the call desk, oldest first


def show(session: Session, *, lead_id: str, at: datetime, business_timezone: str) -> LeadShow:
    from valhalla_cli.services import dncl, ladder, market, suppression

    lead = get_lead(session, lead_id)
    consents = [_consent_view(r) for r in session.scalars(
        select(LeadConsent).where(col(LeadConsent.lead_id) == lead.lead_id)
        .order_by(col(LeadConsent.given_at), col(LeadConsent.id)))]
    status = None
    if lead.phone:
        found = dncl.check_number(session, phone=lead.phone, at=at,
                                  business_timezone=business_timezone)
        status = {"number": found.number, "area_code": found.area_code, "status": found.status,
                  "as_of": found.as_of}
    s = ContactSuppression
    covering = [col(s.lead_id) == lead.lead_id] + (
        [col(s.phone) == lead.phone] if lead.phone else [])
    suppressions = suppression.suppression_views(session, select(s).where(or_(*covering))
                                            .order_by(col(s.at), col(s.id)))
    facts, _ = facts_for(session, lead_ids=[lead.lead_id], at=at,
                         business_timezone=business_timezone)
    try:
        ladders = ladder.show(session, lead_id=lead.lead_id)
    except NotFound:
        ladders = []
    inbound_rows = [view_of(InboundView, r) for r in session.scalars(
        select(InboundMessage).where(col(InboundMessage.lead_id) == lead.lead_id)
        .order_by(col(InboundMessage.received_at), col(InboundMessage.id)))]
    contact = []
    for channel in ("SMS", "CALL"):
        answer = market.can_contact(session, province=None, market=None, channel=channel, at=at,
                                    lead_id=lead.lead_id, business_timezone=business_timezone,
                                    score_optional=True)
        contact.append(ChannelContact(channel, answer.allowed, answer.reason, answer.message))
    from valhalla_cli.services import inbox
    from valhalla_cli.services.desk import calls_of_lead
    from valhalla_cli.services.sending.ledger import messages_of_lead

    talk = inbox.show(session, lead_id=lead.lead_id, at=at)
    return LeadShow(lead, consents, status, suppressions, facts[lead.lead_id].suppressed,
                    ladders, inbound_rows, contact, messages_of_lead(session, lead.lead_id),
                    talk.conversation, talk.item, calls_of_lead(session, lead.lead_id))


def as_data(view: LeadShow) -> dict[str, Any]:
    """What `lead show` prints (and its HTTP twin answers)."""
    return {**view.lead.__dict__, "consents": view.consents, "dncl": view.dncl,
            "suppressed": view.suppressed, "suppressions": view.suppressions,
            "ladders": view.ladders, "inbound": view.inbound, "contact": view.contact,
            "messages": view.messages, "conversation": view.conversation,
            "inbox": view.inbox, "calls": view.calls}
