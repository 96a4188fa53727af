"""The ladder's runbook check: the configuration is valid, no claim is stuck past its lease, and
no backlog of tasks that cannot be sent is due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, not_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import ConfigError
from valhalla_cli.models import FollowupTask, Lead
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.services.ladder.config import ladder_config

__all__ = ["runbook_check"]


def runbook_check(session: Session, settings: Any, at: datetime):
    """Fails when the [ladder] configuration is invalid or tasks are stuck claimed past their
    lease."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    try:
        config = ladder_config(settings.ladder)
    except ConfigError as exc:
        return CheckResult(FAIL, f"invalid ladder configuration: {exc.message}",
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
            FAIL,
            f"{stuck[0]} task(s) stuck claimed past their lease (oldest task {oldest.id}, "
            f"lead {oldest.lead_id}); a live dispatch reclaims them, or release one by hand "
            f"(nobody reported an outcome: none is invented)",
            f"valhalla ladder release {oldest.id} --reason 'lease expired, nobody reported'")
    from valhalla_cli.services.template import identification_of

    backlog = backlog_counts(session, at, settings.business_timezone,
                             identification_of(settings))
    steps = ", ".join(s.label for s in config.steps)
    if sum(backlog.values()) >= BACKLOG_WARN:
        from valhalla_cli.services.ladder.dispatching import budget

        total = sum(backlog.values())
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(backlog.items()))
        return CheckResult(
            WARN,
            f"a backlog of {'over ' if total > BACKLOG_COUNT_CAP else ''}"
            f"{min(total, BACKLOG_COUNT_CAP)} due task(s) that cannot be sent ({reasons}): "
            f"each dispatch run sweeps at most {budget(1)} of them after the deliverable ones",
            "give those leads a number and consent (valhalla lead import FILE) or end their "
            "ladders (valhalla ladder stop LEAD --reason TEXT)")
    return CheckResult(OK, f"ladder {steps}; lease {settings.ladder.lease}, "
                       f"max {config.max_attempts} attempts; no stuck claims")


BACKLOG_WARN = 5_000  # more than a run's budget: the backlog outlasts one dispatch run
BACKLOG_COUNT_CAP = 100_000  # counted at most this far (the runbook stays fast on any backlog)


def backlog_counts(session: Session, at: datetime, business_timezone: str,
                   identification: Any) -> dict[str, int]:
    """Due pending tasks that dispatch puts in its backlog lane (see
    `dispatching.likely_deliverable`), by the likely reason, counting at most
    `BACKLOG_COUNT_CAP` + 1 of them."""
    from valhalla_cli.services.dncl import DnclLookup
    from valhalla_cli.services.ladder.dispatching import (
        HOLD_REASONS,
        due_pending,
        lanes_of,
        likely_deliverable,
    )

    t = FollowupTask
    sample = (select(col(t.status_reason).label("reason"), col(t.lead_id).label("lead_id"),
                     col(t.channel).label("channel"))
              .where(due_pending(at), not_(likely_deliverable(
                  lanes_of(DnclLookup(session, at, business_timezone), identification))))
              .limit(BACKLOG_COUNT_CAP + 1).subquery())
    has_phone = (select(col(Lead.id)).where(col(Lead.lead_id) == sample.c.lead_id,
                                            col(Lead.phone).is_not(None)).exists())
    # The likely reason, in dispatch's words: held before, no number, a text that cannot
    # identify the sender or has no consent on record, a call with neither consent nor a fresh
    # DNCL copy of its area code.
    label = case((sample.c.reason.in_(HOLD_REASONS), sample.c.reason),
                 (not_(has_phone), Reason.NO_PHONE.value),
                 (sample.c.channel == "SMS",
                  Reason.NO_IDENTIFICATION.value if identification is None
                  else Reason.NO_CONSENT.value),
                 else_=Reason.DNCL_NOT_CHECKED.value)
    rows = session.execute(select(label, func.count()).select_from(sample).group_by(label))
    return {str(reason): int(n) for reason, n in rows}
