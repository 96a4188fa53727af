"""The ladder's runbook check: the configuration is valid and no claim is stuck past its lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import ConfigError
from valhalla_cli.models import FollowupTask
from valhalla_cli.services.ladder.config import ladder_config


def runbook_check(session: Session, settings: Any, at: datetime):
    """Fails when the [ladder] configuration is invalid or tasks are stuck claimed past their
    lease."""
    from valhalla_cli.services.runbook import FAIL, OK, CheckResult

    try:
        config = ladder_config(settings.ladder)
    except ConfigError as exc:
        return CheckResult("followups", FAIL, f"invalid ladder configuration: {exc.message}",
                           f"fix the [ladder] table in {settings.config_path}")
    t = FollowupTask
    stuck = session.execute(
        select(func.count(), func.min(col(t.lease_expires_at)))
        .where(col(t.status) == "claimed", col(t.ready).in_([True, False]),
               col(t.lease_expires_at) < at)
    ).one()
    if stuck[0]:
        oldest = session.execute(
            select(col(t.id), col(t.lead_id)).where(col(t.status) == "claimed",
                                                    col(t.lease_expires_at) < at)
            .order_by(col(t.lease_expires_at)).limit(1)).one()
        return CheckResult(
            "followups", FAIL,
            f"{stuck[0]} task(s) stuck claimed past their lease (oldest task {oldest.id}, "
            f"lead {oldest.lead_id}); a live dispatch reclaims them, or release one by hand "
            f"(nobody reported an outcome: none is invented)",
            f"valhalla ladder release {oldest.id} --reason 'lease expired, nobody reported'")
    steps = ", ".join(s.label for s in config.steps)
    return CheckResult("followups", OK, f"ladder {steps}; lease {settings.ladder.lease}, "
                       f"max {config.max_attempts} attempts; no stuck claims")
