"""What every contact decision needs to know about a lead, read in batches.

`facts_for` and `lead_contact_zones` are the one place the lead rules are evaluated
(`market can-contact`, `ladder dispatch`, `lead show`, the HTTP API): zones, suppression by
lead or number lifted only by a later express consent, CASL consent for SMS and the DNCL
exemption or fresh check for calls. Imports no other pack's service, so
market, ladder and lead can all depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_lead_id, parse_text
from valhalla_cli.models import ContactSuppression, Lead, LeadConsent
from valhalla_cli.models.types import view_of
from valhalla_cli.phones import area_code_zones
from valhalla_cli.services.consent import ConsentRecord, consent_covers, outweighs
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.vocabulary import LANGUAGES

CHUNK = 500


def check_lead(lead_id: str | None, *, option: str = "LEAD") -> str:
    """The shared lead-id parser (inputs.parse_lead_id), named by its option."""
    return parse_lead_id(lead_id, field=option)


def check_language(value: str | None, *, option: str = "--language") -> str:
    language = (value or "").strip().lower()
    if language not in LANGUAGES:
        raise BadInput(f"{option} must be en or fr, not {value!r}")
    return language


def default_language(province: str) -> str:
    """Quebec expects French (Charter of the French Language); elsewhere English."""
    return "fr" if province == "QC" else "en"


def _check_text(value: str | None, option: str, limit: int = 200) -> str | None:
    if value is None or not str(value).strip():
        return None
    return parse_text(str(value), field=option, max_length=limit) or None


# ---------------------------------------------------------------------------------------------
# Read models
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadRecord:
    lead_id: str
    phone: str | None
    name: str | None
    province: str
    market: str | None
    language: str
    timezone: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


def _record(row: Lead) -> LeadRecord:
    return view_of(LeadRecord, row)


@dataclass(frozen=True)
class ZoneSource:
    timezone: str
    source: str  # confirmed | policy | area_code


def lead_contact_zones(*, policy_zones: Iterable[str], phone: str | None,
                       confirmed_timezone: str | None) -> list[ZoneSource]:
    """The zones a contact must be open in: the confirmed zone alone, otherwise the
    policy's zones plus those of the phone's area code (fail closed when unsure)."""
    if confirmed_timezone:
        return [ZoneSource(confirmed_timezone, "confirmed")]
    zones = [ZoneSource(z, "policy") for z in policy_zones]
    seen = {z.timezone for z in zones}
    for name in area_code_zones(phone):
        if name not in seen:
            zones.append(ZoneSource(name, "area_code"))
            seen.add(name)
    return zones


@dataclass
class LeadFacts:
    """What the contact rules need to know about one lead (or a bare number) at one instant."""

    lead: LeadRecord | None
    phone: str | None
    suppressed: bool = False
    sms_consent: bool = False
    call_exempt: bool = False
    dncl_status: str | None = None  # listed | not_listed | not_checked (None: no phone)
    dncl_as_of: Any = None
    not_textable: bool = False  # a provider said the number cannot receive texts

    def block(self, channel: str, *, require_sms_consent: bool) -> Reason | None:
        """The first number/consent reason against contacting on `channel`, or None (the
        suppression is its own fact: `decide` weighs it before these)."""
        if not self.phone:
            return Reason.NO_PHONE
        if channel == "SMS" and self.not_textable:
            return Reason.NOT_TEXTABLE
        if channel == "SMS":
            return Reason.NO_CONSENT if require_sms_consent and not self.sms_consent else None
        if self.call_exempt:
            return None
        if self.dncl_status == "listed":
            return Reason.DNCL_LISTED
        if self.dncl_status != "not_listed":
            return Reason.DNCL_NOT_CHECKED
        return None


def load_leads(session: Session, lead_ids: Iterable[str]) -> dict[str, LeadRecord]:
    ids = sorted(set(lead_ids))
    found: dict[str, LeadRecord] = {}
    for i in range(0, len(ids), CHUNK):
        for row in session.scalars(select(Lead).where(col(Lead.lead_id).in_(ids[i:i + CHUNK]))):
            found[row.lead_id] = _record(row)
    return found


def _consents(session: Session, lead_ids: list[str]) -> dict[str, list[ConsentRecord]]:
    found: dict[str, list[ConsentRecord]] = {}
    for i in range(0, len(lead_ids), CHUNK):
        rows = session.execute(select(col(LeadConsent.lead_id), col(LeadConsent.kind),
                                      col(LeadConsent.channel), col(LeadConsent.given_at),
                                      col(LeadConsent.recorded_at))
                               .where(col(LeadConsent.lead_id).in_(lead_ids[i:i + CHUNK])))
        for lead, kind, channel, given_at, recorded_at in rows:
            found.setdefault(lead, []).append(ConsentRecord(kind, channel, given_at,
                                                            recorded_at))
    return found


Marks = tuple[datetime, datetime]  # the latest suppression instant, the latest recorded


def _later(mark: Marks | None, at: datetime, recorded: datetime) -> Marks:
    return (at, recorded) if mark is None else (max(mark[0], at), max(mark[1], recorded))


def _suppressions(session: Session, lead_ids: list[str], phones: list[str]
                  ) -> tuple[dict[str, Marks], dict[str, Marks]]:
    """Per lead id and per phone: the latest suppression instant and the latest instant a
    suppression was recorded."""
    by_lead: dict[str, Marks] = {}
    by_phone: dict[str, Marks] = {}
    s = ContactSuppression
    for i in range(0, max(len(lead_ids), len(phones)), CHUNK):
        leads, nums = lead_ids[i:i + CHUNK], phones[i:i + CHUNK]
        conditions = []
        if leads:
            conditions.append(col(s.lead_id).in_(leads))
        if nums:
            conditions.append(col(s.phone).in_(nums))
        for lead, phone, at, recorded in session.execute(
                select(col(s.lead_id), col(s.phone), col(s.at), col(s.recorded_at))
                .where(or_(*conditions))):
            if lead is not None and lead in leads:
                by_lead[lead] = _later(by_lead.get(lead), at, recorded)
            if phone is not None and phone in nums:
                by_phone[phone] = _later(by_phone.get(phone), at, recorded)
    return by_lead, by_phone


def facts_for(session: Session, *, lead_ids: Iterable[str] = (), phones: Iterable[str] = (),
              at: datetime, business_timezone: str, leads: dict[str, LeadRecord] | None = None,
              dncl_lookup: Any = None) -> tuple[dict[str, LeadFacts], dict[str, LeadFacts]]:
    """Facts for many leads and bare numbers at one instant, in a few indexed IN queries per
    500 (the dispatch batch): leads, consents, suppressions, DNCL probes."""
    from valhalla_cli.services.dncl import DnclLookup

    ids = sorted(set(lead_ids))
    leads = leads if leads is not None else load_leads(session, ids)
    bare = sorted(set(phones))
    all_phones = sorted({r.phone for r in leads.values() if r.phone} | set(bare))
    consents = _consents(session, ids)
    by_lead, by_phone = _suppressions(session, ids, all_phones)
    lookup = dncl_lookup or DnclLookup(session, at, business_timezone)
    statuses = lookup.statuses(set(all_phones))
    untextable = _not_textable(session, all_phones, at)

    def suppressed(lead_id: str | None, phone: str | None, records: list[ConsentRecord]
                   ) -> bool:
        marks = [m for m in (by_lead.get(lead_id) if lead_id else None,
                             by_phone.get(phone) if phone else None) if m is not None]
        if not marks:
            return False
        latest = max(m[0] for m in marks)
        recorded = max(m[1] for m in marks)
        # Only an express consent given after the suppression, and recorded after it was, lifts
        # it (for this lead): a consent dated in the future must not undo a later STOP.
        return not any(r.kind == "express" and r.given_at <= at
                       and outweighs(r, latest, recorded) for r in records)

    def facts(lead: LeadRecord | None, lead_id: str | None, phone: str | None) -> LeadFacts:
        records = consents.get(lead_id, []) if lead_id else []
        status = statuses.get(phone) if phone else None
        return LeadFacts(
            lead=lead, phone=phone, suppressed=suppressed(lead_id, phone, records),
            sms_consent=consent_covers(records, "SMS", at, business_timezone),
            call_exempt=consent_covers(records, "CALL", at, business_timezone),
            dncl_status=status.status if status else None,
            dncl_as_of=status.as_of if status else None,
            not_textable=phone in untextable if phone else False)

    per_lead = {lead_id: facts(leads.get(lead_id), lead_id,
                               leads[lead_id].phone if lead_id in leads else None)
                for lead_id in ids}
    per_phone = {phone: facts(None, None, phone) for phone in bare}
    return per_lead, per_phone


def _not_textable(session: Session, phones: list[str], at: datetime) -> set[str]:
    """The numbers a provider said cannot receive texts, as of `at`."""
    from valhalla_cli.models.sending import PhoneStatus

    found: set[str] = set()
    for i in range(0, len(phones), CHUNK):
        found.update(session.scalars(select(col(PhoneStatus.number)).where(
            col(PhoneStatus.number).in_(phones[i:i + CHUNK]), col(PhoneStatus.since) <= at)))
    return found


def get_lead(session: Session, lead_id: str) -> LeadRecord:
    lead = check_lead(lead_id)
    row = session.scalars(select(Lead).where(col(Lead.lead_id) == lead)).first()
    if row is None:
        raise NotFound(f"no lead {lead!r} (create it with: valhalla lead add {lead} "
                       "--province P)")
    return _record(row)
