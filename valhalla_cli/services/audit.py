"""The append-only audit log. Every state change writes here in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.models import AuditEvent
from valhalla_cli.models.types import pk, stored_json


class Pack(StrEnum):
    """The packs that write audit events: the `pack` of every event, what `audit --pack`
    offers. A pack that never calls `record` is not listed (filtering by it would always be
    empty)."""

    LEAD = "lead"
    MARKET = "market"
    DNCL = "dncl"
    TEMPLATE = "template"
    LADDER = "ladder"
    SEND = "send"
    INBOX = "inbox"
    OFFER = "offer"
    GOLIVE = "golive"
    RISK = "risk"
    HEIMDALL = "heimdall"
    REGRESSION = "regression"
    API = "api"
    DB = "db"


def parse_pack(value: str | None, *, option: str = "--pack") -> Pack | None:
    """A pack name to filter the audit log by (None: every pack)."""
    from valhalla_cli.errors import BadInput

    if value is None:
        return None
    try:
        return Pack(value)
    except ValueError:
        raise BadInput(f"{option} must be one of {', '.join(Pack)}, not {value!r}") from None


def record(
    session: Session,
    *,
    pack: Pack,
    action: str,
    actor: str,
    at: datetime,
    subject: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit event in the caller's transaction (so it commits with the change).

    The log is append-only, so what it receives stays: a reason goes through the one free-text
    parser (no control or invisible characters, at most 2 000 characters) even when the face
    already checked it."""
    from valhalla_cli.inputs import parse_reason

    reason = parse_reason(reason, field="reason")
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            pack=Pack(pack).value,  # a name that is not a pack fails here, not in the log
            action=action,
            subject=subject,
            before=stored_json(before) if before is not None else None,
            after=stored_json(after) if after is not None else None,
            reason=reason,
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    pack: str
    action: str
    subject: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


def list_events(
    session: Session,
    *,
    since: datetime | None = None,
    pack: str | None = None,
    actions: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first."""
    query = select(AuditEvent)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if pack is not None:
        query = query.where(col(AuditEvent.pack) == str(pack))
    if actions:
        query = query.where(col(AuditEvent.action).in_(actions))
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
    return [
        AuditEntry(
            id=pk(row.id), at=row.at, actor=row.actor, pack=row.pack, action=row.action,
            subject=row.subject, before=row.before, after=row.after, reason=row.reason,
        )
        for row in session.scalars(query)
    ]


def apply_policy_change(
    session: Session,
    policy: Any,
    values: dict[str, Any],
    *,
    created: bool,
    before: dict[str, Any] | None,
    snapshot: Callable[[Any], dict[str, Any]],
    pack: Pack,
    subject: str,
    actor: str,
    at: datetime,
    reason: str | None,
) -> bool:
    """Set `values` on a policy row; when that changes it (or the row is new), stamp who and
    when and audit before -> after. Setting the same values again writes nothing."""
    for field, value in values.items():
        setattr(policy, field, value)
    after = snapshot(policy)
    changed = created or after != before
    if changed:
        policy.updated_at, policy.updated_by = at, actor
        session.flush()
        record(session, pack=pack, action="policy_create" if created else "policy_set",
               actor=actor, at=at, subject=subject, before=before, after=after, reason=reason)
    return changed
