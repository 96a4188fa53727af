"""The inbox's writes that other packs trigger: a lead's text opens or joins its item and
pauses its ladder; an opt-out closes the item; a wrong number stays off its lead.

Like `ladder/tasks.py`, this module imports no other service (only the audit log), so the lead
and market packs call it without a cycle; `services/inbox.py` holds the rest of the pack.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, insert_if_missing
from valhalla_cli.errors import Refused
from valhalla_cli.models import FollowupTask, Lead
from valhalla_cli.models.inbox import InboxItem, WrongNumber
from valhalla_cli.models.types import table_of
from valhalla_cli.services import inbox_rules
from valhalla_cli.services.audit import Pack

PACK = Pack.INBOX
PAUSED = "paused"
REPLIED = "replied"


def open_item(session: Session, lead_id: str, *, lock: bool = False) -> InboxItem | None:
    query = select(InboxItem).where(col(InboxItem.lead_id) == lead_id,
                                    col(InboxItem.status) == "open")
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def pause_tasks(session: Session, *, lead_id: str) -> int:
    """The lead's pending and claimed tasks become `paused` (reason `replied`); a claim is void
    (its token is cleared, so completing with it is "lease lost")."""
    ids = [task_id for task_id, status in session.execute(
        select(col(FollowupTask.id), col(FollowupTask.status))
        .where(col(FollowupTask.lead_id) == lead_id)) if status in ("pending", "claimed")]
    if not ids:
        return 0
    return affected_rows(session.execute(
        update(FollowupTask)
        .where(col(FollowupTask.id).in_(ids), col(FollowupTask.status).in_(("pending",
                                                                            "claimed")))
        .values(status=PAUSED, status_reason=REPLIED, claim_token=None, lease_expires_at=None,
                claimed_by=None)
        .execution_options(synchronize_session=False)))


def detach_wrong_number(session: Session, *, lead: Lead, at: datetime, actor: str
                        ) -> str | None:
    """A wrong number leaves its lead: `lead.phone` is cleared and the pair is kept in
    `wrong_number`, so no import or ladder puts it back on that lead. The one rule behind
    `inbox close --outcome wrong_number`, `ladder complete --outcome wrong_number` and the
    call desk's disposition; answers the number detached (None when the lead had none)."""
    detached = lead.phone
    if not detached:
        return None
    # Kept once per pair: an inbox close and a task's completion detaching the number at the
    # same moment both keep it, neither fails on the pair's key.
    insert_if_missing(session, table_of(WrongNumber), {
        "lead_id": lead.lead_id, "phone": detached, "at": at, "actor": actor})
    lead.phone, lead.updated_at = None, at
    session.flush()
    return detached


def _owner(session: Session, lead_id: str) -> str | None:
    return session.scalar(select(col(FollowupTask.owner))
                          .where(col(FollowupTask.lead_id) == lead_id)
                          .order_by(col(FollowupTask.created_at).desc(),
                                    col(FollowupTask.id).desc()).limit(1))


def receive(session: Session, *, lead: Lead, text: str, at: datetime, actor: str, zone: str
            ) -> InboxItem:
    """A lead's non-keyword text: open or join its item, pause its ladder. `zone` is the
    lead's zone, whose calendar counts a refusal's business days."""
    from valhalla_cli.services import audit

    kind = inbox_rules.classify(text)
    # Texts of one lead arriving together queue on its row, so the second joins the item the
    # first opened instead of colliding with it on the one-open-item index.
    session.execute(select(col(Lead.id)).where(col(Lead.lead_id) == lead.lead_id)
                    .with_for_update())
    item = open_item(session, lead.lead_id, lock=True)
    paused = pause_tasks(session, lead_id=lead.lead_id)
    if item is None:
        item = InboxItem(lead_id=lead.lead_id, owner=_owner(session, lead.lead_id), kind=kind,
                         status="open", opened_at=at, waiting_since=at, last_inbound_at=at,
                         last_text=text)
        session.add(item)
    else:
        item.kind = inbox_rules.more_severe(item.kind, kind)
        item.last_text, item.last_inbound_at = text, max(item.last_inbound_at, at)
        if item.waiting_since is None or at < item.waiting_since:
            item.waiting_since = at
    if kind == inbox_rules.REFUSAL and item.refusal_at is None:
        item.refusal_at = at
        item.deadline = inbox_rules.refusal_deadline(lead.province, at, zone)
    session.flush()
    audit.record(session, pack=PACK, action="receive", actor=actor, at=at,
                 subject=lead.lead_id, after={"item_id": item.id, "kind": item.kind,
                                              "tasks_paused": paused})
    return item


def close_for_opt_out(session: Session, *, lead_ids: list[str], at: datetime, actor: str
                      ) -> int:
    """An opt-out (keyword, provider code, withdrawal, suppression) closes the leads' open
    items with outcome `opt_out`."""
    if not lead_ids:
        return 0
    return affected_rows(session.execute(
        update(InboxItem)
        .where(col(InboxItem.lead_id).in_(sorted(set(lead_ids))),
               col(InboxItem.status) == "open")
        .values(status="closed", outcome="opt_out", closed_at=at, closed_by=actor,
                waiting_since=None)
        .execution_options(synchronize_session=False)))


def refuse_wrong_number(session: Session, *, pairs: list[tuple[str, str]]) -> None:
    """Refused (exit 1, reason `wrong_number`) when a number detached as a wrong number would
    be set on that lead again."""
    if not pairs:
        return
    leads = sorted({lead for lead, _ in pairs})
    known = set()
    for i in range(0, len(leads), 500):
        known |= {(r.lead_id, r.phone) for r in session.scalars(
            select(WrongNumber).where(col(WrongNumber.lead_id).in_(leads[i:i + 500])))}
    for lead, phone in pairs:
        if (lead, phone) in known:
            raise Refused(f"{phone} was detached from lead {lead} as a wrong number: it cannot "
                          "be set on that lead again", "wrong_number")
