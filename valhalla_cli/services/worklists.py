"""The work waiting for a person: overdue, held and stuck follow-up tasks, replies nobody has
answered, offers sent and not answered. `valhalla status`, the review page and
`valhalla ladder overdue` list them from here.

Each list is bounded (the first `limit` rows, oldest first, and the total), so the status stays
fast whatever the backlog; every query reads an index range of open work, never the history:
- overdue: pending tasks more than the SLA (`[ladder] sla_minutes`) past due, as the SLA
  report's `overdue_now` counts them;
- held: pending tasks that dispatch holds (`dncl_not_checked`, `no_identification`), due
  within the hour of the run that held them, as `status` counts them;
- stuck: tasks claimed whose lease has expired (the worker that claimed them never reported);
- replies: texts a lead sent that are not an opt-out (`lead inbound` records them), received
  in the last `REPLY_DAYS` days, with no task of that lead completed since (until an inbox
  replaces this rule, a completed follow-up is how a person answers);
- offers: offers whose last recorded stage is `sent`: nobody has recorded an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from valhalla_cli.models import FollowupTask, InboundMessage, OfferEvidence, OfferOutcome
from valhalla_cli.services.contact_rules import HOLD_REASONS

LIMIT = 20  # rows shown per list; the total says how many more there are
REPLY_DAYS = 14
HELD_REASONS = HOLD_REASONS


@dataclass(frozen=True)
class TaskItem:
    task_id: int
    lead_id: str
    owner: str | None
    step: int
    channel: str
    due_at: datetime
    age_minutes: int  # how long past due (stuck: how long since the lease expired)
    reason: str  # overdue | dncl_not_checked | no_identification | lease expired (claimed by W)


@dataclass(frozen=True)
class ReplyItem:
    message_id: int
    lead_id: str | None  # None: a number no lead has
    phone: str
    received_at: datetime
    age_minutes: int
    body: str


@dataclass(frozen=True)
class OfferItem:
    evidence_id: int
    deal_ref: str | None
    province: str
    market: str | None
    amount: Any  # Decimal: the amount recorded with `sent` (the opening offer when none)
    sent_at: datetime
    age_days: int


@dataclass(frozen=True)
class Worklist:
    total: int
    shown: int
    more: int  # total - shown: the "and N more" line
    rows: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Worklists:
    overdue: Worklist
    held: Worklist
    stuck: Worklist
    replies: Worklist
    offers: Worklist


def _minutes(at: datetime, since: datetime) -> int:
    return max(0, int((at - since).total_seconds() // 60))


def _bounded(total: int, rows: list[Any]) -> Worklist:
    return Worklist(total=total, shown=len(rows), more=max(0, total - len(rows)), rows=rows)


def _task_list(session: Session, where: list[Any], *, at: datetime, limit: int,
               reason_of: Any, age_from: Any = None) -> Worklist:
    t = FollowupTask
    total = session.scalar(select(func.count()).select_from(t).where(*where)) or 0
    rows = session.scalars(select(t).where(*where)
                           .order_by(col(t.due_at), col(t.id)).limit(limit)).all()
    items = [TaskItem(r.id or 0, r.lead_id, r.owner, r.step, r.channel, r.due_at,
                      _minutes(at, age_from(r) if age_from else r.due_at), reason_of(r))
             for r in rows]
    return _bounded(int(total), items)


def overdue(session: Session, *, at: datetime, sla_minutes: int, owner: str | None = None,
            limit: int = LIMIT) -> Worklist:
    """Pending tasks more than `sla_minutes` past due, oldest first (optionally one owner's)."""
    t = FollowupTask
    where = [col(t.status) == "pending", col(t.ready).in_([True, False]),
             col(t.due_at) < at - timedelta(minutes=sla_minutes)]
    if owner is not None:
        where.append(col(t.owner) == owner)
    return _task_list(session, where, at=at, limit=limit, reason_of=lambda r: "overdue")


def held(session: Session, *, at: datetime, limit: int = LIMIT) -> Worklist:
    t = FollowupTask
    where = [col(t.status) == "pending", col(t.ready).is_(True),
             col(t.due_at) <= at + timedelta(hours=1), col(t.status_reason).in_(HELD_REASONS)]
    return _task_list(session, where, at=at, limit=limit,
                      reason_of=lambda r: r.status_reason or "held")


def stuck(session: Session, *, at: datetime, limit: int = LIMIT) -> Worklist:
    t = FollowupTask
    where = [col(t.status) == "claimed", col(t.ready).in_([True, False]),
             col(t.due_at) <= at, col(t.lease_expires_at) < at]
    return _task_list(
        session, where, at=at, limit=limit,
        reason_of=lambda r: f"lease expired (claimed by {r.claimed_by or 'unknown'})",
        age_from=lambda r: r.lease_expires_at or r.due_at)


def replies(session: Session, *, at: datetime, limit: int = LIMIT) -> Worklist:
    m, t = InboundMessage, FollowupTask
    answered = exists().where(col(t.lead_id) == col(m.lead_id),
                              col(t.completed_at) >= col(m.received_at))
    where = [col(m.action) == "recorded", col(m.received_at) <= at,
             col(m.received_at) > at - timedelta(days=REPLY_DAYS), ~answered]
    total = session.scalar(select(func.count()).select_from(m).where(*where)) or 0
    rows = session.scalars(select(m).where(*where)
                           .order_by(col(m.received_at), col(m.id)).limit(limit)).all()
    return _bounded(int(total), [
        ReplyItem(r.id or 0, r.lead_id, r.phone, r.received_at, _minutes(at, r.received_at),
                  r.body) for r in rows])


def offers(session: Session, *, at: datetime, limit: int = LIMIT) -> Worklist:
    from valhalla_cli.money import from_cents

    sent, later, e = OfferOutcome, aliased(OfferOutcome, name="later"), OfferEvidence
    answered = exists().where(col(later.evidence_id) == col(sent.evidence_id),
                              col(later.status) != "sent", col(later.at) <= at)
    where = [col(sent.status) == "sent", col(sent.at) <= at, ~answered]
    total = session.scalar(select(func.count()).select_from(sent).where(*where)) or 0
    rows = session.execute(
        select(col(sent.evidence_id), col(sent.amount_cents), col(sent.at), col(e.deal_ref),
               col(e.province), col(e.market), col(e.opening_offer_cents))
        .join(e, and_(col(e.id) == col(sent.evidence_id)))
        .where(*where).order_by(col(sent.at), col(sent.evidence_id)).limit(limit)).all()
    items = []
    for evidence_id, amount, sent_at, deal_ref, province, market, opening in rows:
        cents = amount if amount is not None else opening
        items.append(OfferItem(int(evidence_id), deal_ref, province, market,
                               from_cents(cents) if cents is not None else None, sent_at,
                               _minutes(at, sent_at) // (60 * 24)))
    return _bounded(int(total), items)


def all_lists(session: Session, *, at: datetime, sla_minutes: int | None,
              limit: int = LIMIT) -> Worklists:
    """Every worklist at `at` (the task lists are empty when the ladder config is invalid)."""
    none = _bounded(0, [])
    return Worklists(
        overdue=overdue(session, at=at, sla_minutes=sla_minutes, limit=limit)
        if sla_minutes is not None else none,
        held=held(session, at=at, limit=limit),
        stuck=stuck(session, at=at, limit=limit),
        replies=replies(session, at=at, limit=limit),
        offers=offers(session, at=at, limit=limit))
