"""The ladder pack's writes to its own table that other packs trigger.

`followup_task` is written only by the ladder pack; the market pack cancels a suppressed lead's
tasks through `cancel_active_tasks` (re-exported as `ladder.cancel_active_tasks`). This module
imports no other service; the market pack imports it inside the function that cancels (loading
it loads the ladder package, which depends on market), so there is no cycle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES

__all__ = ["cancel_active_tasks"]

# A paused ladder (the lead replied) is stopped by the same events as a running one.
CANCELLABLE = (*ACTIVE_STATUSES, "paused")


def cancel_active_tasks(session: Session, *, lead_id: str, at: datetime, reason: str,
                        ladder_id: str | None = None) -> int:
    """Cancel the lead's pending, claimed and paused follow-up tasks (optionally of one ladder).

    The lead's tasks are found by the lead index alone, then cancelled by id with the status
    re-checked in the same UPDATE."""
    query = select(col(FollowupTask.id),
                   col(FollowupTask.status)).where(col(FollowupTask.lead_id) == lead_id)
    if ladder_id is not None:
        query = query.where(col(FollowupTask.ladder_id) == ladder_id)
    ids = [task_id for task_id, status in session.execute(query) if status in CANCELLABLE]
    if not ids:
        return 0
    stmt = (update(FollowupTask)
            .where(col(FollowupTask.id).in_(ids), col(FollowupTask.status).in_(CANCELLABLE))
            .values(status="cancelled", status_reason=reason, claim_token=None,
                    lease_expires_at=None)
            .execution_options(synchronize_session=False))
    return affected_rows(session.execute(stmt))
