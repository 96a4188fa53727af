"""The lead registry: who a lead is, its number, the evidence that makes contact lawful.

Every contact decision (`market can-contact`, `ladder dispatch`, `lead show`, the HTTP API)
gets the lead's facts from `ContactFacts` here and its zones from `lead_contact_zones`, so the
rules below exist once:

- zones: a confirmed zone alone, else the policy's zones plus the area code's zones;
- suppression: by lead or by number (now or later); lifted for one lead only by an
  express consent given after the latest suppression that covers it;
- SMS (CASL): consent valid for SMS at that instant (`no_consent`);
- CALL (DNCL): an exemption, or a fresh list that does not hold the number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import utcnow
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_market, parse_province
from valhalla_cli.models import InboundMessage, Lead, LeadConsent
from valhalla_cli.models.types import pk, table_of, view_of
from valhalla_cli.phones import parse_phone
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.consent import (
    WITHDRAWAL,
    check_consent_channel,
    check_kind,
)
from valhalla_cli.services.contact_facts import (  # noqa: F401  (the lead pack's own names)
    CHUNK,
    LANGUAGES,
    LeadFacts,
    LeadRecord,
    ZoneSource,
    _check_text,
    _record,
    check_language,
    check_lead,
    default_language,
    facts_for,
    get_lead,
    lead_contact_zones,
    load_leads,
)
from valhalla_cli.services.contact_rules import check_zone

PACK = Pack.LEAD
KPI_INBOUND_REPLY = "inbound_reply"  # KPI: 1 per inbound text that is not a keyword


# ---------------------------------------------------------------------------------------------
# Registry: add (upsert), bulk upsert, list
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadFields:
    """Validated fields of an upsert; None means "not given" (left as it is)."""

    lead_id: str
    province: str | None = None
    phone: str | None = None
    market: str | None = None
    name: str | None = None
    language: str | None = None
    source: str | None = None
    timezone: str | None = None


FIELDS = ("phone", "name", "province", "market", "language", "timezone", "source")


def validate_fields(*, lead_id: str, province: str | None = None, phone: str | None = None,
                    market: str | None = None, name: str | None = None,
                    language: str | None = None, source: str | None = None,
                    timezone: str | None = None) -> LeadFields:
    return LeadFields(
        lead_id=check_lead(lead_id),
        province=parse_province(province) if province is not None else None,
        phone=parse_phone(phone) if phone is not None else None,
        market=parse_market(market) if market is not None and market.strip() not in ("", "*")
        else None,
        name=_check_text(name, "--name"),
        language=check_language(language) if language is not None else None,
        source=_check_text(source, "--source", 64),
        timezone=check_zone(timezone) if timezone is not None else None,
    )


@dataclass(frozen=True)
class UpsertResult:
    lead: LeadRecord
    created: bool
    changed: list[str]


def lock_leads(session: Session, lead_ids: Iterable[str]) -> None:
    """Serialise the writers of these lead ids until the transaction ends, so one that found
    no lead and creates it is never overtaken by another doing the same. A lock on the id,
    not on a row: the lead may not exist yet."""
    from valhalla_cli.db import lock_keys

    lock_keys(session, lead_ids)


def upsert_many(session: Session, items: list[LeadFields], *, at: datetime, actor: str,
                audit_each: bool = True) -> list[UpsertResult]:
    """Create or update leads; an update changes only the fields given. Audited (before ->
    after) one event per lead created or changed, or one summary event for bulk callers.
    New leads go in as one multi-row INSERT (bulk imports: no ORM object per row).

    The caller holds `lock_leads` on the ids: two callers creating the same new lead at once
    would otherwise both find nothing and the second would fail on the lead's key."""
    from sqlalchemy import insert

    from valhalla_cli.services import audit
    from valhalla_cli.services.inbox_tasks import refuse_wrong_number

    refuse_wrong_number(session, pairs=[(f.lead_id, f.phone) for f in items if f.phone])
    existing = {row.lead_id: row for i in range(0, len(items), CHUNK)
                for row in session.scalars(select(Lead).where(
                    col(Lead.lead_id).in_(sorted({f.lead_id for f in items[i:i + CHUNK]}))))}
    new: dict[str, dict[str, Any]] = {}
    results: list[UpsertResult] = []
    for item in items:
        row = existing.get(item.lead_id)
        given = {name: getattr(item, name) for name in FIELDS if getattr(item, name) is not None}
        if row is None and item.lead_id in new:  # the same lead twice in one batch
            values = new[item.lead_id]
            if item.province is not None and item.language is None \
                    and values["language"] == default_language(values["province"]):
                values["language"] = default_language(item.province)
            if same_market(values["market"], item.market):
                given.pop("market")
            values.update(given)
            results.append(UpsertResult(LeadRecord(**values), False, sorted(given)))
            continue
        if row is None:
            if item.province is None:
                raise BadInput(f"lead {item.lead_id!r} does not exist: --province is required "
                               "to create it")
            values = {"lead_id": item.lead_id, "phone": item.phone, "name": item.name,
                      "province": item.province, "market": item.market,
                      "language": item.language or default_language(item.province),
                      "timezone": item.timezone, "source": item.source,
                      "created_at": at, "updated_at": at}
            new[item.lead_id] = values
            results.append(UpsertResult(LeadRecord(**values), True, sorted(given)))
            continue
        before = _audit_view(row)
        if same_market(row.market, item.market):
            given.pop("market")  # the spelling written first stays: "Montreal" finds MONTRÉAL
        changed = [name for name, value in given.items() if getattr(row, name) != value]
        # the default language follows the province unless one was chosen
        if ("province" in changed and item.language is None
                and row.language == default_language(row.province)):
            row.language = default_language(item.province or row.province)
        for name in changed:
            setattr(row, name, given[name])
        if changed:
            row.updated_at = at
            if audit_each:
                audit.record(session, pack=PACK, action="update", actor=actor, at=at,
                             subject=item.lead_id, before=before, after=_audit_view(row))
        results.append(UpsertResult(_record(row), False, changed))
    session.flush()
    if new:
        session.execute(insert(table_of(Lead)), list(new.values()))
        if audit_each:
            for values in new.values():
                audit.record(session, pack=PACK, action="add", actor=actor, at=at,
                             subject=values["lead_id"],
                             after={name: values[name] for name in FIELDS})
    return results


def same_market(stored: str | None, given: str | None) -> bool:
    """Whether `given` is another spelling of the stored market (the same `market_key`): a
    spelling that finds the market never replaces the one written first (its accents)."""
    from valhalla_cli.inputs import market_key

    return stored is not None and given is not None and market_key(stored) == market_key(given)


def _audit_view(row: Lead) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


def add(session: Session, *, fields: LeadFields, at: datetime, actor: str) -> UpsertResult:
    """`lead add`: two operators adding the same new lead at once, the second updates it."""
    lock_leads(session, [fields.lead_id])
    return upsert_many(session, [fields], at=at, actor=actor)[0]


def upsert_view(result: UpsertResult) -> dict[str, Any]:
    """What `lead add` prints (and its HTTP twin answers): the lead, created, changed."""
    return {**result.lead.__dict__, "created": result.created, "changed": result.changed}


def list_leads(session: Session, *, province: str | None = None, market: str | None = None,
               limit: int = 100) -> list[LeadRecord]:
    query = select(Lead)
    if province is not None:
        query = query.where(col(Lead.province) == parse_province(province))
    if market is not None:
        query = query.where(col(Lead.market) == parse_market(market))
    return [_record(r) for r in session.scalars(query.order_by(col(Lead.lead_id)).limit(limit))]


# ---------------------------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentView:
    id: int
    lead_id: str
    kind: str
    channel: str
    given_at: datetime
    evidence: str | None
    actor: str
    suppression_lifted: bool = False
    tasks_cancelled: int = 0
    recorded_at: datetime | None = None  # when the row was written (the clock)


def _consent_view(row: LeadConsent, lifted: bool = False, cancelled: int = 0) -> ConsentView:
    return view_of(ConsentView, row, id=pk(row.id), suppression_lifted=lifted,
                   tasks_cancelled=cancelled)


def append_consents(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk append (imports and ladders): lead_id, kind, channel, given_at, recorded_at,
    evidence, actor."""
    if rows:
        from sqlalchemy import insert

        session.execute(insert(table_of(LeadConsent)), rows)


def record_consent(session: Session, *, lead_id: str, kind: str | None, channel: str | None,
                   evidence: str | None, withdraw: bool, at: datetime, actor: str,
                   business_timezone: str) -> ConsentView:
    """Append consent evidence, or a withdrawal (an opt-out: the lead and its number are
    suppressed and its tasks cancelled). An express consent given after a suppression lifts
    it for this lead (audited)."""
    from valhalla_cli.services import audit

    lead = get_lead(session, lead_id)
    if withdraw and kind is not None:
        raise BadInput("give either --kind or --withdraw, not both")
    if not withdraw and kind is None:
        raise BadInput("--kind is required (express, inquiry or business), or --withdraw")
    evidence_text = _check_text(evidence, "--evidence", 2000)
    if withdraw:
        row = LeadConsent(lead_id=lead.lead_id, kind=WITHDRAWAL, channel="all", given_at=at,
                          recorded_at=utcnow(), evidence=evidence_text, actor=actor)
        session.add(row)
        session.flush()
        from valhalla_cli.services.suppression import suppress

        suppression = suppress(session, lead_id=lead.lead_id, phone=None,
                               reason="consent withdrawn", actor=actor, at=at)
        audit.record(session, pack=PACK, action="withdraw", actor=actor, at=at,
                     subject=lead.lead_id, after={"consent_id": row.id})
        return _consent_view(row, False, suppression.tasks_cancelled)
    kind_name = check_kind(kind)
    channel_name = check_consent_channel(channel)
    was_suppressed = False
    if kind_name == "express":
        before, _ = facts_for(session, lead_ids=[lead.lead_id], at=at,
                              business_timezone=business_timezone)
        was_suppressed = before[lead.lead_id].suppressed
    row = LeadConsent(lead_id=lead.lead_id, kind=kind_name, channel=channel_name, given_at=at,
                      recorded_at=utcnow(), evidence=evidence_text, actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, pack=PACK, action="consent", actor=actor, at=at, subject=lead.lead_id,
                 after={"kind": kind_name, "channel": channel_name, "evidence": evidence_text})
    if was_suppressed:
        audit.record(session, pack=PACK, action="suppression_lifted", actor=actor, at=at,
                     subject=lead.lead_id, after={"consent_id": row.id},
                     reason="new express consent after the suppression")
    return _consent_view(row, was_suppressed)


# ---------------------------------------------------------------------------------------------
# Inbound messages (opt-outs and replies)
# ---------------------------------------------------------------------------------------------

OPT_OUT_WORDS = ("STOP", "ARRET", "UNSUBSCRIBE", "DESABONNER", "STOPALL", "END", "QUIT",
                 "CANCEL", "OPTOUT")
CONFIRMATIONS = {
    "en": "{business}: you will receive no more messages from us. Your number is on our "
          "do-not-contact list.",
    "fr": "{business} : vous ne recevrez plus de messages de notre part. Votre numéro est "
          "inscrit sur notre liste d'exclusion.",
}


def first_word_is_opt_out(body: str) -> bool:
    """STOP, ARRÊT/ARRET, DÉSABONNER ... as the first word, any case, accents optional."""
    import unicodedata

    words = body.strip().split()
    if not words:
        return False
    word = unicodedata.normalize("NFKD", words[0])
    word = "".join(c for c in word if not unicodedata.combining(c)).upper()
    word = "".join(c for c in word if c.isalnum())
    return word in OPT_OUT_WORDS


START_CONFIRMATIONS = {
    "en": "{business}: you are subscribed again and may receive our messages. Reply STOP to "
          "opt out.",
    "fr": "{business} : vous êtes de nouveau inscrit et pourriez recevoir nos messages. "
          "Répondez ARRÊT pour vous désabonner.",
}
HELP_ANSWERS = {
    "en": "{identity}. Reply STOP to opt out.",
    "fr": "{identity}. Répondez ARRÊT pour vous désabonner.",
}


@dataclass(frozen=True)
class InboundResult:
    action: str  # opted_out | opted_in | help | recorded
    phone: str
    lead_id: str | None  # the one lead with this number (null when none or several)
    lead_ids: list[str]
    tasks_cancelled: int
    reply: dict[str, str] = field(default_factory=dict)  # language -> text to send back
    tasks_paused: int = 0
    inbox_kind: str | None = None  # the kind of the lead's open item after this text


def _languages(leads: list[Lead]) -> list[str]:
    languages = {r.language for r in leads}
    return sorted(languages) if len(languages) == 1 else ["en", "fr"]


def inbound(session: Session, *, phone: str, body: str, at: datetime, actor: str,
            business_name: str | None, business_callback: str | None = None,
            business_website: str | None = None, business_timezone: str = "UTC",
            message_sid: str | None = None) -> InboundResult:
    """What a number texted back: an opt-out suppresses the number at once and cancels the
    tasks of its leads; START/UNSTOP from an opted-out number records express consent (which
    lifts the suppression); HELP/INFO/AIDE answers the identification; anything else is
    recorded (KPI `inbound_reply`), opens or joins each lead's inbox item and pauses its
    ladder."""
    from valhalla_cli.services import audit, inbox_rules, inbox_tasks, kpi, policies, suppression

    number = parse_phone(phone, option="--from")
    text = (body or "").strip()
    if not text:
        raise BadInput("--body must not be empty")
    if len(text) > 2000 or "\x00" in text:
        raise BadInput("--body must be at most 2000 characters")
    leads = list(session.scalars(select(Lead).where(col(Lead.phone) == number)
                                 .order_by(col(Lead.lead_id))))
    ids = [r.lead_id for r in leads]
    # One message row per lead with this number, or one with no lead when none has it.
    recipients: list[str | None] = [*ids] if ids else [None]
    name = business_name or "Valhalla"
    word = inbox_rules.first_word(text)
    help_language = inbox_rules.help_language(text)
    action = "recorded"
    if first_word_is_opt_out(text):
        action = "opted_out"
    elif help_language is not None:
        action = "help"
    elif inbox_rules.is_start(text) and ids:
        facts, _ = facts_for(session, lead_ids=ids, at=at, business_timezone=business_timezone,
                             leads={r.lead_id: _record(r) for r in leads})
        if any(facts[lead_id].suppressed for lead_id in ids):
            action = "opted_in"
    # A number that texts us can receive texts: a provider's "not textable" no longer holds.
    from valhalla_cli.services.sending.ledger import lift_not_textable

    lift_not_textable(session, phone=number)
    for lead_id in recipients:
        session.add(InboundMessage(phone=number, lead_id=lead_id, body=text, action=action,
                                   received_at=at, actor=actor))
    session.flush()
    cancelled = paused = 0
    reply: dict[str, str] = {}
    kind = None
    if action == "opted_out":
        result = suppression.suppress_number(session, phone=number,
                                             reason=f"inbound: {text[:40]}", actor=actor, at=at)
        cancelled = result.tasks_cancelled
        reply = {lang: CONFIRMATIONS[lang].format(business=name) for lang in _languages(leads)}
    elif action == "opted_in":
        evidence = (f"keyword {word} texted from {number}"
                    + (f", provider message {message_sid}" if message_sid else "")
                    + f" at {at.isoformat()}")
        for lead_id in ids:
            record_consent(session, lead_id=lead_id, kind="express", channel="SMS",
                           evidence=evidence, withdraw=False, at=at, actor=actor,
                           business_timezone=business_timezone)
        reply = {lang: START_CONFIRMATIONS[lang].format(business=name)
                 for lang in _languages(leads)}
    elif action == "help" and help_language is not None:
        identity = " ".join(part for part in (name, business_callback, business_website)
                            if part)
        reply = {help_language: HELP_ANSWERS[help_language].format(identity=identity)}
    else:
        first = leads[0] if leads else None
        kpi.emit(session, metric=KPI_INBOUND_REPLY, value=1, at=at,
                 province=first.province if first else None,
                 market=first.market if first else None, ref=number, source="lead inbound")
        for lead in leads:
            zones = [lead.timezone] if lead.timezone else policies.effective_policy(
                session, province=lead.province, market=lead.market).timezones
            item = inbox_tasks.receive(session, lead=lead, text=text, at=at, actor=actor,
                                       zone=zones[0] if zones else "America/Toronto")
            kind = item.kind
    session.flush()
    if action == "recorded" and ids:
        paused = _count_paused(session, ids)
    audit.record(session, pack=PACK, action="inbound", actor=actor, at=at, subject=number,
                 after={"action": action, "lead_ids": ids, "tasks_cancelled": cancelled})
    return InboundResult(action, number, ids[0] if len(ids) == 1 else None, ids, cancelled,
                         reply, paused, kind)


def _count_paused(session: Session, lead_ids: list[str]) -> int:
    from valhalla_cli.models import FollowupTask

    return sum(1 for status in session.scalars(
        select(col(FollowupTask.status)).where(col(FollowupTask.lead_id).in_(lead_ids)))
        if status == "paused")
