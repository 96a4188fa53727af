"""The suppression ledger: a lead or a number that must not be contacted on any channel,
recorded (audited) with the remaining follow-up tasks it covers cancelled, and read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import utcnow
from valhalla_cli.db import lock_keys
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_lead_id, parse_text
from valhalla_cli.models import ContactSuppression
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack

PACK = Pack.MARKET


def suppressed_among(session: Session, lead_ids: list[str] | set[str], *, at: datetime,
                     business_timezone: str) -> set[str]:
    """Which of these leads are suppressed, by lead or by number."""
    from valhalla_cli.services.contact_facts import facts_for

    facts, _ = facts_for(session, lead_ids=lead_ids, at=at, business_timezone=business_timezone)
    return {lead for lead, f in facts.items() if f.suppressed}


@dataclass(frozen=True)
class SuppressionView:
    id: int
    lead_id: str | None
    phone: str | None
    reason: str
    at: datetime
    actor: str
    created: bool
    tasks_cancelled: int


def _suppression_view(row: ContactSuppression, created: bool, cancelled: int) -> SuppressionView:
    return view_of(SuppressionView, row, id=pk(row.id), created=created,
                   tasks_cancelled=cancelled)


def _cancel_for_leads(session: Session, lead_ids: list[str], *, at: datetime, reason: str
                      ) -> int:
    from valhalla_cli.services.ladder.tasks import cancel_active_tasks

    return sum(cancel_active_tasks(session, lead_id=lead, at=at, reason=reason)
               for lead in sorted(set(lead_ids)))


def suppress(session: Session, *, lead_id: str | None, phone: str | None, reason: str,
             actor: str, at: datetime) -> SuppressionView:
    """Suppress a lead (and its number) or a number alone, on every channel, at once: the
    remaining follow-up tasks of every lead it covers are cancelled.

    Suppressing the same lead (and phone) again returns the existing entry (`created: false`).
    """
    from valhalla_cli.models import Lead
    from valhalla_cli.phones import parse_phone

    lead = parse_lead_id(lead_id) if lead_id is not None else None
    reason = parse_text(reason, field="--reason", max_length=2000) or ""
    if not reason:
        raise BadInput("--reason must not be empty")
    number = parse_phone(phone) if phone is not None and phone.strip() else None
    if lead is None and number is None:
        raise BadInput("give a LEAD or --phone N")
    if lead is not None and number is None:
        number = session.scalar(select(col(Lead.phone)).where(col(Lead.lead_id) == lead))
    covered = [lead] if lead is not None else []
    if number is not None:
        covered += list(session.scalars(select(col(Lead.lead_id))
                                        .where(col(Lead.phone) == number)))
    cancelled = _cancel_for_leads(session, covered, at=at,
                                  reason=f"suppressed: {reason.strip()}")
    from valhalla_cli.services.inbox_tasks import close_for_opt_out

    close_for_opt_out(session, lead_ids=covered, at=at, actor=actor)
    # Two callers suppressing the same lead or number at once (an operator and a STOP, two
    # STOPs): the second waits here, finds the first's entry and returns it, as it would
    # coming second. There is no row to lock yet, and several entries may legitimately exist
    # (one lifted by a consent, then a new one), so no unique key can arbitrate. Taken after
    # the rows this rule changes (tasks, inbox items), not before them: a caller that locked
    # a task first (`ladder complete --outcome opt_out`) and waits here is never waited on.
    lock_keys(session, [f"contact_suppression {lead or ''} {number or ''}"])
    s = ContactSuppression
    existing = session.scalars(select(s).where(
        col(s.lead_id).is_(None) if lead is None else col(s.lead_id) == lead,
        col(s.phone).is_(None) if number is None else col(s.phone) == number,
    ).order_by(col(s.at).desc()).limit(1)).first()
    lifted = False
    if existing is not None and lead is not None:
        # A suppression an express consent has lifted is no longer in force: record anew.
        lifted = lead not in suppressed_among(session, [lead], at=max(at, existing.at),
                                              business_timezone="UTC")
    if existing is not None and not lifted:
        return _suppression_view(existing, False, cancelled)
    row = ContactSuppression(lead_id=lead, phone=number, reason=reason.strip(), at=at,
                             recorded_at=utcnow(), actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, pack=PACK, action="suppress", actor=actor, at=at,
                 subject=lead or number,
                 after={"lead_id": lead, "phone": number, "tasks_cancelled": cancelled},
                 reason=row.reason)
    return _suppression_view(row, True, cancelled)


def suppress_number(session: Session, *, phone: str, reason: str, actor: str, at: datetime
                    ) -> SuppressionView:
    return suppress(session, lead_id=None, phone=phone, reason=reason, actor=actor, at=at)


def suppression_views(session: Session, query: Any) -> list[SuppressionView]:
    return [_suppression_view(r, False, 0) for r in session.scalars(query)]


def list_suppressions(session: Session, *, lead_id: str | None = None, limit: int = 100
                      ) -> list[SuppressionView]:

    query = select(ContactSuppression)
    if lead_id is not None:
        query = query.where(col(ContactSuppression.lead_id) == parse_lead_id(lead_id,
                                                                             field="--lead"))
    query = query.order_by(col(ContactSuppression.at).desc(),
                           col(ContactSuppression.id).desc()).limit(limit)
    return [_suppression_view(r, False, 0) for r in session.scalars(query)]
