"""Finishing tasks: complete (fenced by the claim token), stop a lead's ladder, show a lead's
ladders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_lead_id, parse_reason
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES, FINISHED_STATUSES
from valhalla_cli.models.types import pk, view_of
from valhalla_cli.services import audit, kpi
from valhalla_cli.services.ladder.config import (
    KPI_FOLLOWUP_COMPLETED,
    OPT_OUT,
    OUTCOMES,
    PACK,
    STOP_OUTCOMES,
    LadderConfig,
)
from valhalla_cli.services.ladder.readiness import _advance
from valhalla_cli.services.ladder.tasks import cancel_active_tasks
from valhalla_cli.services.refusals import Refusal

__all__ = ["CompleteResult", "LadderView", "StopResult", "TaskView", "complete", "show", "stop"]


@dataclass(frozen=True)
class CompleteResult:
    task_id: int
    status: str
    outcome: str | None
    response_minutes: float | None
    within_sla: bool | None
    ladder_stopped: bool
    reason: str | None = None  # set when refused: already_finished | lease_lost
    message: str | None = None  # the refusal in words, with its next step

    @property
    def refusal(self) -> Refusal | None:
        """Already finished, or the lease lost."""
        if self.reason is None:
            return None
        return Refusal(self.reason, self.message or self.reason)


def _check_outcome(outcome: str) -> str:
    value = (outcome or "").strip().lower()
    if value not in OUTCOMES:
        raise BadInput(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    return value


def complete(
    session: Session,
    *,
    task_id: int,
    outcome: str,
    claim_token: str | None,
    note: str | None,
    at: datetime,
    actor: str,
    config: LadderConfig,
) -> CompleteResult:
    """Finish a task with an outcome. A stale claim token or a finished task is refused."""
    outcome = _check_outcome(outcome)
    note = parse_reason(note, field="--note")
    if task_id < 1:
        raise BadInput(f"task id must be a positive whole number, not {task_id}")
    if claim_token is not None and not claim_token.strip():
        raise BadInput("--claim-token must not be empty")
    task = session.scalars(select(FollowupTask).where(col(FollowupTask.id) == task_id)
                           .with_for_update()).first()
    if task is None:
        raise NotFound(f"no follow-up task {task_id}")

    def refused(reason: str) -> CompleteResult:
        if reason == "lease_lost":
            message = (f"task {task_id}: lease lost (the claim token is not the task's current "
                       "one); nothing changed")
        elif task.outcome is not None and task.outcome != outcome:
            message = (f"task {task_id} is already finished ({task.status}, outcome "
                       f"{task.outcome}); nothing changed. To correct its outcome: valhalla "
                       f"ladder amend {task_id} --outcome {outcome} --reason '...'")
        else:
            message = f"task {task_id} is already finished ({task.status}); nothing changed"
        return CompleteResult(pk(task.id), task.status, task.outcome, task.response_minutes,
                              None if task.response_minutes is None
                              else task.response_minutes <= config.sla_minutes, False, reason,
                              message)

    if task.status in FINISHED_STATUSES:
        return refused("already_finished")
    if claim_token is not None and (task.status != "claimed" or task.claim_token != claim_token):
        return refused("lease_lost")
    # completed before it was due: it was answered at once (0), not in negative time
    response = max(0.0, round((at - sla_clock_start(session, task)).total_seconds() / 60, 2))
    within = response <= config.sla_minutes
    guard = [col(FollowupTask.id) == task.id, col(FollowupTask.status) == task.status]
    if claim_token is not None:
        guard.append(col(FollowupTask.claim_token) == claim_token)
    changed = affected_rows(session.execute(
        update(FollowupTask).where(*guard)
        .values(status="done", outcome=outcome, completed_at=at, response_minutes=response,
                note=note, claim_token=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)))
    if changed != 1:  # pragma: no cover - the row lock above makes this unreachable
        return refused("lease_lost")
    stopped = False
    if outcome in STOP_OUTCOMES:
        cancel_active_tasks(session, lead_id=task.lead_id, at=at, ladder_id=task.ladder_id,
                            reason=f"ladder stopped: {outcome}")
        stopped = True
        if outcome == "wrong_number":
            _detach(session, lead_id=task.lead_id, at=at, actor=actor)
    elif outcome == OPT_OUT:
        from valhalla_cli.services import suppression

        suppression.suppress(session, lead_id=task.lead_id, phone=None, reason="opt_out",
                        actor=actor, at=at)
        stopped = True
    else:
        _advance(session, [task.ladder_id])
    kpi.emit(session, metric=KPI_FOLLOWUP_COMPLETED, value=1 if within else 0, at=at,
             province=task.province, market=task.market, ref=f"task-{task.id}", source="ladder")
    audit.record(session, pack=PACK, action="complete", actor=actor, at=at,
                 subject=f"task-{task.id}", before={"status": task.status},
                 after={"status": "done", "outcome": outcome, "ladder_stopped": stopped},
                 reason=note)
    return CompleteResult(pk(task.id), "done", outcome, response, within, stopped)


def _detach(session: Session, *, lead_id: str, at: datetime, actor: str) -> None:
    """A wrong number leaves the lead as the inbox's close does it (one rule for both)."""
    from valhalla_cli.models import Lead
    from valhalla_cli.services.inbox_tasks import detach_wrong_number

    lead = session.scalars(select(Lead).where(col(Lead.lead_id) == lead_id)).first()
    if lead is not None:
        detach_wrong_number(session, lead=lead, at=at, actor=actor)


def sla_clock_start(session: Session, task: FollowupTask) -> datetime:
    """When the task's SLA clock starts: when it could first be sent, i.e. its due time, unless
    the step before it finished later; then the first instant at or after that finish when its
    channel's window is open in every zone of the lead (as dispatch judges it). A due time the
    task could not meet is never counted against it."""
    from dataclasses import replace

    from sqlalchemy import func

    from valhalla_cli.services import lead as lead_service
    from valhalla_cli.services.contact_rules import next_open_at
    from valhalla_cli.services.policies import PolicyCache

    previous = session.scalar(select(func.max(col(FollowupTask.completed_at))).where(
        col(FollowupTask.ladder_id) == task.ladder_id, col(FollowupTask.step) < task.step))
    if previous is None or previous <= task.due_at:
        return task.due_at
    cache = PolicyCache(session)
    policy = cache.effective(task.province, task.market)
    if task.channel not in policy.channels:
        return previous
    lead = lead_service.load_leads(session, [task.lead_id]).get(task.lead_id)
    zones = tuple(z.timezone for z in lead_service.lead_contact_zones(
        policy_zones=policy.timezones, phone=lead.phone if lead else None,
        confirmed_timezone=lead.timezone if lead else None))
    rules = replace(cache.rules(task.province, task.market, task.channel), timezones=zones)
    return next_open_at(rules, previous) or previous


@dataclass(frozen=True)
class StopResult:
    lead_id: str
    cancelled: int
    ladder_ids: list[str]


def stop(session: Session, *, lead_id: str, reason: str, at: datetime, actor: str) -> StopResult:
    """Cancel the lead's remaining tasks (safe to run twice: the second cancels nothing)."""
    lead = parse_lead_id(lead_id)
    why = parse_reason(reason, required=True)
    ladders = sorted({ladder for ladder, status in session.execute(
        select(col(FollowupTask.ladder_id),
               col(FollowupTask.status)).where(col(FollowupTask.lead_id) == lead))
        if status in ACTIVE_STATUSES})
    cancelled = cancel_active_tasks(session, lead_id=lead, at=at,
                                    reason=f"stopped: {why}")
    if cancelled:
        audit.record(session, pack=PACK, action="stop", actor=actor, at=at, subject=lead,
                     after={"cancelled": cancelled, "ladder_ids": ladders}, reason=why)
    return StopResult(lead, cancelled, ladders)


@dataclass(frozen=True)
class TaskView:
    task_id: int
    step: int
    channel: str
    planned_at: datetime
    due_at: datetime
    status: str
    attempt: int
    claimed_by: str | None
    lease_expires_at: datetime | None
    completed_at: datetime | None
    outcome: str | None
    response_minutes: float | None
    status_reason: str | None


@dataclass(frozen=True)
class LadderView:
    ladder_id: str
    lead_id: str
    province: str
    market: str | None
    owner: str | None
    created_at: datetime
    active: bool
    tasks: list[TaskView]


def show(session: Session, *, lead_id: str) -> list[LadderView]:
    lead = parse_lead_id(lead_id)
    rows = list(session.scalars(select(FollowupTask).where(col(FollowupTask.lead_id) == lead)
                                .order_by(col(FollowupTask.created_at), col(FollowupTask.ladder_id),
                                          col(FollowupTask.step))))
    if not rows:
        raise NotFound(f"no ladder for lead {lead!r}")
    ladders: dict[str, list[FollowupTask]] = {}
    for row in rows:
        ladders.setdefault(row.ladder_id, []).append(row)
    return [
        view_of(LadderView, tasks[0], ladder_id=lid, lead_id=lead,
                active=any(t.status in ACTIVE_STATUSES for t in tasks),
                tasks=[view_of(TaskView, t, task_id=pk(t.id)) for t in tasks])
        for lid, tasks in ladders.items()
    ]
