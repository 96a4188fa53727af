"""`valhalla send reconcile`: settle the messages whose fate is unknown by asking the provider.

A message still `sending` 2 minutes after its row was written (the answer was lost: a crash, a
timeout, a 5xx) is looked up among the provider's messages to its number: the one with the
same sender and body created no earlier than 60 s before the row is it. Found, it is recorded
and its task completed as at acceptance (at the provider's `date_created`); not found 10
minutes after the row, it never left: `not_sent`, and the task is claimable again (the attempt
counts). A message accepted 24 hours ago with no final state is fetched again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from valhalla_cli.models import FollowupTask
from valhalla_cli.models.sending import MessageEvent, OutboundMessage
from valhalla_cli.models.types import pk
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.services.sending import ledger
from valhalla_cli.services.sending.provider import Twilio, parse_provider_instant
from valhalla_cli.services.sending.run import Transaction, _return_task

SETTLE_AFTER = timedelta(minutes=2)
NOT_SENT_AFTER = timedelta(minutes=10)
MATCH_SLACK = timedelta(seconds=60)
REFETCH_AFTER = timedelta(hours=24)
UNKNOWN_AFTER = timedelta(hours=72)
BATCH = 500


@dataclass(frozen=True)
class Change:
    message_id: int
    before: str
    after: str


@dataclass
class ReconcileResult:
    changes: list[Change] = field(default_factory=list)
    looked_up: int = 0
    refetched: int = 0
    exit_code: int = 0
    message: str | None = None

    @property
    def summary(self) -> str:
        return (f"looked up {self.looked_up} sending message(s), re-read {self.refetched} "
                f"accepted one(s); {len(self.changes)} changed")

    @property
    def refusal(self) -> Refusal | None:
        """The provider could not be reached: what was done, and what was not."""
        if not self.exit_code:
            return None
        return Refusal("provider_unreachable",
                       f"{self.message or 'the provider could not be reached'} ({self.summary})",
                       code=self.exit_code)


def _match(found: list[dict[str, Any]], message: OutboundMessage) -> dict[str, Any] | None:
    for item in found:
        created = parse_provider_instant(item.get("date_created"))
        sender = item.get("from") if not str(message.sender).startswith("MG") else item.get(
            "messaging_service_sid")
        if (sender == message.sender and item.get("body") == message.body
                and created is not None and created >= message.created_at - MATCH_SLACK
                and item.get("sid")):
            return item
    return None


def reconcile(transaction: Transaction, settings: Any, config: Any, *, at: datetime,
              actor: str, on_change: Callable[[Change], None] = lambda c: None
              ) -> ReconcileResult:
    from valhalla_cli.errors import ConfigError
    from valhalla_cli.services import ladder

    result = ReconcileResult()
    if settings.sender.provider != "twilio":
        if settings.sender.provider is None:
            raise ConfigError("no SMS provider: set sender.provider ('twilio' or 'log') in the "
                              "config file or VALHALLA_SENDER_PROVIDER")
        return result  # `log` messages are accepted at once and never reach a provider
    provider = Twilio(settings.twilio)

    def changed(message_id: int, before: str, after: str) -> None:
        if before != after:
            change = Change(message_id, before, after)
            result.changes.append(change)
            on_change(change)

    # Events kept for a sid no message carried yet, whose message has the sid now (on PostgreSQL
    # a callback can commit just after the send recorded the sid and looked for such events).
    with transaction(write=True) as session:
        known = list(session.scalars(
            select(OutboundMessage).where(col(OutboundMessage.sid).in_(
                select(col(MessageEvent.sid)).where(col(MessageEvent.applied).is_(False))))))
        for carrier in known:
            before = carrier.state
            ledger.apply_pending_events(session, carrier, actor=actor)
            changed(pk(carrier.message_id), before, carrier.state)

    with transaction() as session:
        stuck = list(session.scalars(
            select(OutboundMessage)
            .where(col(OutboundMessage.state) == "sending",
                   col(OutboundMessage.created_at) <= at - SETTLE_AFTER,
                   col(OutboundMessage.provider) == "twilio")
            .order_by(col(OutboundMessage.created_at)).limit(BATCH)))
    for message in stuck:
        found = provider.list_to(to=message.to, since=message.created_at - MATCH_SLACK)
        if found is None:
            result.exit_code, result.message = 4, (
                f"the provider could not be reached while looking up message "
                f"{message.message_id}; nothing changed for it")
            return result
        result.looked_up += 1
        item = _match(found, message)
        with transaction(write=True) as session:
            row = session.get(OutboundMessage, message.message_id)
            if row is None or row.state != "sending":
                continue
            before = row.state
            if item is not None:
                created = parse_provider_instant(item.get("date_created")) or at
                row.sid = str(item["sid"])
                session.flush()
                ledger.move(session, row, "accepted", at=created)
                status = str(item.get("status") or "queued")
                ledger.record_event(session, sid=row.sid, status=status if status in
                                    ledger.KNOWN_STATUSES else "queued",
                                    error_code=ledger.check_error_code(item.get("error_code"),
                                                                       option="error_code"),
                                    at=at, actor=actor, raw=item)
                ledger.apply_pending_events(session, row, actor=actor)
                task = session.get(FollowupTask, row.task_id) if row.task_id else None
                if task is not None and task.status == "claimed" and task.attempt == row.attempt:
                    ladder.complete(session, task_id=pk(task.id), outcome="sent",
                                    claim_token=task.claim_token, note=None, at=created,
                                    actor=actor, config=config)
            elif row.created_at <= at - NOT_SENT_AFTER:
                ledger.move(session, row, "not_sent", at=at)
                if row.task_id is not None:
                    task = session.get(FollowupTask, row.task_id)
                    if task is not None and task.attempt == row.attempt:
                        _return_task(session, row.task_id, at=at,
                                     max_attempts=config.max_attempts,
                                     reason="not sent: the provider never received it")
            changed(pk(row.message_id), before, row.state)

    with transaction() as session:
        waiting = list(session.scalars(
            select(OutboundMessage)
            .where(col(OutboundMessage.state).in_(("accepted", "sent")),
                   col(OutboundMessage.accepted_at) <= at - REFETCH_AFTER,
                   col(OutboundMessage.accepted_at) > at - UNKNOWN_AFTER,
                   col(OutboundMessage.provider) == "twilio",
                   col(OutboundMessage.sid).is_not(None))
            .order_by(col(OutboundMessage.accepted_at)).limit(BATCH)))
    for message in waiting:
        answer = provider.fetch(str(message.sid))
        if answer.kind == "unreachable":
            result.exit_code, result.message = 4, (
                f"the provider could not be reached while re-reading message "
                f"{message.message_id}")
            return result
        result.refetched += 1
        if answer.kind != "accepted" or answer.status not in ledger.KNOWN_STATUSES:
            continue
        with transaction(write=True) as session:
            row = session.get(OutboundMessage, message.message_id)
            if row is None:
                continue
            before = row.state
            ledger.record_event(session, sid=str(row.sid), status=answer.status,
                                error_code=answer.error_code, at=at, actor=actor,
                                raw=answer.fields)
            changed(pk(row.message_id), before, row.state)
    return result
