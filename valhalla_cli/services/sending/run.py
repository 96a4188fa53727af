"""`valhalla send`: claim due SMS tasks by dispatch's rule and send them, one at a time.

For each claimed task, in due order: the kill switch is read; the contact decision is made
again at that instant (a "no" is applied as dispatch applies it); the outbound message is
committed in `sending` — and the task's lease cleared, so neither a lease running out nor
another run can hand the attempt out again — before the request leaves; the provider's answer
is then recorded. A run is many short transactions, so it takes a `transaction` factory from
the face instead of one session: a crash at any point leaves each task done with one message,
claimed with a `sending` message that `send reconcile` settles, or claimable again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, ConfigError
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.sending import OutboundMessage
from valhalla_cli.models.types import pk
from valhalla_cli.services.contact_rules import DISPATCH_ACTION, Action, Reason
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.sending import ledger
from valhalla_cli.services.sending.provider import Answer, log_sid
from valhalla_cli.services.sending.segments import segments

Transaction = Callable[..., AbstractContextManager[Session]]
MAX_TRIES = 5  # requests in all for one message answered "too many requests"
MAX_BACKOFF = 30.0
HOLD_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Handled:
    """One message handled by a run (or a task a rule stopped: `reason`, no message)."""

    task_id: int
    lead_id: str
    to: str | None
    message_id: int | None
    sid: str | None
    state: str
    error_code: int | None
    reason: str | None = None
    message: str | None = None  # --dry-run: the rendered text


@dataclass
class SendResult:
    handled: list[Handled] = field(default_factory=list)
    exit_code: int = 0
    reason: str | None = None  # kill_switch | not_live | followups_throttled | ...
    message: str | None = None
    dry_run: bool = False

    def count(self, *states: str) -> int:
        return sum(1 for h in self.handled if h.state in states and h.reason is None)

    @property
    def summary(self) -> str:
        by_rule = sum(1 for h in self.handled if h.reason is not None)
        if self.dry_run:
            return f"would send {len(self.handled) - by_rule}, not sent by rule {by_rule}"
        return (f"accepted {self.count('accepted', 'sent', 'delivered')}, failed "
                f"{self.count('failed', 'undelivered', 'not_sent')}, unknown "
                f"{self.count('sending')}, not sent by rule {by_rule}")

    @property
    def refusal(self) -> Refusal | None:
        """Why the run stopped, with what it did (exit 1 a "no"; 3 and 4 the faults it met)."""
        if not self.exit_code:
            return None
        return Refusal(self.reason or "stopped", f"{self.message or self.reason} ({self.summary})",
                       code=self.exit_code)


class Clock:
    """The run's instants: `--at` T for every message of the run (as every command with `--at`
    uses T), else the wall clock; the run's pace and length are real time either way."""

    def __init__(self, at: datetime | None, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.at, self.monotonic = at, monotonic
        self.began = monotonic()

    def elapsed(self) -> float:
        return self.monotonic() - self.began

    def now(self) -> datetime:
        from valhalla_cli.clock import utcnow

        return self.at if self.at is not None else utcnow()


class Pacer:
    """At most `per_second` requests a second over the run."""

    def __init__(self, per_second: float, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.interval, self.clock, self.sleep = 1.0 / per_second, clock, sleep
        self.next_at: float | None = None

    def wait(self) -> None:
        now = self.clock.elapsed()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


class _Stop(Exception):
    """The run stops; `sent_this` says whether the current claim got its message row (else it
    is released with the rest)."""

    def __init__(self, exit_code: int, reason: str, message: str, *, sent_this: bool = True
                 ) -> None:
        super().__init__(message)
        self.exit_code, self.reason, self.message = exit_code, reason, message
        self.sent_this = sent_this


def _release(session: Session, claims: list[Any]) -> None:
    """Unsent claims go back to `pending` uncounted (no message row was written for them)."""
    for claim in claims:
        session.execute(
            update(FollowupTask)
            .where(col(FollowupTask.id) == claim.task_id, col(FollowupTask.status) == "claimed",
                   col(FollowupTask.claim_token) == claim.claim_token)
            .values(status="pending", attempt=col(FollowupTask.attempt) - 1, claim_token=None,
                    claimed_by=None, lease_expires_at=None)
            .execution_options(synchronize_session=False))


def _return_task(session: Session, task_id: int, *, at: datetime, max_attempts: int,
                 reason: str, counted: bool = True) -> None:
    """A message that did not go (or was refused): its task is claimable again, or `failed`
    once its attempts are spent."""
    from valhalla_cli.services.ladder.readiness import _advance

    task = session.get(FollowupTask, task_id)
    if task is None or task.status != "claimed":
        return
    if counted and task.attempt >= max_attempts:
        task.status, task.completed_at = "failed", at
        task.status_reason = f"{reason}; {task.attempt} attempt(s)"
        task.claim_token = task.lease_expires_at = None
        session.flush()
        _advance(session, [task.ladder_id])
        return
    task.status, task.status_reason = "pending", reason
    task.claim_token = task.lease_expires_at = task.claimed_by = None
    session.flush()


def _apply_no(session: Session, claim: Any, reason: Reason | None,
              next_open_at: datetime | None,
              *, at: datetime) -> str:
    """A "no" at the send instant, applied as dispatch applies it; returns what happened."""
    from valhalla_cli.services.ladder import RECHECK_BLOCKED, cancel_active_tasks
    from valhalla_cli.services.ladder.readiness import _advance

    task = session.get(FollowupTask, claim.task_id)
    if reason is None:
        return "refused"
    if task is None or task.status != "claimed" or task.claim_token != claim.claim_token:
        return reason
    action = DISPATCH_ACTION[reason]
    if action is Action.CANCEL:
        cancel_active_tasks(session, lead_id=task.lead_id, at=at, reason=Reason.SUPPRESSED)
        return reason
    if action in (Action.HOLD, Action.MOVE):
        due = (at + HOLD_FOR if action is Action.HOLD else
               next_open_at or at + RECHECK_BLOCKED)
        task.status, task.status_reason, task.due_at = "pending", reason, due
        task.attempt -= 1  # nothing was sent: the claim is not an attempt
        task.claim_token = task.lease_expires_at = task.claimed_by = None
        session.flush()
        return reason
    task.status, task.status_reason = "skipped", reason
    task.claim_token = task.lease_expires_at = None
    session.flush()
    _advance(session, [task.ladder_id])
    return reason


@dataclass
class Sender:
    transaction: Transaction
    settings: Any  # valhalla_cli.settings.Settings
    config: Any  # LadderConfig
    provider: Any  # provider.Twilio, or None for `log`
    worker: str
    actor: str
    clock: Clock
    sleep: Callable[[float], None] = time.sleep
    on_handled: Callable[[Handled], None] = lambda handled: None
    result: SendResult = field(default_factory=SendResult)

    def _handled(self, handled: Handled) -> None:
        self.result.handled.append(handled)
        self.on_handled(handled)

    # -- the run --------------------------------------------------------------------------------

    def run(self, *, limit: int | None, max_seconds: float, dry_run: bool) -> SendResult:
        from valhalla_cli.services import ladder, template

        self.result.dry_run = dry_run
        identification = template.identification_of(self.settings)
        per_claim = max(1, int(self.settings.sender.max_per_second * 10))
        pacer = Pacer(self.settings.sender.max_per_second, self.clock, self.sleep)
        done: set[int] = set()
        first = True
        while limit is None or len(self.result.handled) < limit:
            if not first and self.clock.elapsed() >= max_seconds:
                break
            want = per_claim if limit is None else min(per_claim, limit - len(
                self.result.handled))
            if dry_run and limit is not None:
                want = limit
            with self.transaction(write=True) as session:
                claimed = ladder.dispatch(
                    session, at=self.clock.now(), limit=want, lease=self.config.lease,
                    worker=self.worker, config=self.config, dry_run=dry_run,
                    enforce=self.settings.golive_enforce, actor=self.actor,
                    business_timezone=self.settings.business_timezone,
                    identification=identification, channel="SMS")
            if claimed.refused:
                self.result.exit_code = 1
                self.result.reason = ("kill_switch" if claimed.reason == "kill_switch_engaged"
                                      else claimed.reason)
                self.result.message = claimed.message
                return self.result
            first = False
            fresh = [c for c in claimed.tasks if c.task_id not in done]
            again = [c for c in claimed.tasks if c.task_id in done]
            if again:  # refused earlier in this run: not retried before the next run
                with self.transaction(write=True) as session:
                    _release(session, again)
            if dry_run:
                for c in fresh:
                    self._handled(Handled(c.task_id, c.lead_id, c.to, None, None,
                                          "would_send", None, message=c.message))
                return self.result
            if not fresh:
                break
            for index, claim in enumerate(fresh):
                try:
                    self._one(claim, pacer)
                except _Stop as stop:
                    with self.transaction(write=True) as session:
                        _release(session, fresh[index + 1:] if stop.sent_this
                                 else fresh[index:])
                    self.result.exit_code, self.result.reason = stop.exit_code, stop.reason
                    self.result.message = stop.message
                    return self.result
                done.add(claim.task_id)
        return self.result

    def _one(self, claim: Any, pacer: Pacer) -> None:
        # The pace is kept before the kill switch is read, so that nothing but the writing of
        # the message row separates reading the switch from the request.
        if self.provider is not None:
            pacer.wait()
        prepared = self._prepare(claim, self.clock.now(), self.provider is None)
        if isinstance(prepared, Handled):  # committed: a rule said no, or `log` took it
            self._handled(prepared)
            return
        message, to = prepared
        self._send(claim, message, to)

    def _prepare(self, claim: Any, now: datetime, log: bool
                 ) -> Handled | tuple[OutboundMessage, str]:
        """The decision at the send instant and the `sending` row, committed; a Handled when
        nothing is left to request."""
        from valhalla_cli.services import golive, market

        settings = self.settings
        with self.transaction(write=True) as session:
            # the kill switch, read in the transaction that would write the message
            live = golive.live_status(session, enforce=settings.golive_enforce)
            if not live.live:
                raise _Stop(1, "kill_switch" if live.reason == "kill_switch_engaged" else
                            live.reason or "not_live", f"stopped before task "
                            f"{claim.task_id}: {live.message}; its unsent claims were "
                            "released", sent_this=False)
            task = session.get(FollowupTask, claim.task_id)
            if task is None or task.status != "claimed" or task.claim_token != claim.claim_token:
                reason = task.status_reason if task is not None else None
                return Handled(claim.task_id, claim.lead_id, claim.to, None, None,
                               "not_sent_by_rule", None, reason or "no_longer_claimed")
            # The score was judged when the ladder was created; dispatch does not judge it again.
            answer = market.can_contact(
                session, province=None, market=None, channel="SMS", at=now,
                business_timezone=settings.business_timezone, lead_id=claim.lead_id,
                lead_score=100, score_optional=True)
            if not answer.allowed or not claim.message:
                if not answer.allowed:
                    reason = _apply_no(session, claim, answer.reason, answer.next_open_at,
                                       at=now)
                else:  # the identification went missing since the claim: held, as dispatch
                    reason = _apply_no(session, claim, Reason.NO_IDENTIFICATION, None,
                                       at=now)
                return Handled(claim.task_id, claim.lead_id, answer.phone, None, None,
                               "not_sent_by_rule", None, reason)
            to = str(answer.phone)
            message = OutboundMessage(
                task_id=claim.task_id, attempt=claim.attempt, lead_id=claim.lead_id, to=to,
                sender=(settings.twilio.sender if not log else None) or "log",
                body=claim.message, segments=segments(claim.message),
                provider="log" if log else "twilio", state="sending", created_at=now,
                actor=self.actor)
            session.add(message)
            task.lease_expires_at = None  # never handed out again until the message settles
            session.flush()
            if log:
                message.sid, message.state, message.accepted_at = log_sid(), "accepted", now
                self._complete(session, claim, now)
                session.flush()
                return self._view(claim, message)
        return message, to

    def _send(self, claim: Any, message: OutboundMessage, to: str) -> None:
        tries, backoff = 0, 1.0
        while True:
            reply: Answer = self.provider.create(to=to, body=claim.message)
            tries += 1
            too_many = reply.kind == "refused" and (
                reply.http_status == 429 or reply.error_code == ledger.TOO_MANY_REQUESTS)
            if not too_many:
                break
            if tries >= MAX_TRIES:
                self._not_sent(claim, message, reply, self.clock.now())
                raise _Stop(4, "too_many_requests", f"the provider answered 'too many "
                            f"requests' {tries} times in a row; message "
                            f"{message.message_id} not sent, its task released")
            self.sleep(min(reply.retry_after if reply.retry_after is not None else backoff,
                           MAX_BACKOFF))
            backoff = min(backoff * 2, MAX_BACKOFF)
        self._record(claim, message, reply)

    def _view(self, claim: Any, message: OutboundMessage) -> Handled:
        return Handled(claim.task_id, claim.lead_id, message.to, pk(message.message_id),
                       message.sid, message.state, message.error_code)

    def _complete(self, session: Session, claim: Any, at: datetime) -> None:
        from valhalla_cli.services import ladder

        ladder.complete(session, task_id=claim.task_id, outcome="sent",
                        claim_token=claim.claim_token, note=None, at=at, actor=self.actor,
                        config=self.config)

    def _not_sent(self, claim: Any, message: OutboundMessage, reply: Answer, at: datetime
                  ) -> None:
        with self.transaction(write=True) as session:
            row = session.get(OutboundMessage, message.message_id)
            assert row is not None
            ledger.move(session, row, "not_sent", at=self.clock.now(),
                        error_code=reply.error_code)
            _return_task(session, claim.task_id, at=at, max_attempts=self.config.max_attempts,
                         reason=f"not sent: provider error {reply.error_code or 429}",
                         counted=False)
            view = self._view(claim, row)
        self._handled(view)

    def _record(self, claim: Any, message: OutboundMessage, reply: Answer) -> None:
        now = self.clock.now()
        if reply.kind == "unreachable":
            self._handled(self._view(claim, message))
            raise _Stop(4, "provider_unreachable", f"the provider could not be reached "
                        f"({reply.error_message}); message {message.message_id} stays "
                        "'sending' until `valhalla send reconcile` settles it")
        if reply.kind == "refused" and reply.error_code in ledger.CONFIG_CODES:
            self._not_sent(claim, message, reply, now)
            raise _Stop(3, "provider_configuration", f"the provider refused the account or "
                        f"the sender: error {reply.error_code} "
                        f"({ledger.meaning(reply.error_code)}); check [twilio]")
        with self.transaction(write=True) as session:
            row = session.get(OutboundMessage, message.message_id)
            assert row is not None
            if reply.kind == "refused":
                ledger.move(session, row, "failed", at=now, error_code=reply.error_code)
                ledger.apply_code(session, code=reply.error_code, phone=row.to, at=now,
                                  actor=self.actor)
                _return_task(session, claim.task_id, at=now,
                             max_attempts=self.config.max_attempts,
                             reason=f"refused by the provider: error {reply.error_code}")
            else:
                row.sid = reply.sid
                session.flush()
                ledger.move(session, row, "accepted", at=now)
                # the answer's status as an event (one Valhalla does not know: as "queued")
                status = reply.status if reply.status in ledger.KNOWN_STATUSES else "queued"
                ledger.record_event(session, sid=str(reply.sid), status=status,
                                    error_code=reply.error_code, at=now, actor=self.actor,
                                    raw=reply.fields, message=row)
                ledger.apply_pending_events(session, row, actor=self.actor)
                # refused by the ladder when the task finished meanwhile (a STOP cancelled it)
                self._complete(session, claim, now)
            session.flush()
            view = self._view(claim, row)
        self._handled(view)


def send(transaction: Transaction, settings: Any, config: Any, *, at: datetime | None,
         limit: int | None, max_seconds: float | None, worker: str, dry_run: bool, actor: str,
         on_handled: Callable[[Handled], None] = lambda h: None,
         sleep: Callable[[float], None] = time.sleep) -> SendResult:
    """One run of the cron job (see the module docstring)."""
    from valhalla_cli.services.sending.provider import Twilio

    provider = settings.sender.provider
    if provider is None:
        raise ConfigError("no SMS provider: set sender.provider ('twilio' or 'log') in the "
                          "config file or VALHALLA_SENDER_PROVIDER")
    if limit is not None and not 1 <= limit <= 100_000:
        raise BadInput("--limit must be between 1 and 100000")
    if max_seconds is not None and not 0 < max_seconds <= 86_400:
        raise BadInput("--max-seconds must be above 0 and at most 86400")
    worker = (worker or "").strip()
    if not worker or len(worker) > 200:
        raise BadInput("--worker must be 1-200 characters")
    sender = Sender(transaction, settings, config,
                    Twilio(settings.twilio) if provider == "twilio" else None, worker, actor,
                    Clock(at), sleep=sleep, on_handled=on_handled)
    return sender.run(limit=limit, max_seconds=max_seconds if max_seconds is not None
                      else settings.sender.max_run_seconds, dry_run=dry_run)


