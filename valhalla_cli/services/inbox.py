"""The inbox (replies reach a person): items opened by a lead's texts, the paused ladder, the
operator's replies and closes, the conversation, and the answer-time figures.

A non-keyword text from a known lead's number opens the lead's item (or joins the open one) and
pauses its pending and claimed tasks, so no automated step talks over a person. The item keeps
the most severe kind it has seen; a refusal starts the legal clock (10 business days of the
lead's province). Closing decides what happens to the paused ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, Refused
from valhalla_cli.models import FollowupTask, InboundMessage, Lead
from valhalla_cli.models.inbox import OUTCOMES, InboxItem
from valhalla_cli.models.sending import OutboundMessage
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.services import inbox_rules
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.services.inbox_tasks import (  # noqa: F401  (the pack's own names)
    PACK,
    PAUSED,
    REPLIED,
    close_for_opt_out,
    detach_wrong_number,
    open_item,
    pause_tasks,
    receive,
    refuse_wrong_number,
)
from valhalla_cli.services.refusals import Refusal

MAX_TEXT = 1600  # a provider's limit for one message (Twilio's), identification included
ANSWER_MINUTES = 5.0
# KPI: 1 per reply answered within ANSWER_MINUTES of its arrival, else 0
KPI_REPLY_ANSWERED = "reply_answered"
STOP_OUTCOMES = ("appointment", "contacted", "not_interested")
IDENTIFICATION = {
    "en": " — {business} {callback}. STOP to opt out",
    "fr": " — {business} {callback}. ARRÊT pour vous désabonner",
}


# ---------------------------------------------------------------------------------------------
# Windows of a lead (the same zones and hours as the contact decision)
# ---------------------------------------------------------------------------------------------

def _rules(session: Session, lead: Lead, channel: str) -> Any:
    from valhalla_cli.services.contact_facts import lead_contact_zones
    from valhalla_cli.services.policies import effective_policy

    policy = effective_policy(session, province=lead.province, market=lead.market)
    zones = lead_contact_zones(policy_zones=policy.timezones, phone=lead.phone,
                               confirmed_timezone=lead.timezone)
    return replace(policy.rules(channel), timezones=tuple(z.timezone for z in zones))


def _into_window(rules: Any, instant: datetime) -> datetime:
    """The instant itself when the window is open then, else its next opening."""
    from valhalla_cli.services.contact_rules import is_open, next_open_at

    if not rules.timezones or is_open(rules, instant):
        return instant
    return next_open_at(rules, instant) or instant


def lead_zone(session: Session, lead: Lead) -> str:
    """The zone whose calendar counts the lead's business days: its confirmed zone, else its
    policy's first zone."""
    from valhalla_cli.services.policies import effective_policy

    if lead.timezone:
        return lead.timezone
    zones = effective_policy(session, province=lead.province, market=lead.market).timezones
    return zones[0] if zones else "America/Toronto"


def _lead(session: Session, lead_id: str) -> Lead:
    from valhalla_cli.errors import NotFound
    from valhalla_cli.services.contact_facts import check_lead

    key = check_lead(lead_id)
    row = session.scalars(select(Lead).where(col(Lead.lead_id) == key)).first()
    if row is None:
        raise NotFound(f"no lead {key!r}")
    return row


# ---------------------------------------------------------------------------------------------
# A text arrives
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Reading: the list and the conversation
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemView:
    lead_id: str
    name: str | None
    owner: str | None
    kind: str
    status: str
    opened_at: datetime
    waiting_since: datetime | None
    waiting_minutes: float | None
    last_text: str
    deadline: datetime | None
    first_answer_at: datetime | None
    outcome: str | None
    closed_at: datetime | None


def _minutes(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 60, 1)


def _view(item: InboxItem, name: str | None, at: datetime) -> ItemView:
    waiting = (None if item.waiting_since is None or item.status != "open"
               else max(0.0, _minutes(item.waiting_since, at)))
    return view_of(ItemView, item, name=name, waiting_minutes=waiting)


def check_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    value = kind.strip().lower()
    if value not in inbox_rules.KINDS:
        raise BadInput(f"--kind must be one of {', '.join(inbox_rules.KINDS)}, not {kind!r}")
    return value


def list_items(session: Session, *, owner: str | None, kind: str | None, all_items: bool,
               limit: int, at: datetime) -> list[ItemView]:
    """Open items (with --all, closed ones too), oldest wait first."""
    if not 1 <= limit <= 100_000:
        raise BadInput("--limit must be between 1 and 100000")
    kind = check_kind(kind)
    query = select(InboxItem, col(Lead.name)).join(
        Lead, col(Lead.lead_id) == col(InboxItem.lead_id), isouter=True)
    if not all_items:
        query = query.where(col(InboxItem.status) == "open")
    if owner is not None:
        if not owner.strip():
            raise BadInput("--owner must not be empty")
        query = query.where(col(InboxItem.owner) == owner.strip())
    if kind is not None:
        query = query.where(col(InboxItem.kind) == kind)
    query = query.where(col(InboxItem.opened_at) <= at)
    query = query.order_by(col(InboxItem.status).desc(),
                           col(InboxItem.waiting_since).is_(None),
                           col(InboxItem.waiting_since), col(InboxItem.opened_at),
                           col(InboxItem.id)).limit(limit)
    return [_view(item, name, at) for item, name in session.execute(query)]


@dataclass(frozen=True)
class ConversationLine:
    at: datetime
    direction: str  # inbound | outbound
    text: str
    state: str  # inbound: the action (recorded, opted_out, ...); outbound: the message state


def conversation(session: Session, *, lead_id: str, at: datetime | None = None
                 ) -> list[ConversationLine]:
    """The lead's inbound and outbound texts in time order."""
    lines = [ConversationLine(r.received_at, "inbound", r.body, r.action)
             for r in session.scalars(select(InboundMessage)
                                      .where(col(InboundMessage.lead_id) == lead_id))]
    lines += [ConversationLine(r.created_at, "outbound", r.body, r.state)
              for r in session.scalars(select(OutboundMessage)
                                       .where(col(OutboundMessage.lead_id) == lead_id))]
    if at is not None:
        lines = [line for line in lines if line.at <= at]
    return sorted(lines, key=lambda line: (line.at, line.direction != "inbound"))


@dataclass(frozen=True)
class ShowView:
    lead_id: str
    name: str | None
    phone: str | None
    item: ItemView | None
    conversation: list[ConversationLine]


def show(session: Session, *, lead_id: str, at: datetime) -> ShowView:
    lead = _lead(session, lead_id)
    item = session.scalars(select(InboxItem).where(col(InboxItem.lead_id) == lead.lead_id,
                                                   col(InboxItem.opened_at) <= at)
                           .order_by(col(InboxItem.status) == "open",
                                     col(InboxItem.opened_at), col(InboxItem.id))).all()
    latest = item[-1] if item else None
    return view_of(ShowView, lead,
                   item=_view(latest, lead.name, at) if latest is not None else None,
                   conversation=conversation(session, lead_id=lead.lead_id, at=at))


# ---------------------------------------------------------------------------------------------
# Replying
# ---------------------------------------------------------------------------------------------

def check_text(text: str | None) -> str:
    value = (text or "").strip()
    if not value:
        raise BadInput("--text must not be empty (1 to 1600 characters)")
    if "\x00" in value:
        raise BadInput("--text must not contain NUL characters")
    if len(value) > MAX_TEXT:
        raise BadInput(f"--text is {len(value)} characters; the limit is 1600 (1 600, the "
                       "provider's limit for one message)")
    return value


def with_identification(text: str, *, language: str, business: str, callback: str) -> str:
    """The text as sent: the identification appended unless it names the business already;
    the 1 600-character limit holds after appending."""
    body = text
    if inbox_rules.normalise(business) not in inbox_rules.normalise(text):
        body = text + IDENTIFICATION.get(language, IDENTIFICATION["en"]).format(
            business=business, callback=callback)
    if len(body) > MAX_TEXT:
        raise BadInput(f"--text is {len(body)} characters with the identification appended; "
                       "the limit is 1600 (1 600, the provider's limit for one message)")
    return body


@dataclass(frozen=True)
class Prepared:
    """A reply committed as `sending`, ready for the provider's request."""

    message_id: int
    lead_id: str
    to: str
    body: str


def prepare_reply(session: Session, *, lead_id: str, text: str, record_inquiry: bool,
                  at: datetime, actor: str, settings: Any, provider: str) -> Prepared:
    """Check the gates of a ladder text and write the message in `sending` (with the inquiry
    consent when asked), in the caller's transaction. A "no" raises Refused (exit 1)."""
    from valhalla_cli.services import audit, golive, market, template
    from valhalla_cli.services.sending.segments import segments

    body = check_text(text)
    lead = _lead(session, lead_id)
    identity = template.identification_of(settings)
    if identity is None:
        raise Refused("no identification: set [business] name and callback before replying",
                      Reason.NO_IDENTIFICATION)
    body = with_identification(body, language=lead.language, business=identity.name,
                               callback=identity.callback)
    item = open_item(session, lead.lead_id, lock=True)
    live = golive.live_status(session, enforce=settings.golive_enforce)
    if not live.live:
        reason = "kill_switch" if live.reason == "kill_switch_engaged" else (
            live.reason or "not_live")
        raise Refused(f"not sent: {live.message}", reason)
    if record_inquiry:
        if item is not None and item.kind == inbox_rules.REFUSAL:
            raise Refused(f"lead {lead.lead_id} refused contact: an inquiry cannot be recorded "
                          "on a refusal", "refusal")
        last = session.scalars(select(InboundMessage)
                               .where(col(InboundMessage.lead_id) == lead.lead_id)
                               .order_by(col(InboundMessage.received_at).desc(),
                                         col(InboundMessage.id).desc()).limit(1)).first()
        if last is None:
            raise Refused(f"lead {lead.lead_id} has sent no message to record as the "
                          "inquiry's evidence", "no_inbound")
        from valhalla_cli.services import lead as lead_service

        lead_service.record_consent(
            session, lead_id=lead.lead_id, kind="inquiry", channel="SMS",
            evidence=f"inbound {last.received_at.isoformat()} from {last.phone}: "
                     f"{last.body[:1800]}",
            withdraw=False, at=at, actor=actor, business_timezone=settings.business_timezone)
    answer = market.can_contact(session, province=None, market=None, channel="SMS", at=at,
                                business_timezone=settings.business_timezone,
                                lead_id=lead.lead_id, lead_score=100, score_optional=True)
    if not answer.allowed:
        when = (f"; the window opens at {answer.next_open_at.isoformat()}"
                if answer.next_open_at is not None else "")
        raise Refused(f"not sent to {lead.lead_id}: {answer.reason}{when}",
                      answer.reason or "refused")
    row = OutboundMessage(task_id=None, attempt=None, lead_id=lead.lead_id, to=str(answer.phone),
                          sender=(settings.twilio.sender if provider == "twilio" else None)
                          or "log",
                          body=body, segments=segments(body), provider=provider,
                          state="sending", created_at=at, actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, pack=PACK, action="reply", actor=actor, at=at, subject=lead.lead_id,
                 after={"message_id": row.message_id, "record_inquiry": record_inquiry})
    return Prepared(pk(row.message_id), lead.lead_id, row.to, body)


@dataclass(frozen=True)
class NotDone:
    """A rule's "no" to a reply or a close (the service raised `Refused`): the answer both faces
    give, `{"lead_id", <done>: false, "reason", "message"}`."""

    lead_id: str
    done: str  # sent | closed
    reason: str
    message: str

    @property
    def data(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, self.done: False, "reason": self.reason,
                "message": self.message}

    @property
    def refusal(self) -> Refusal:
        return Refusal(self.reason, self.message)


def not_done(lead_id: str, done: str, no: Refused) -> NotDone:
    return NotDone(lead_id, done, no.reason, no.message)


@dataclass(frozen=True)
class ReplyResult:
    lead_id: str
    message_id: int
    to: str
    text: str
    state: str
    sid: str | None
    error_code: int | None
    first_answer: bool
    within_5m: bool | None
    answer_minutes: float | None
    reason: str | None = None  # provider_refused: the provider answered with an error

    @property
    def refusal(self) -> Refusal | None:
        """The provider answered the reply with an error."""
        if self.reason is None:
            return None
        return Refusal(self.reason,
                       f"the provider refused the text to {self.to}: error {self.error_code}")


def record_answer(session: Session, *, prepared: Prepared, answer: Any, at: datetime,
                  actor: str) -> ReplyResult:
    """The provider's answer for a reply; an accepted first answer sets the item's
    `first_answer_at` and KPI `reply_answered` (1 within 5 minutes of the wait's start, counted
    from the window's next opening when the text came in while it was closed)."""
    from valhalla_cli.services import kpi
    from valhalla_cli.services.sending import ledger

    row = session.get(OutboundMessage, prepared.message_id)
    assert row is not None
    if answer is None:  # the `log` provider takes every message
        from valhalla_cli.services.sending.provider import log_sid

        row.sid = log_sid()
        ledger.move(session, row, "accepted", at=at)
    elif answer.kind == "refused":
        ledger.move(session, row, "failed", at=at, error_code=answer.error_code)
        ledger.apply_code(session, code=answer.error_code, phone=row.to, at=at, actor=actor)
    elif answer.kind == "unreachable":
        session.flush()
        return ReplyResult(prepared.lead_id, prepared.message_id, row.to, row.body, row.state,
                           None, None, False, None, None)
    else:
        row.sid = answer.sid
        session.flush()
        ledger.move(session, row, "accepted", at=at)
        ledger.record_event(session, sid=str(answer.sid), status=answer.status or "queued",
                            error_code=answer.error_code, at=at, actor=actor, raw=answer.fields)
        ledger.apply_pending_events(session, row, actor=actor)
    session.flush()
    first, within, minutes = False, None, None
    item = open_item(session, prepared.lead_id, lock=True)
    if row.state != "failed" and item is not None:
        lead = _lead(session, prepared.lead_id)
        if item.waiting_since is not None and item.first_answer_at is None:
            start = _into_window(_rules(session, lead, "SMS"), item.waiting_since)
            minutes = max(0.0, round((at - start).total_seconds() / 60, 2))
            within = minutes <= ANSWER_MINUTES
            item.first_answer_at, item.answer_minutes, first = at, minutes, True
            kpi.emit(session, metric=KPI_REPLY_ANSWERED, value=1 if within else 0, at=at,
                     province=lead.province, market=lead.market, ref=f"inbox-{item.id}",
                     source="inbox reply")
        item.waiting_since = None
        session.flush()
    return ReplyResult(prepared.lead_id, prepared.message_id, row.to, row.body, row.state,
                       row.sid, row.error_code, first, within, minutes,
                       "provider_refused" if row.state == "failed" else None)


def reply(transaction: Any, settings: Any, *, lead_id: str, text: str, record_inquiry: bool,
          at: datetime, actor: str) -> ReplyResult:
    """`inbox reply`: the message is committed in `sending` before the request leaves (as a
    ladder text), then the provider's answer is recorded. `transaction` is the face's factory."""
    from valhalla_cli.errors import ConfigError, ProviderUnreachable

    provider = settings.sender.provider
    with transaction(write=True) as session:
        # the rules first: why a text cannot go says more than a missing provider
        prepared = prepare_reply(session, lead_id=lead_id, text=text,
                                 record_inquiry=record_inquiry, at=at, actor=actor,
                                 settings=settings, provider=provider or "log")
        if provider is None:  # raised inside the transaction: nothing is kept
            raise ConfigError("no SMS provider: set sender.provider ('twilio' or 'log') in "
                              "the config file or VALHALLA_SENDER_PROVIDER")
    answer = None
    if provider == "twilio":
        from valhalla_cli.services.sending.provider import Twilio

        answer = Twilio(settings.twilio).create(to=prepared.to, body=prepared.body)
    with transaction(write=True) as session:
        result = record_answer(session, prepared=prepared, answer=answer, at=at, actor=actor)
    if answer is not None and answer.kind == "unreachable":
        raise ProviderUnreachable(f"the provider could not be reached ({answer.error_message}); "
                                  f"message {prepared.message_id} stays 'sending' until "
                                  "`valhalla send reconcile` settles it")
    # A text the provider refused is recorded (and its code applied, e.g. 21610 opts the
    # number out): the face says "no" with the result rather than undoing it.
    return result


# ---------------------------------------------------------------------------------------------
# Closing
# ---------------------------------------------------------------------------------------------

def check_outcome(outcome: str | None) -> str:
    value = (outcome or "").strip().lower()
    if value not in OUTCOMES:
        raise BadInput(f"--outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    return value


@dataclass(frozen=True)
class CloseResult:
    lead_id: str
    outcome: str
    closed_at: datetime
    tasks_resumed: int
    tasks_cancelled: int
    due_at: list[datetime]
    phone_detached: str | None

    @property
    def refusal(self) -> Refusal | None:
        """Closing an item, once allowed, always closes it."""
        return None


def _paused(session: Session, lead_id: str) -> list[FollowupTask]:
    return list(session.scalars(select(FollowupTask)
                                .where(col(FollowupTask.lead_id) == lead_id)
                                .with_for_update()
                                .order_by(col(FollowupTask.due_at), col(FollowupTask.step))
                                ).all())


def resume_plan(session: Session, lead: Lead, tasks: list[FollowupTask], at: datetime
                ) -> list[datetime]:
    """The first paused task is due at `at` and each later one keeps its gap from the one
    before it, each moved into its channel's window."""
    planned: list[datetime] = []
    rules: dict[str, Any] = {}
    previous_old: datetime | None = None
    for task in tasks:
        base = at if previous_old is None else planned[-1] + max(
            timedelta(0), task.due_at - previous_old)
        if task.channel not in rules:
            rules[task.channel] = _rules(session, lead, task.channel)
        planned.append(_into_window(rules[task.channel], base))
        previous_old = task.due_at
    return planned


def close(session: Session, *, lead_id: str, outcome: str, note: str | None, at: datetime,
          actor: str) -> CloseResult:
    """`inbox close`: what happens to the paused ladder (audited; no ladder KPI)."""
    from valhalla_cli.inputs import parse_reason
    from valhalla_cli.services import audit

    outcome = check_outcome(outcome)
    note = parse_reason(note, field="--note")  # the one free-text rule (it reaches the audit log)
    lead = _lead(session, lead_id)
    item = open_item(session, lead.lead_id, lock=True)
    if item is None:
        raise Refused(f"lead {lead.lead_id} has no open inbox item", "no_open_item")
    if outcome == "resume" and item.kind == inbox_rules.REFUSAL:
        raise Refused(f"lead {lead.lead_id} refused contact: the ladder cannot resume "
                      "(close as opt_out or not_interested)", "refusal")
    paused = [t for t in _paused(session, lead.lead_id) if t.status == PAUSED]
    resumed = cancelled = 0
    due: list[datetime] = []
    detached = None
    if outcome == "resume":
        due = resume_plan(session, lead, paused, at)
        for task, when in zip(paused, due, strict=True):
            task.status, task.status_reason, task.due_at = "pending", None, when
        resumed = len(paused)
    elif outcome == "opt_out":
        from valhalla_cli.services import lead as lead_service

        lead_service.record_consent(session, lead_id=lead.lead_id, kind=None, channel=None,
                                    evidence=note or "inbox close: opt_out", withdraw=True,
                                    at=at, actor=actor, business_timezone="UTC")
        cancelled = len(paused)
    else:
        for task in paused:
            task.status, task.status_reason = "cancelled", f"inbox: {outcome}"
        cancelled = len(paused)
        if outcome == "wrong_number":
            detached = detach_wrong_number(session, lead=lead, at=at, actor=actor)
    session.flush()
    session.refresh(item)  # an opt-out's suppression has closed it already, as every opt-out
    item.status, item.outcome, item.closed_at = "closed", outcome, at
    item.closed_by, item.note, item.waiting_since = actor, note, None
    session.flush()
    audit.record(session, pack=PACK, action="close", actor=actor, at=at, subject=lead.lead_id,
                 after={"outcome": outcome, "tasks_resumed": resumed,
                        "tasks_cancelled": cancelled, "phone_detached": detached},
                 reason=note)
    return CloseResult(lead.lead_id, outcome, at, resumed, cancelled, due, detached)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlaFigures:
    opened: int
    answered: int
    median_minutes_to_answer: float | None
    within_5m_pct: float | None
    open_refusals: int
    since: date
    until: date
    owner: str | None = None


def _figures(items: list[InboxItem], since: date, until: date, owner: str | None = None
             ) -> SlaFigures:
    minutes = [float(i.answer_minutes) for i in items
               if i.first_answer_at is not None and i.answer_minutes is not None]
    within = sum(1 for m in minutes if m <= ANSWER_MINUTES)
    return SlaFigures(len(items), len(minutes),
                      round(median(minutes), 2) if minutes else None,
                      round(100.0 * within / len(minutes), 1) if minutes else None,
                      sum(1 for i in items if i.status == "open"
                          and i.kind == inbox_rules.REFUSAL), since, until, owner)


def sla_report(session: Session, *, since: date | None, until: date | None, by: str | None,
               at: datetime, business_timezone: str) -> SlaFigures | list[SlaFigures]:
    """Items opened in the business dates [since, until] (default: the 30 ending today):
    opened, answered, median minutes to the first answer, the share of answered items answered
    within 5 minutes, and those still open as refusals."""
    from valhalla_cli.clock import business_period

    if by is not None and by != "owner":
        raise BadInput(f"--by must be owner, not {by!r}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    items = list(session.scalars(select(InboxItem).where(col(InboxItem.opened_at) >= lo,
                                                         col(InboxItem.opened_at) < hi,
                                                         col(InboxItem.opened_at) <= at)))
    if by is None:
        return _figures(items, since, until)
    groups: dict[str | None, list[InboxItem]] = {}
    for item in items:
        groups.setdefault(item.owner, []).append(item)
    return [_figures(group, since, until, owner) for owner, group in
            sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]


@dataclass(frozen=True)
class OpenRefusal:
    lead_id: str
    opened_at: datetime
    refusal_at: datetime
    deadline: datetime
    clock: str  # ok | warn | fail


def open_refusals(session: Session, *, at: datetime) -> list[OpenRefusal]:
    """Open refusal items with their deadlines and where their clock stands at `at`."""
    rows = session.execute(
        select(InboxItem, Lead).join(Lead, col(Lead.lead_id) == col(InboxItem.lead_id))
        .where(col(InboxItem.status) == "open", col(InboxItem.kind) == inbox_rules.REFUSAL)
        .order_by(col(InboxItem.deadline), col(InboxItem.id)))
    found = []
    for item, lead in rows:
        received = item.refusal_at or item.opened_at
        found.append(OpenRefusal(item.lead_id, item.opened_at, received,
                                 item.deadline or inbox_rules.refusal_deadline(
                                     lead.province, received, lead_zone(session, lead)),
                                 inbox_rules.refusal_clock(lead.province, received,
                                                           lead_zone(session, lead), at)))
    return found


FIX = "valhalla inbox close LEAD --outcome opt_out"


def runbook_check(session: Session, settings: Any, at: datetime) -> Any:
    """`warn` when a refusal has been open from the start of its 2nd business day, `fail`
    from the start of its 6th, naming the lead and its deadline."""
    from valhalla_cli.services.checks import CheckResult

    refusals = open_refusals(session, at=at)
    failing = [r for r in refusals if r.clock == "fail"]
    warning = [r for r in refusals if r.clock == "warn"]

    def named(rows: list[OpenRefusal]) -> str:
        shown = ", ".join(f"{r.lead_id} (deadline {r.deadline.isoformat()})" for r in rows[:5])
        return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")

    if failing:
        return CheckResult("fail", f"{len(failing)} refusal(s) open past 5 business "
                           f"days: {named(failing)}", FIX)
    if warning:
        return CheckResult("warn", f"{len(warning)} refusal(s) open more than 1 "
                           f"business day: {named(warning)}", FIX)
    return CheckResult("ok", f"{len(refusals)} open refusal(s) within their first "
                       "business day" if refusals else "no open refusal")


@dataclass(frozen=True)
class InboxSummary:
    open_items: int
    open_refusals: list[OpenRefusal]


def status_summary(session: Session, *, at: datetime) -> InboxSummary:
    """`valhalla status` and the review page: open items and open refusals with deadlines."""
    from sqlalchemy import func

    count = session.scalar(select(func.count()).select_from(InboxItem)
                           .where(col(InboxItem.status) == "open")) or 0
    return InboxSummary(int(count), open_refusals(session, at=at))
