"""Correcting the ladder by hand: release a claim nobody will report (back to pending) and amend
a recorded outcome, both audited, neither inventing a contact that did not happen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import REASON_MAX_LENGTH, parse_text
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES
from valhalla_cli.models.types import pk
from valhalla_cli.services import audit
from valhalla_cli.services.ladder.config import OPT_OUT, PACK, STOP_OUTCOMES
from valhalla_cli.services.ladder.readiness import _advance
from valhalla_cli.services.ladder.tasks import cancel_active_tasks
from valhalla_cli.services.refusals import Refusal

__all__ = ["AmendResult", "ReleaseResult", "amend", "release"]


def _reason(reason: str | None) -> str:
    text = parse_text(reason, field="--reason", max_length=REASON_MAX_LENGTH)
    if text is None:
        raise BadInput("--reason must not be empty: say why (recorded in the audit log)")
    return text


def _locked_task(session: Session, task_id: int) -> FollowupTask:
    if task_id < 1:
        raise BadInput(f"task id must be a positive whole number, not {task_id}")
    task = session.scalars(select(FollowupTask).where(col(FollowupTask.id) == task_id)
                           .with_for_update()).first()
    if task is None:
        raise NotFound(f"no follow-up task {task_id}")
    return task


@dataclass(frozen=True)
class ReleaseResult:
    task_id: int
    status: str  # the task's status after the command
    released: bool
    claimed_by: str | None  # who held the claim that was released
    attempt: int
    reason: str | None = None  # set when refused: already_finished
    message: str | None = None

    @property
    def refusal(self) -> Refusal | None:
        """A finished task has no claim to release."""
        if self.reason is None:
            return None
        return Refusal(self.reason, self.message or self.reason)


def release(session: Session, *, task_id: int, reason: str, at: datetime,
            actor: str) -> ReleaseResult:
    """Put a claimed task back to pending (the claim and its token are void; the next dispatch
    hands it out again, in its window). A pending task is a no-op; a finished one a no."""
    why = _reason(reason)
    task = _locked_task(session, task_id)
    if task.status == "pending":
        return ReleaseResult(pk(task.id), "pending", False, None, task.attempt,
                             message=f"task {task_id} is not claimed: nothing changed")
    if task.status != "claimed":
        return ReleaseResult(pk(task.id), task.status, False, None, task.attempt,
                             "already_finished",
                             f"task {task_id} is already finished ({task.status}): there is no "
                             f"claim to release; nothing changed")
    holder = task.claimed_by
    changed = affected_rows(session.execute(
        update(FollowupTask).where(col(FollowupTask.id) == task.id,
                                   col(FollowupTask.status) == "claimed")
        .values(status="pending", claim_token=None, lease_expires_at=None, claimed_by=None,
                claimed_at=None, status_reason=f"released: {why}")
        .execution_options(synchronize_session=False)))
    assert changed == 1  # the row lock above holds the task
    audit.record(session, pack=PACK, action="release", actor=actor, at=at,
                 subject=f"task-{task.id}", before={"status": "claimed", "claimed_by": holder},
                 after={"status": "pending"}, reason=why)
    return ReleaseResult(pk(task.id), "pending", True, holder, task.attempt,
                         message=f"task {task_id} released (was claimed by {holder}): the next "
                         f"dispatch hands it out again")


@dataclass(frozen=True)
class AmendResult:
    task_id: int
    outcome: str  # the task's outcome after the command
    previous_outcome: str | None
    amended: bool
    ladder_stopped: bool
    cancelled: int  # later tasks cancelled because the corrected outcome stops the ladder
    reopened: int  # later tasks back to pending because it no longer stops it
    reason: str | None = None  # set when refused: not_done | opt_out_recorded | ladder_replaced
    message: str | None = None

    @property
    def refusal(self) -> Refusal | None:
        """An outcome that cannot be corrected, and why."""
        if self.reason is None:
            return None
        return Refusal(self.reason, self.message or self.reason)


def amend(session: Session, *, task_id: int, outcome: str, reason: str, at: datetime,
          actor: str) -> AmendResult:
    """Correct a done task's outcome. The first answer stays in the history (the audit event's
    before, and the task's status_reason), and the ladder's rule is applied again: a stop
    cancels the ladder's remaining tasks, a continue reopens those the old stop cancelled."""
    from valhalla_cli.services.ladder.completion import _check_outcome

    new = _check_outcome(outcome)
    why = _reason(reason)
    task = _locked_task(session, task_id)
    old = task.outcome

    def refused(code: str, message: str) -> AmendResult:
        return AmendResult(pk(task.id), old or "", old, False, False, 0, 0, code, message)

    if task.status != "done" or old is None:
        hint = ("record it with valhalla ladder complete" if task.status in ACTIVE_STATUSES
                else "it has no outcome to correct")
        return refused("not_done", f"task {task_id} is {task.status}, not done: {hint}")
    if new == old:
        return AmendResult(pk(task.id), old, old, False, False, 0, 0,
                           message=f"task {task_id} already has outcome {old}: nothing changed")
    if old == OPT_OUT:
        return refused("opt_out_recorded",
                       f"task {task_id} recorded an opt-out, which suppressed the lead: an "
                       f"opt-out is lifted only by new express consent (valhalla lead consent "
                       f"{task.lead_id} --kind express --evidence ...), never by an amendment")
    stops_now = new in STOP_OUTCOMES or new == OPT_OUT
    stopped_before = old in STOP_OUTCOMES
    cancelled = reopened = 0
    if stopped_before and not stops_now:
        others = session.scalars(select(col(FollowupTask.ladder_id)).where(
            col(FollowupTask.lead_id) == task.lead_id,
            col(FollowupTask.ladder_id) != task.ladder_id,
            col(FollowupTask.status).in_(ACTIVE_STATUSES))).first()
        if others is not None:
            return refused("ladder_replaced",
                           f"lead {task.lead_id} has another active ladder ({others}): this "
                           f"one cannot be reopened; nothing changed")
    history = f"amended from {old}: {why}"
    session.execute(update(FollowupTask).where(col(FollowupTask.id) == task.id)
                    .values(outcome=new, status_reason=history)
                    .execution_options(synchronize_session=False))
    if stops_now and not stopped_before:
        cancelled = cancel_active_tasks(session, lead_id=task.lead_id, at=at,
                                        ladder_id=task.ladder_id,
                                        reason=f"ladder stopped: {new}")
        if new == OPT_OUT:
            from valhalla_cli.services import suppression

            suppression.suppress(session, lead_id=task.lead_id, phone=None, reason="opt_out",
                            actor=actor, at=at)
    elif stopped_before and not stops_now:
        reopened = affected_rows(session.execute(
            update(FollowupTask).where(
                col(FollowupTask.ladder_id) == task.ladder_id,
                col(FollowupTask.step) > task.step,
                col(FollowupTask.status) == "cancelled",
                col(FollowupTask.status_reason) == f"ladder stopped: {old}")
            .values(status="pending", ready=False, status_reason=f"reopened: {history}")
            .execution_options(synchronize_session=False)))
        _advance(session, [task.ladder_id])
    audit.record(session, pack=PACK, action="amend", actor=actor, at=at,
                 subject=f"task-{task.id}", before={"outcome": old},
                 after={"outcome": new, "cancelled": cancelled, "reopened": reopened},
                 reason=why)
    return AmendResult(pk(task.id), new, old, True, stops_now, cancelled, reopened,
                       message=f"task {task_id}: {old} -> {new}"
                       + (f"; the ladder stops ({cancelled} task(s) cancelled)" if cancelled
                          else "")
                       + (f"; the ladder continues ({reopened} task(s) reopened)" if reopened
                          else ""))
