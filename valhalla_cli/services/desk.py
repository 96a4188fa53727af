"""The call desk: a caller's queue, the next call (the dispatch claim) and its lead card, the
contact decision at the moment of the call, dispositions (`ladder complete` with the claim
token), and calls placed through the provider with their statuses.

Every rule here is another pack's, called, not copied: which calls a caller may be handed is
dispatch's (its eligibility, its claim, its lease); whether a call is allowed now is
`market can-contact`'s; a disposition is `ladder complete`'s; the conversation is the inbox's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import dialect_name
from valhalla_cli.errors import BadInput, NotFound, Refused
from valhalla_cli.models import ApiToken, Call, CallEvent, FollowupTask
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.vocabulary import DESK_DISPOSITIONS

PACK = "desk"
CHANNEL = "CALL"
# The page's disposition buttons, in the order of its keys 1-7.
DISPOSITIONS = DESK_DISPOSITIONS
DO_NOT_CALL = "do_not_call"
OVERDUE_AFTER = timedelta(hours=2)
QUEUE_LIMIT = 100
# Candidates Next call reads at a time: it claims one call for a caller who waits, inside the
# one write transaction SQLite allows, so it reads (and judges) a few, not a cron run's batch.
NEXT_BATCH = 8
# The CRTC's retention of an internal do-not-call entry: 3 years and 14 days.
KEPT_YEARS, KEPT_DAYS = 3, 14
# Twilio's call statuses, in the order a call goes through them; the last five are final.
CALL_RANKS = {"requesting": 0, "queued": 1, "initiated": 2, "ringing": 3, "in-progress": 4,
              "completed": 5, "busy": 5, "no-answer": 5, "failed": 5, "canceled": 5}
FINAL_RANK = 5
IN_PROGRESS = tuple(status for status, rank in CALL_RANKS.items() if rank < FINAL_RANK)
BRIDGE_PATH = "/api/webhooks/voice/bridge"
STATUS_PATH = "/api/webhooks/voice/status"


def worker_of(token_name: str) -> str:
    """The `claimed_by` of a desk claim: the token that holds the card."""
    return f"desk:{token_name}"


def check_disposition(outcome: str | None) -> str:
    value = (outcome or "").strip().lower()
    if value not in DISPOSITIONS:
        raise BadInput(f"outcome must be one of {', '.join(DISPOSITIONS)}, not {outcome!r}")
    return value


def kept_until(suppressed_on: date) -> date:
    """The last day an internal do-not-call entry must be kept: 3 years and 14 days later."""
    from valhalla_cli.services.consent import add_months

    return add_months(suppressed_on, 12 * KEPT_YEARS) + timedelta(days=KEPT_DAYS)


# ---------------------------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueuedCall:
    task_id: int
    lead_id: str
    name: str | None
    owner: str | None
    step: int
    due_at: datetime
    overdue: bool
    attempt: int


@dataclass(frozen=True)
class InboxEntry:
    lead_id: str
    name: str | None
    kind: str
    waiting_minutes: float | None
    last_text: str
    deadline: datetime | None
    conversation: list[Any]


@dataclass(frozen=True)
class DeskQueue:
    owner: str | None
    calls: list[QueuedCall]
    due: int
    overdue: int
    inbox: list[InboxEntry]


def _claims(session: Session, *, owner: str | None, at: datetime, settings: Any, limit: int,
            dry_run: bool, worker: str = "desk", min_batch: int = 50) -> Any:
    """Dispatch itself, for CALL tasks: the owner's first, then the unowned ones."""
    from valhalla_cli.services import ladder, template

    config = ladder.ladder_config(settings.ladder)
    results: list[Any] = []
    for owners in ([(owner,), (None,)] if owner is not None else [(None,)]):
        result = ladder.dispatch(session, at=at, limit=limit - len(results),
                                 lease=config.lease, worker=worker,
                                 config=config, dry_run=dry_run,
                                 enforce=settings.golive_enforce, actor=settings.actor,
                                 business_timezone=settings.business_timezone,
                                 identification=template.identification_of(settings),
                                 check_controls=not dry_run, channel=CHANNEL, owners=owners,
                                 min_batch=min_batch)
        if result.refused:
            return result, []
        results.extend(result.tasks)
        if len(results) >= limit:
            break
    return None, results[:limit]


def queue(session: Session, *, owner: str | None, at: datetime, settings: Any,
          limit: int = QUEUE_LIMIT) -> DeskQueue:
    """The calls dispatch would hand this owner now (its own, then unowned ones), how many are
    due and overdue (more than 2 h past due), and the owner's open inbox items."""
    from valhalla_cli.inputs import parse_text
    from valhalla_cli.services import inbox
    from valhalla_cli.services.contact_facts import load_leads

    owner = parse_text(owner, field="--owner")
    _, claims = _claims(session, owner=owner, at=at, settings=settings, limit=limit,
                        dry_run=True)
    leads = load_leads(session, {c.lead_id for c in claims})
    calls = [QueuedCall(c.task_id, c.lead_id, leads[c.lead_id].name if c.lead_id in leads
                        else None, c.owner, c.step, c.due_at, at - c.due_at > OVERDUE_AFTER,
                        c.attempt - 1) for c in claims]
    items = inbox.list_items(session, owner=owner, kind=None, all_items=False, limit=100,
                             at=at) if owner is not None else []
    entries = [InboxEntry(i.lead_id, i.name, i.kind, i.waiting_minutes, i.last_text, i.deadline,
                          inbox.conversation(session, lead_id=i.lead_id, at=at))
               for i in items]
    return DeskQueue(owner, calls, len(calls), sum(1 for c in calls if c.overdue), entries)


# ---------------------------------------------------------------------------------------------
# The card
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalTime:
    timezone: str
    source: str  # confirmed | policy | area_code
    local_time: str


@dataclass(frozen=True)
class HistoryEntry:
    kind: str  # attempt (a ladder task) | call (a call placed through the provider)
    at: datetime
    task_id: int
    step: int | None
    channel: str
    status: str
    outcome: str | None = None
    attempt: int | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Card:
    task_id: int
    claim_token: str | None
    lead_id: str
    name: str | None
    to: str | None
    language: str
    local_times: list[LocalTime]
    allowed_because: dict[str, Any] | None
    script: str
    history: list[HistoryEntry]
    conversation: list[Any]
    step: int
    owner: str | None
    due_at: datetime
    lease_expires_at: datetime | None
    attempt: int
    tel: str | None = None  # the number as a tel: link


@dataclass(frozen=True)
class NextResult:
    """What Next call answers: the card (claimed now, or the one the token holds), or None."""

    task: Card | None


def _task(session: Session, task_id: int, *, lock: bool = False) -> FollowupTask:
    if task_id < 1:
        raise BadInput(f"task id must be a positive whole number, not {task_id}")
    query = select(FollowupTask).where(col(FollowupTask.id) == task_id)
    if lock:
        query = query.with_for_update()
    task = session.scalars(query).first()
    if task is None:
        raise NotFound(f"no follow-up task {task_id}")
    if task.channel != CHANNEL:
        raise BadInput(f"task {task_id} is a {task.channel} step, not a call")
    return task


def script(*, language: str, caller: str, business: str | None, callback: str | None,
           name: str | None) -> str:
    """What the caller says first (the CRTC's identification): who calls, for which business,
    and a number that reaches it, in the lead's language."""
    business = business or "(business name not configured)"
    callback = callback or "(callback number not configured)"
    if language == "fr":
        hello = f"Bonjour {name}" if name else "Bonjour"
        return (f"{hello}, ici {caller}, de {business}. Vous pouvez nous joindre au "
                f"{callback}.")
    hello = f"Hello {name}" if name else "Hello"
    return f"{hello}, this is {caller} calling from {business}. You can reach us at {callback}."


def allowed_because(session: Session, *, lead_id: str, phone: str | None, at: datetime,
                    business_timezone: str) -> dict[str, Any] | None:
    """Why a call is lawful now: the consent that exempts it from the DNCL (its kind and date),
    or the DNCL copy the number was checked against (its date); None when neither holds. The
    same consent rule (`consent_covers`) and DNCL check the contact decision uses."""
    from valhalla_cli.models import LeadConsent
    from valhalla_cli.services import dncl
    from valhalla_cli.services.consent import WITHDRAWAL, ConsentRecord, consent_covers

    rows = list(session.execute(
        select(col(LeadConsent.kind), col(LeadConsent.channel), col(LeadConsent.given_at),
               col(LeadConsent.recorded_at), col(LeadConsent.evidence))
        .where(col(LeadConsent.lead_id) == lead_id)
        .order_by(col(LeadConsent.given_at).desc())))
    withdrawals = [ConsentRecord(r.kind, r.channel, r.given_at, r.recorded_at)
                   for r in rows if r.kind == WITHDRAWAL]
    for row in rows:
        record = ConsentRecord(row.kind, row.channel, row.given_at, row.recorded_at)
        if row.kind != WITHDRAWAL and consent_covers([record, *withdrawals], CHANNEL, at,
                                                      business_timezone):
            return {"basis": "consent", "consent": row.kind, "given_at": row.given_at,
                    "evidence": row.evidence}
    if phone:
        found = dncl.check_number(session, phone=phone, at=at,
                                  business_timezone=business_timezone)
        if found.status == "not_listed":
            return {"basis": "dncl", "dncl_status": found.status, "dncl_as_of": found.as_of}
    return None


def history(session: Session, *, lead_id: str, before_task: int | None = None
            ) -> list[HistoryEntry]:
    """The lead's earlier attempts (finished tasks, and tasks claimed before) and its calls,
    in time order."""
    entries = []
    for task in session.scalars(select(FollowupTask).where(
            col(FollowupTask.lead_id) == lead_id)):
        if task.id == before_task and task.completed_at is None:
            continue
        if task.completed_at is None and task.attempt == 0:
            continue  # never tried yet
        entries.append(HistoryEntry("attempt", task.completed_at or task.claimed_at
                                    or task.due_at, pk(task.id), task.step, task.channel,
                                    task.status, task.outcome, task.attempt))
    for call in calls_of_lead(session, lead_id):
        entries.append(HistoryEntry("call", call.created_at, call.task_id, None, CHANNEL,
                                    call.status, None, None, call.duration_seconds))
    return sorted(entries, key=lambda e: (e.at, e.kind, e.task_id))


def card(session: Session, *, task: FollowupTask, claim_token: str | None, caller: str,
         at: datetime, settings: Any) -> Card:
    """The lead card of a claimed call task."""
    from valhalla_cli.services import inbox, policies
    from valhalla_cli.services.contact_facts import (
        default_language,
        lead_contact_zones,
        load_leads,
    )
    from valhalla_cli.tz import zone

    lead = load_leads(session, [task.lead_id]).get(task.lead_id)
    language = lead.language if lead is not None else default_language(task.province)
    phone = lead.phone if lead is not None else None
    policy = policies.effective_policy(session,
                                       province=lead.province if lead else task.province,
                                       market=lead.market if lead else task.market)
    # The zones the contact decision judges the call in, each with its wall clock.
    zones = lead_contact_zones(policy_zones=policy.timezones, phone=phone,
                               confirmed_timezone=lead.timezone if lead else None)
    return Card(
        task_id=pk(task.id), claim_token=claim_token, lead_id=task.lead_id,
        name=lead.name if lead else None, to=phone, language=language,
        local_times=[LocalTime(z.timezone, z.source, at.astimezone(zone(z.timezone))
                               .isoformat(timespec="seconds")) for z in zones],
        allowed_because=allowed_because(session, lead_id=task.lead_id, phone=phone, at=at,
                                        business_timezone=settings.business_timezone),
        script=script(language=language, caller=caller, business=settings.business_name,
                      callback=settings.business_callback, name=lead.name if lead else None),
        history=history(session, lead_id=task.lead_id, before_task=pk(task.id)),
        conversation=inbox.conversation(session, lead_id=task.lead_id, at=at),
        step=task.step, owner=task.owner, due_at=task.due_at,
        lease_expires_at=task.lease_expires_at, attempt=task.attempt,
        tel=f"tel:{phone}" if phone else None)


def _held(session: Session, token_name: str) -> FollowupTask | None:
    """The card this token holds: a call task it claimed that has no disposition yet (a lease
    that ran out still counts until someone else claims the task)."""
    return session.scalars(
        select(FollowupTask).where(col(FollowupTask.status) == "claimed",
                                   col(FollowupTask.claimed_by) == worker_of(token_name),
                                   col(FollowupTask.channel) == CHANNEL)
        .order_by(col(FollowupTask.claimed_at).desc(), col(FollowupTask.id))).first()


@dataclass(frozen=True)
class Claimed:
    """The call task a caller holds after Next call: claimed now, or held since an earlier
    Next (same claim token)."""

    task_id: int
    claim_token: str | None


def claim_next(session: Session, *, token_name: str, owner: str | None, at: datetime,
               settings: Any) -> Claimed | None:
    """The write of Next call: the card its token already holds, or the dispatch claim of the
    first call dispatch would hand this owner now (its own, then unowned ones); None when
    nothing is due. Refused (reason as dispatch's) when dispatch would be: not live, kill
    switch, throttled. The card is read afterwards (`next_card`), outside the write."""
    if dialect_name(session) == "postgresql":
        # Two requests of one token at once must not both claim: they queue on its row.
        session.execute(select(col(ApiToken.id)).where(col(ApiToken.name) == token_name)
                        .with_for_update())
    held = _held(session, token_name)
    if held is not None:
        return Claimed(pk(held.id), held.claim_token)
    refused, claims = _claims(session, owner=owner, at=at, settings=settings, limit=1,
                              dry_run=False, worker=worker_of(token_name),
                              min_batch=NEXT_BATCH)
    if refused is not None:
        raise Refused(refused.message or "not dispatching", reason=refused.reason or "refused")
    if not claims:
        return None
    return Claimed(claims[0].task_id, claims[0].claim_token)


def next_card(session: Session, claimed: Claimed | None, *, caller: str, at: datetime,
              settings: Any) -> NextResult:
    """What Next call answers for a claim: its lead card, or no task."""
    if claimed is None:
        return NextResult(None)
    return NextResult(card(session, task=_task(session, claimed.task_id),
                           claim_token=claimed.claim_token, caller=caller, at=at,
                           settings=settings))


def next_call(session: Session, *, token_name: str, owner: str | None, at: datetime,
              settings: Any) -> NextResult:
    """Next call in one transaction: the claim (`claim_next`), then its card."""
    claimed = claim_next(session, token_name=token_name, owner=owner, at=at, settings=settings)
    return next_card(session, claimed, caller=token_name, at=at, settings=settings)


def check(session: Session, *, task_id: int, at: datetime, business_timezone: str) -> Any:
    """The contact decision for the task's lead, by call, now: `market can-contact`'s answer."""
    from valhalla_cli.services import market
    from valhalla_cli.services.contact_facts import load_leads

    task = _task(session, task_id)
    known = task.lead_id in load_leads(session, [task.lead_id])
    return market.can_contact(session, province=None if known else task.province,
                              market=None if known else task.market, channel=CHANNEL, at=at,
                              lead_id=task.lead_id, business_timezone=business_timezone,
                              lead_score=task.lead_score, score_optional=True)


# ---------------------------------------------------------------------------------------------
# Dispositions
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DispositionResult:
    """The `ladder complete` answer (plus `suppressed_on` and `kept_until` for do_not_call) and
    its refusal (a lost lease, a finished task)."""

    answer: dict[str, Any]
    refusal: Refusal | None


def disposition(session: Session, *, task_id: int, claim_token: str | None, outcome: str,
                note: str | None, at: datetime, actor: str, settings: Any) -> DispositionResult:
    """`ladder complete` with the claim token: `do_not_call` is outcome `opt_out` (the number
    is suppressed at once) and its answer adds the day it was added to the do-not-call list
    and the last day the entry is kept. A stale token is refused ("lease lost"), nothing
    recorded."""
    from valhalla_cli.clock import business_date
    from valhalla_cli.services import ladder

    chosen = check_disposition(outcome)
    if claim_token is None or not str(claim_token).strip():
        raise BadInput("claim_token is required (the token `next` answered with the card)")
    _task(session, task_id)
    result = ladder.complete(session, task_id=task_id,
                             outcome="opt_out" if chosen == DO_NOT_CALL else chosen,
                             claim_token=claim_token, note=note, at=at, actor=actor,
                             config=ladder.ladder_config(settings.ladder))
    data = asdict(result)
    if result.reason is None and chosen == DO_NOT_CALL:
        day = business_date(at, settings.business_timezone)
        data["suppressed_on"] = day
        data["kept_until"] = kept_until(day)
    return DispositionResult(data, result.refusal)


# ---------------------------------------------------------------------------------------------
# Calls through the provider
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallResult:
    task_id: int
    call_id: int | None
    sid: str | None
    status: str
    to: str | None  # the lead's number, dialled once the caller answers
    caller_phone: str | None  # rung first
    from_number: str | None
    reason: str | None = None
    message: str | None = None
    tel: str | None = None
    contact: Any = None  # the contact decision's answer when it said no
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def refusal(self) -> Refusal | None:
        """The decision's no, a lost lease, no voice set up, or the provider refusing."""
        if self.reason is None:
            return None
        return Refusal(self.reason, self.message or self.reason)


def voice_missing(settings: Any, caller_phone: str | None) -> str | None:
    """What calling through the business number lacks for this caller (None: nothing, the desk
    offers the provider's bridge instead of a tel: link)."""
    twilio = settings.twilio
    if not twilio.voice_from:
        return "[twilio] voice_from"
    if not caller_phone:
        return "a phone on this token (valhalla api token create NAME --phone N)"
    if not twilio.account_sid or not twilio.auth_token:
        return "[twilio] account_sid and auth_token"
    return None


def place_call(session: Session, *, task_id: int, claim_token: str | None, token_name: str,
               owner: str | None, caller_phone: str | None, at: datetime, settings: Any,
               base_url: str) -> CallResult:
    """Ring the caller's phone through the provider, then (the bridge's TwiML) the lead with the
    business's number as caller id. The contact decision is made here, at the moment of the
    call; a stale claim token, a "no" or a desk without voice is refused with the reason."""
    from valhalla_cli.services.sending.provider import Twilio

    if claim_token is None or not str(claim_token).strip():
        raise BadInput("claim_token is required (the token `next` answered with the card)")
    task = _task(session, task_id, lock=True)
    lead_phone = None
    from valhalla_cli.services.contact_facts import load_leads

    lead = load_leads(session, [task.lead_id]).get(task.lead_id)
    lead_phone = lead.phone if lead is not None else None
    tel = f"tel:{lead_phone}" if lead_phone else None
    voice_from = settings.twilio.voice_from

    def no(reason: str, message: str, **more: Any) -> CallResult:
        return CallResult(pk(task.id), None, None, "not_called", lead_phone, caller_phone,
                          voice_from, reason, message, **more)

    if task.status != "claimed" or task.claim_token != claim_token:
        return no("lease_lost", f"task {task_id}: lease lost (the claim token is not the "
                  "task's current one); nothing changed")
    answer = check(session, task_id=task_id, at=at,
                   business_timezone=settings.business_timezone)
    if not answer.allowed:
        return no(answer.reason or "not_allowed", answer.message or "the call is not allowed "
                  "now", contact=answer)
    missing = voice_missing(settings, caller_phone)
    if missing is not None:
        return no("voice_not_configured", f"calls through the business number need {missing}; "
                  "call with the tel: link instead", tel=tel)
    # A double click (or a retry while the first request waits on the provider) queues on the
    # task's lock and then finds the first call: the caller's phone rings once. A call whose
    # end the provider never reported holds only this claim; the tel: link still works.
    ongoing = session.scalars(select(Call).where(
        col(Call.task_id) == pk(task.id), col(Call.status).in_(IN_PROGRESS),
        col(Call.created_at) >= task.claimed_at).order_by(col(Call.id).desc())).first()
    if ongoing is not None:
        return no("call_in_progress", f"task {task_id}: call {ongoing.id} is still "
                  f"{ongoing.status}; wait for it to end, or call with the tel: link", tel=tel)
    row = Call(task_id=pk(task.id), lead_id=task.lead_id, owner=owner, token_name=token_name,
               provider_sid=None, status="requesting", to=str(lead_phone),
               from_number=voice_from, created_at=at, updated_at=at)
    session.add(row)
    session.flush()
    root = base_url.rstrip("/")
    form = [("To", caller_phone), ("From", voice_from),
            ("Url", f"{root}{BRIDGE_PATH}?task={pk(task.id)}"), ("Method", "GET"),
            ("StatusCallback", f"{root}{STATUS_PATH}"), ("StatusCallbackMethod", "POST")]
    form += [("StatusCallbackEvent", event)
             for event in ("initiated", "ringing", "answered", "completed")]
    result = Twilio(settings.twilio).create_call(form)
    if result.kind != "accepted":
        row.status, row.updated_at = "failed", at
        session.flush()
        if result.kind == "unreachable":
            reason, message = "provider_unreachable", (
                f"the voice provider could not be reached ({result.error_message}); call "
                "with the tel: link")
        else:
            reason, message = "provider_refused", (
                f"the provider refused the call: {result.error_code} {result.error_message}")
        return CallResult(pk(task.id), pk(row.id), None, "failed", lead_phone, caller_phone,
                          voice_from, reason, message, tel=tel)
    row.provider_sid = result.sid
    _move(row, result.status or "queued", None, at)
    session.flush()
    # Statuses the provider posted before this row knew its sid apply now.
    for event in session.scalars(select(CallEvent).where(col(CallEvent.sid) == result.sid)):
        _move(row, event.status, event.duration_seconds, event.received_at)
    session.flush()
    return CallResult(pk(task.id), pk(row.id), result.sid, row.status, lead_phone,
                      caller_phone, voice_from)


def advance(current: tuple[str, int | None, datetime], status: str, duration: int | None,
            at: datetime) -> tuple[str, int | None, datetime]:
    """A call's (status, duration, updated_at) after a reported status: forward only, and a
    final status stays (callbacks arrive late, twice or out of order)."""
    old_status, old_duration, updated = current
    old, new = CALL_RANKS.get(old_status, 0), CALL_RANKS.get(status)
    if new is None or old >= FINAL_RANK:
        return current
    if new > old:
        old_status, updated = status, at
    if duration is not None and (new >= FINAL_RANK or old_duration is None):
        old_duration = duration
    return old_status, old_duration, updated


def _move(row: Call, status: str, duration: int | None, at: datetime) -> None:
    row.status, row.duration_seconds, row.updated_at = advance(
        (row.status, row.duration_seconds, row.updated_at), status, duration, at)


def check_call_status(status: str | None) -> str:
    value = (status or "").strip().lower()
    if value not in CALL_RANKS or value == "requesting":
        raise BadInput(f"CallStatus {status!r} is not one of Twilio's call statuses")
    return value


def record_status(session: Session, *, sid: str, status: str, duration: str | None,
                  at: datetime) -> None:
    """A call status from the provider: kept once per (sid, status), applied to the call
    (forward only). A sid not recorded yet is kept and applied when it is."""
    status = check_call_status(status)
    sid = (sid or "").strip()
    if not sid or len(sid) > 64:
        raise BadInput("CallSid is required (at most 64 characters)")
    seconds = None
    if duration not in (None, ""):
        try:
            seconds = max(0, int(str(duration).strip()))
        except ValueError:
            raise BadInput(f"CallDuration {duration!r} is not a whole number") from None
    exists = session.scalars(select(col(CallEvent.id)).where(
        col(CallEvent.sid) == sid, col(CallEvent.status) == status)).first()
    if exists is not None:
        return  # a repeat: changes nothing
    try:
        with session.begin_nested():
            session.add(CallEvent(sid=sid, status=status, duration_seconds=seconds,
                                  received_at=at))
            session.flush()
    except IntegrityError:
        return  # the same callback, delivered twice at once
    query = select(Call).where(col(Call.provider_sid) == sid)
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is not None:
        _move(row, status, seconds, at)
        session.flush()


def bridge_twiml(session: Session, *, task_id: int, voice_from: str | None) -> str:
    """The TwiML that connects the caller (who answered) to the lead, showing the business's
    number; the decision was made when the call was placed, so this only dials."""
    from valhalla_cli.services.contact_facts import load_leads

    head = '<?xml version="1.0" encoding="UTF-8"?>'
    task = _task(session, task_id)
    lead = load_leads(session, [task.lead_id]).get(task.lead_id)
    if not voice_from or lead is None or not lead.phone:
        why = escape("This call cannot be connected: the lead has no number or no calling "
                     "number is configured.")
        return f"{head}<Response><Say>{why}</Say><Hangup/></Response>"
    return (f"{head}<Response><Dial callerId={quoteattr(voice_from)}>"
            f"<Number>{escape(lead.phone)}</Number></Dial></Response>")


@dataclass(frozen=True)
class CallView:
    call_id: int
    task_id: int
    sid: str | None
    status: str
    duration_seconds: int | None
    to: str
    from_number: str
    token_name: str
    created_at: datetime
    updated_at: datetime


def calls_of_lead(session: Session, lead_id: str) -> list[CallView]:
    """A lead's calls placed through the provider, oldest first (`lead show`, the card's
    history). Statuses kept for a sid before its call recorded it are folded in, so a callback
    that outran the call's own transaction still shows."""
    calls = list(session.scalars(select(Call).where(col(Call.lead_id) == lead_id)
                                 .order_by(col(Call.created_at), col(Call.id))))
    sids = [c.provider_sid for c in calls if c.provider_sid]
    events: dict[str, list[CallEvent]] = {}
    if sids:
        for event in session.scalars(select(CallEvent).where(col(CallEvent.sid).in_(sids))
                                     .order_by(col(CallEvent.received_at),
                                               col(CallEvent.id))):
            events.setdefault(event.sid, []).append(event)
    views = []
    for c in calls:
        state = (c.status, c.duration_seconds, c.updated_at)
        for event in events.get(c.provider_sid or "", []):
            state = advance(state, event.status, event.duration_seconds, event.received_at)
        views.append(view_of(CallView, c, call_id=pk(c.id), sid=c.provider_sid, status=state[0],
                             duration_seconds=state[1], updated_at=state[2]))
    return views
