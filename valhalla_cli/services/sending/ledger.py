"""The message ledger's rules: forward-only states, provider events kept once per (sid,
status), and what each provider error code does to the number and the ladder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import utcnow
from valhalla_cli.db import affected_rows, insert_if_missing
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.models import FollowupTask, Lead, LeadConsent
from valhalla_cli.models.ladder import ACTIVE_STATUSES
from valhalla_cli.models.sending import MessageEvent, OutboundMessage, PhoneStatus
from valhalla_cli.models.types import pk, table_of, view_of
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import Reason

PACK = Pack.SEND
KPI_SMS_DELIVERED = "sms_delivered"  # KPI: 1 per text delivered, 0 per text undelivered or failed
RANK = {"sending": 0, "accepted": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3,
        "not_sent": 3}
FINAL = ("delivered", "undelivered", "failed", "not_sent")
DELIVERY_FINAL = ("delivered", "undelivered", "failed")
# A provider's status -> the ledger's state (Twilio's own `sending` is already `sent` here).
PROVIDER_STATES = {"queued": "accepted", "accepted": "accepted", "scheduled": "accepted",
                   "sending": "sent", "sent": "sent", "delivered": "delivered",
                   "read": "delivered", "undelivered": "undelivered", "failed": "failed"}
KNOWN_STATUSES = (*PROVIDER_STATES, "canceled", "receiving", "received",
                  "partially_delivered")

OPT_OUT_CODE = 21610
NOT_TEXTABLE_CODES = (21211, 21612, 21614, 30005, 30006)
UNREACHABLE_HANDSET = 30003
UNREACHABLE_LIMIT, UNREACHABLE_DAYS = 3, 30
CARRIER_FILTERED = 30007
TOO_MANY_REQUESTS = 20429
CONFIG_CODES = (20003, 21212, 21606, 21659)
CODE_MEANINGS = {
    21610: "the recipient texted STOP to this sender",
    21211: "invalid 'To' number",
    21612: "the number cannot be reached from this sender (unroutable)",
    21614: "the number cannot receive texts (landline or unreachable)",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30003: "unreachable destination handset",
    30007: "filtered by the carrier as spam",
    20429: "too many requests",
    20003: "authentication failed (account SID or auth token)",
    21212: "invalid 'From' number",
    21606: "the 'From' number cannot send texts",
    21659: "the 'From' number is not a number of the account",
    30001: "queue overflow",
    30002: "account suspended",
    30004: "message blocked",
    30008: "unknown error",
}


def meaning(code: int | None) -> str | None:
    if code is None:
        return None
    return CODE_MEANINGS.get(code, "refused by the provider")


def provider_state(status: str) -> str | None:
    """The ledger state a provider's status stands for, or None (kept, changes nothing)."""
    return PROVIDER_STATES.get(status)


def check_status(value: str | None) -> str:
    status = (value or "").strip().lower()
    if status not in KNOWN_STATUSES:
        raise BadInput(f"unknown message status {value!r}: use one of "
                       f"{', '.join(KNOWN_STATUSES)}")
    return status


def check_error_code(value: Any, *, option: str = "--error-code") -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        code = int(str(value).strip())
    except ValueError:
        raise BadInput(f"{option} must be a whole number such as 30006, not {value!r}") from None
    if not 0 <= code <= 999_999:
        raise BadInput(f"{option} must be a provider error code from 0 to 999999")
    return code


# --- the numbers a provider told us about ------------------------------------------------------

def _leads_of(session: Session, phone: str) -> list[Lead]:
    return list(session.scalars(select(Lead).where(col(Lead.phone) == phone)
                                .order_by(col(Lead.lead_id))))


def opt_out(session: Session, *, phone: str, code: int, at: datetime, actor: str) -> None:
    """The provider says the recipient texted STOP to our sender: as an inbound STOP."""
    from valhalla_cli.services import suppression

    suppression.suppress_number(session, phone=phone,
                           reason=f"provider error {code}: {meaning(code)}", actor=actor, at=at)
    for lead in _leads_of(session, phone):
        session.add(LeadConsent(lead_id=lead.lead_id, kind="withdrawal", channel="all",
                                given_at=at, recorded_at=utcnow(),
                                evidence=f"provider error {code}: {meaning(code)}", actor=actor))
    session.flush()


def mark_not_textable(session: Session, *, phone: str, code: int, at: datetime) -> int:
    """The number cannot receive texts: recorded, and its leads' remaining SMS tasks are
    skipped (`not_textable`); their calls go on. Returns the tasks skipped."""
    from valhalla_cli.services.ladder.readiness import _advance

    # Callbacks for two messages to one number arrive together: the second waits for the
    # first's row and updates it instead of failing on the number's key.
    if not insert_if_missing(session, table_of(PhoneStatus),
                             {"number": phone, "code": code, "since": at}):
        row = session.get(PhoneStatus, phone, with_for_update=True, populate_existing=True)
        if row is not None:
            row.code, row.since = code, min(row.since, at)
            session.flush()
    lead_ids = [lead.lead_id for lead in _leads_of(session, phone)]
    if not lead_ids:
        return 0
    skipped = session.execute(
        update(FollowupTask)
        .where(col(FollowupTask.lead_id).in_(lead_ids), col(FollowupTask.channel) == "SMS",
               col(FollowupTask.status).in_(ACTIVE_STATUSES))
        .values(status="skipped", status_reason=Reason.NOT_TEXTABLE, claim_token=None,
                lease_expires_at=None)
        .returning(col(FollowupTask.ladder_id))
        .execution_options(synchronize_session=False)).all()
    _advance(session, [r[0] for r in skipped])
    return len(skipped)


def lift_not_textable(session: Session, *, phone: str) -> bool:
    """An inbound text from the number shows it can receive texts again."""
    # One statement, not a read then a delete: two texts from the number arriving together
    # both lift it, and the second finds nothing left to delete.
    lifted = affected_rows(session.execute(
        delete(PhoneStatus).where(col(PhoneStatus.number) == phone)))
    return lifted > 0


def not_textable_among(session: Session, phones: list[str], at: datetime) -> set[str]:
    if not phones:
        return set()
    return set(session.scalars(select(col(PhoneStatus.number)).where(
        col(PhoneStatus.number).in_(phones), col(PhoneStatus.since) <= at)))


def apply_code(session: Session, *, code: int | None, phone: str, at: datetime, actor: str
               ) -> None:
    """What an error code does to the number (at send time or in a callback)."""
    if code is None:
        return
    if code == OPT_OUT_CODE:
        opt_out(session, phone=phone, code=code, at=at, actor=actor)
    elif code in NOT_TEXTABLE_CODES:
        mark_not_textable(session, phone=phone, code=code, at=at)
    elif code == UNREACHABLE_HANDSET:
        recent = session.scalar(select(func.count()).select_from(OutboundMessage).where(
            col(OutboundMessage.to) == phone,
            col(OutboundMessage.error_code) == UNREACHABLE_HANDSET,
            col(OutboundMessage.created_at) >= at - timedelta(days=UNREACHABLE_DAYS),
            col(OutboundMessage.created_at) <= at)) or 0
        if recent >= UNREACHABLE_LIMIT:
            mark_not_textable(session, phone=phone, code=code, at=at)


# --- states -------------------------------------------------------------------------------------

def move(session: Session, message: OutboundMessage, state: str, *, at: datetime,
         error_code: int | None = None) -> bool:
    """Move the message forward to `state`; a lower or equal rank changes nothing. Reaching
    delivered / undelivered / failed emits KPI `KPI_SMS_DELIVERED` (1 or 0), once."""
    from valhalla_cli.services import kpi

    if RANK[state] <= RANK[message.state]:
        return False
    message.state = state
    if error_code is not None:
        message.error_code = error_code
    if state != "not_sent" and message.accepted_at is None and state != "failed":
        message.accepted_at = at
    if state in FINAL:
        message.final_at = at
    session.flush()
    if state in DELIVERY_FINAL and message.provider != "log":
        lead = session.scalars(select(Lead).where(col(Lead.lead_id) == message.lead_id)).first() \
            if message.lead_id else None
        kpi.emit(session, metric=KPI_SMS_DELIVERED, value=1 if state == "delivered" else 0, at=at,
                 province=lead.province if lead else None, market=lead.market if lead else None,
                 ref=f"message-{message.message_id}", source="send")
    return True


@dataclass(frozen=True)
class EventResult:
    sid: str
    status: str
    recorded: bool  # False: this (sid, status) was recorded before; nothing changed
    message_id: int | None  # None: no message carries the sid yet (kept until one does)
    before: str | None
    after: str | None


def record_event(session: Session, *, sid: str, status: str, error_code: int | None,
                 at: datetime, actor: str, raw: dict[str, Any] | None = None,
                 message: OutboundMessage | None = None) -> EventResult:
    """A provider's status for a sid: kept once per (sid, status), applied to the message when
    the sid is known (the state only moves forward; the error code acts), kept unapplied until
    then. `message`: the caller already holds the message carrying the sid."""
    sid = (sid or "").strip()
    if not sid or len(sid) > 64:
        raise BadInput("MessageSid must be 1-64 characters")
    status = check_status(status)
    if message is None:
        message = session.scalars(select(OutboundMessage)
                                  .where(col(OutboundMessage.sid) == sid)
                                  .with_for_update()).first()
    event = MessageEvent(sid=sid, status=status, error_code=error_code, received_at=at,
                         raw=raw or {}, applied=message is not None, actor=actor[:200])
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return EventResult(sid, status, False, pk(message.message_id) if message else None,
                           message.state if message else None,
                           message.state if message else None)
    if message is None:
        return EventResult(sid, status, True, None, None, None)
    before = message.state
    _apply(session, message, status, error_code, at=at, actor=actor)
    return EventResult(sid, status, True, pk(message.message_id), before, message.state)


def _apply(session: Session, message: OutboundMessage, status: str, error_code: int | None,
           *, at: datetime, actor: str) -> None:
    state = provider_state(status)
    if state is not None:
        move(session, message, state, at=at, error_code=error_code)
    if error_code is not None:
        if message.error_code is None:
            message.error_code = error_code
            session.flush()
        apply_code(session, code=error_code, phone=message.to, at=at, actor=actor)


def apply_pending_events(session: Session, message: OutboundMessage, *, actor: str) -> None:
    """Events that arrived before the message's sid was recorded, applied now in rank order
    (each at the instant it was received)."""
    if message.sid is None:
        return
    events = list(session.scalars(select(MessageEvent).where(
        col(MessageEvent.sid) == message.sid, col(MessageEvent.applied).is_(False))))
    events.sort(key=lambda e: (RANK.get(provider_state(e.status) or "", -1), e.received_at))
    for event in events:
        event.applied = True
        _apply(session, message, event.status, event.error_code, at=event.received_at,
               actor=actor)
    session.flush()


# --- reading ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventView:
    status: str
    error_code: int | None
    received_at: datetime
    actor: str


@dataclass(frozen=True)
class MessageView:
    message_id: int
    task_id: int | None
    attempt: int | None
    lead_id: str | None
    to: str
    sender: str
    body: str
    segments: int
    provider: str
    sid: str | None
    state: str
    error_code: int | None
    error_meaning: str | None
    created_at: datetime
    accepted_at: datetime | None
    final_at: datetime | None
    actor: str
    events: list[EventView]


def _view(session: Session, row: OutboundMessage, *, events: bool = True) -> MessageView:
    found = [] if not events or row.sid is None else [
        view_of(EventView, e)
        for e in session.scalars(select(MessageEvent).where(col(MessageEvent.sid) == row.sid)
                                 .order_by(col(MessageEvent.received_at),
                                           col(MessageEvent.id)))]
    return view_of(MessageView, row, message_id=pk(row.message_id),
                   error_meaning=meaning(row.error_code), events=found)


def show(session: Session, *, key: str) -> MessageView:
    """One message with its events, by message id or by the provider's sid."""
    text = (key or "").strip()
    if not text or len(text) > 64:
        raise BadInput("give a message id or a provider sid (1-64 characters)")
    row = None
    if text.isdigit() and len(text) < 19:
        row = session.get(OutboundMessage, int(text))
    if row is None:
        row = session.scalars(select(OutboundMessage)
                              .where(col(OutboundMessage.sid) == text)).first()
    if row is None:
        raise NotFound(f"no message {text!r} (a message id or a provider sid)")
    return _view(session, row)


@dataclass(frozen=True)
class LeadMessage:
    message_id: int
    task_id: int | None
    to: str
    state: str
    error_code: int | None
    sid: str | None
    created_at: datetime
    segments: int


def messages_of_lead(session: Session, lead_id: str) -> list[LeadMessage]:
    return [LeadMessage(pk(r.message_id), r.task_id, r.to, r.state, r.error_code, r.sid,
                        r.created_at, r.segments)
            for r in session.scalars(select(OutboundMessage)
                                     .where(col(OutboundMessage.lead_id) == lead_id)
                                     .order_by(col(OutboundMessage.created_at),
                                               col(OutboundMessage.message_id)))]
