"""Dispatch: hand each due task out exactly once, with a lease and a claim token (the package
docstring says how on each engine); `due` is the same evaluation as a dry run."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, literal, literal_column, not_, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import dialect_name
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_text
from valhalla_cli.models import FollowupTask, Lead, LeadConsent
from valhalla_cli.models.ladder import ACTIVE_STATUSES
from valhalla_cli.models.types import table_of
from valhalla_cli.services import audit
from valhalla_cli.services import lead as lead_service
from valhalla_cli.services import template as templates
from valhalla_cli.services.contact_facts import LeadFacts
from valhalla_cli.services.contact_rules import (
    DISPATCH_ACTION,
    HOLD_REASONS,
    Action,
    ChannelRules,
    Decision,
    Reason,
    decide,
)
from valhalla_cli.services.dncl import DnclLookup
from valhalla_cli.services.ladder.config import PACK, RECHECK_BLOCKED, LadderConfig
from valhalla_cli.services.ladder.readiness import _advance
from valhalla_cli.services.ladder.tasks import cancel_active_tasks
from valhalla_cli.services.policies import PolicyCache
from valhalla_cli.services.refusals import Refusal

__all__ = ["HOLD_FOR", "HOLD_REASONS", "Claim", "DispatchResult", "DueTask", "default_worker",
           "dispatch", "dispatch_channel", "due"]


@dataclass(frozen=True)
class Claim:
    task_id: int
    ladder_id: str
    lead_id: str
    step: int
    channel: str
    province: str
    market: str | None
    owner: str | None
    due_at: datetime
    claim_token: str | None
    lease_expires_at: datetime | None
    attempt: int
    idempotency_key: str
    to: str | None = None  # E.164
    language: str | None = None
    message: str | None = None  # SMS only: the rendered text, ready to send


@dataclass(frozen=True)
class DispatchResult:
    refused: bool
    reason: str | None
    message: str | None
    warning: str | None
    dry_run: bool
    worker: str
    tasks: list[Claim] = field(default_factory=list)
    retimed: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    held: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    held_by_reason: dict[str, int] = field(default_factory=dict)
    # The run stopped at its examination budget with tasks it could not send: a backlog of
    # undeliverable tasks is due (the summary says so, and the followups check warns).
    budget_spent: int = 0

    @property
    def summary(self) -> str:
        verb = "would dispatch" if self.dry_run else "dispatched"

        def why(counts: dict[str, int]) -> str:
            return (" (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"
                    if counts else "")

        return (f"{verb} {len(self.tasks)} task(s) as {self.worker}; {self.retimed} re-timed to "
                f"their next opening, {self.failed} failed after max attempts, "
                f"{self.cancelled} cancelled (suppressed), {self.skipped} skipped"
                f"{why(self.skipped_by_reason)}, {self.held} held"
                f"{why(self.held_by_reason)}{self.backlog_note}")

    @property
    def backlog_note(self) -> str:
        if not self.budget_spent:
            return ""
        return (f"; backlog: this run's budget of {self.budget_spent} candidates went to tasks "
                "that cannot be sent now (no phone, no consent, held: the counts above), and "
                "more are due: see `valhalla runbook status` (check followups)")

    @property
    def refusal(self) -> Refusal | None:
        """Not live, or the followups lever throttled: nothing dispatched."""
        if not self.refused:
            return None
        return Refusal(self.reason or "refused", self.message or "not dispatching")


def dispatch_channel(channel: str | None, *, provider: str | None) -> str | None:
    """The channel `ladder dispatch` hands out: the one asked for; otherwise both while no SMS
    provider is configured, and calls only once `valhalla send` sends the texts."""
    if channel is not None:
        name = channel.strip().upper()
        if name not in ("SMS", "CALL"):
            raise BadInput(f"--channel must be SMS or CALL, not {channel!r}")
        return name
    return "CALL" if provider is not None else None


def default_worker(actor: str) -> str:
    return f"{actor}@{socket.gethostname()}:{os.getpid()}"


_COLUMNS = (col(FollowupTask.id), col(FollowupTask.ladder_id), col(FollowupTask.lead_id),
            col(FollowupTask.step),
            col(FollowupTask.channel), col(FollowupTask.province), col(FollowupTask.market),
            col(FollowupTask.owner), col(FollowupTask.due_at), col(FollowupTask.status),
            col(FollowupTask.attempt))


def _token_sql(dialect: str):
    if dialect == "postgresql":
        return literal_column("replace(CAST(gen_random_uuid() AS text), '-', '')")
    return literal_column("lower(hex(randomblob(16)))")


class _Evaluator:
    """The contact decision for candidate tasks at one instant, from facts loaded in bulk. A
    run's tasks share a handful of distinct inputs (scope, channel, the lead's zones and its
    number/consent reason), so each distinct decision is made once per run."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self.cache = PolicyCache(session)
        self._rules: dict[tuple[Any, ...], ChannelRules] = {}
        self._decisions: dict[tuple[Any, ...], Decision] = {}

    def decide(self, row: Any, facts: LeadFacts, lead: Any, identified: bool) -> Decision:
        """The decision for one task. The lead score is not judged again: the ladder's
        creation judged it."""
        policy = self.cache.effective(row.province, row.market)
        zones = tuple(z.timezone for z in lead_service.lead_contact_zones(
            policy_zones=policy.timezones, phone=facts.phone,
            confirmed_timezone=lead.timezone if lead else None))
        scope = (row.province, row.market, row.channel, zones)
        if scope not in self._rules:
            self._rules[scope] = replace(self.cache.rules(row.province, row.market, row.channel),
                                         timezones=zones)
        block = facts.block(row.channel, require_sms_consent=policy.require_sms_consent)
        key = (scope, policy.enabled, row.channel in policy.channels, facts.suppressed, block,
               identified)
        if key not in self._decisions:
            self._decisions[key] = decide(
                rules=self._rules[scope], instant=self.now, enabled=policy.enabled,
                channel_allowed=row.channel in policy.channels, suppressed=facts.suppressed,
                lead_block=block, identified=identified)
        return self._decisions[key]


@dataclass(frozen=True)
class Lanes:
    """What a run knows before reading any task: which area codes have a fresh DNCL copy and
    whether texts can identify the sender. `likely_deliverable` orders tasks by them."""

    fresh_areas: tuple[str, ...]
    sms_identified: bool


def lanes_of(lookup: DnclLookup, identification: Any) -> Lanes:
    return Lanes(tuple(sorted(code for code, (_, fresh) in lookup.areas.items() if fresh)),
                 identification is not None)


def likely_deliverable(lanes: Lanes) -> Any:
    """The tasks dispatch looks at first: the lead has a number; a text can identify the sender
    and its lead has some consent on record; a call's lead has consent on record or a number
    in an area code with a fresh DNCL copy; the task was never held. An order, not a rule:
    every task, in either lane, is judged by the same contact rules; this only keeps a backlog
    of tasks that cannot be sent (a file of leads without numbers, texts without consent,
    calls waiting for the DNCL) from using up a run's budget ahead of tasks that can. Probes
    of the lead and consent indexes, so the scan's cost stays with the rows it returns."""
    t = FollowupTask
    has_phone = select(literal(1)).where(col(Lead.lead_id) == col(t.lead_id),
                                         col(Lead.phone).is_not(None))
    checked = (select(literal(1)).where(
        col(Lead.lead_id) == col(t.lead_id),
        or_(*[col(Lead.phone).startswith(f"+1{code}") for code in lanes.fresh_areas]))
        if lanes.fresh_areas else None)
    has_consent = select(literal(1)).where(col(LeadConsent.lead_id) == col(t.lead_id),
                                           col(LeadConsent.kind) != "withdrawal").exists()
    never_held = or_(col(t.status_reason).is_(None), col(t.status_reason).not_in(HOLD_REASONS))
    sms = (and_(col(t.channel) == "SMS", has_consent) if lanes.sms_identified
           else literal(False))
    call = and_(col(t.channel) != "SMS",
                or_(has_consent, checked.exists()) if checked is not None else has_consent)
    return and_(has_phone.exists(), or_(sms, call), never_held)


def due_pending(now: datetime) -> Any:
    return and_(col(FollowupTask.status) == "pending", col(FollowupTask.ready).is_(True),
                col(FollowupTask.due_at) <= now)


def _candidates(session: Session, *, source: str, now: datetime, max_attempts: int,
                after: tuple[datetime, int] | None, batch: int, lanes: Lanes,
                channel: str | None = None, owners: tuple[str | None, ...] | None = None
                ) -> list[Any]:
    """`expired` claims, then the due `pending` tasks that are likely deliverable, then the
    rest of the due tasks (`backlog`), each in due order; only `channel` when given, only the
    tasks of `owners` when given (None in it: the unowned tasks)."""
    query = select(*_COLUMNS)
    if channel is not None:
        query = query.where(col(FollowupTask.channel) == channel)
    if owners is not None:
        query = query.where(or_(*[col(FollowupTask.owner).is_(None) if owner is None
                                  else col(FollowupTask.owner) == owner for owner in owners]))
    if source == "expired":
        query = query.where(col(FollowupTask.status) == "claimed",
                            col(FollowupTask.lease_expires_at) <= now,
                            col(FollowupTask.attempt) < max_attempts)
    elif source == "pending":
        query = query.where(due_pending(now), likely_deliverable(lanes))
    else:
        query = query.where(due_pending(now), not_(likely_deliverable(lanes)))
    if after is not None:
        query = query.where(or_(col(FollowupTask.due_at) > after[0],
                                and_(col(FollowupTask.due_at) == after[0],
                                     col(FollowupTask.id) > after[1])))
    query = query.order_by(col(FollowupTask.due_at), col(FollowupTask.id)).limit(batch)
    return list(session.execute(query))


def _claimable(at: datetime, max_attempts: int):
    table = FollowupTask
    return or_(and_(col(table.status) == "pending", col(table.ready).is_(True),
                    col(table.due_at) <= at),
               and_(col(table.status) == "claimed", col(table.lease_expires_at) <= at,
                    col(table.attempt) < max_attempts))


def _lock_free(session: Session, ids: list[int], condition: Any, limit: int | None = None
               ) -> list[int]:
    """PostgreSQL: lock those of `ids` that still meet `condition` (re-read on the newest row
    version), in due order, at most `limit`; rows another run holds are skipped, never waited
    for, so overlapping runs neither block nor deadlock on each other."""
    if not ids:
        return []
    query = (select(col(FollowupTask.id)).where(col(FollowupTask.id).in_(ids), condition)
             .order_by(col(FollowupTask.due_at), col(FollowupTask.id))
             .with_for_update(skip_locked=True))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def _fail_exhausted(session: Session, *, now: datetime, max_attempts: int, lock: bool) -> int:
    """Claims whose lease expired on the last allowed attempt become `failed`."""
    exhausted = and_(col(FollowupTask.status) == "claimed",
                     col(FollowupTask.lease_expires_at) <= now,
                     col(FollowupTask.attempt) >= max_attempts)
    if lock:  # an overlapping run failing the same rows must not make this one wait for it
        exhausted = col(FollowupTask.id).in_(
            select(col(FollowupTask.id)).where(exhausted).with_for_update(skip_locked=True)
            .scalar_subquery())
    rows = session.execute(
        update(FollowupTask)
        .where(exhausted)
        .values(status="failed", claim_token=None, completed_at=now,
                status_reason=f"lease expired {max_attempts} time(s)")
        .returning(col(FollowupTask.ladder_id))
        .execution_options(synchronize_session=False)
    ).all()
    _advance(session, [r[0] for r in rows])
    return len(rows)


@dataclass
class _Tally:
    """What a run has done so far: the claims it took and the counts its result and its audit
    event report."""

    claims: list[Claim] = field(default_factory=list)
    retimed: int = 0
    cancelled: int = 0
    skipped: int = 0
    held: int = 0
    skipped_by: dict[str, int] = field(default_factory=dict)
    held_by: dict[str, int] = field(default_factory=dict)

    def moved(self, moves: list[dict[str, Any]]) -> None:
        self.retimed += sum(1 for m in moves if m["why"] not in HOLD_REASONS)
        self.held += sum(1 for m in moves if m["why"] in HOLD_REASONS)


@dataclass(frozen=True)
class _Batch:
    """One read of candidates sorted by the contact decision: the tasks to claim, those to
    move (re-timed to their next opening, or held), to skip, and the leads whose tasks are
    cancelled. `ids`: the eligible tasks this run takes, once `_take` has chosen them."""

    eligible: list[Any]
    moves: list[dict[str, Any]]
    skips: list[tuple[Any, Reason]]
    to_cancel: set[str]
    ids: list[int] = field(default_factory=list)


def _controls(session: Session, result: DispatchResult, *, enforce: bool, dry_run: bool
              ) -> DispatchResult:
    """The run's result so far with the go-live and lever controls applied: refused when not
    live (a dry run only warns) or when the followups lever is throttled."""
    from valhalla_cli.services import golive, levers

    status = golive.live_status(session, enforce=enforce)
    if not status.live and not dry_run:
        return replace(result, refused=True, reason=status.reason,
                       message=f"not dispatching: {status.message}")
    if not status.live:
        result = replace(result, warning=f"dry run while not live ({status.message})")
    elif status.warning:
        result = replace(result, warning=status.warning)
    throttle = levers.throttled_lever(session, levers.FOLLOWUPS)
    if throttle is not None:
        return replace(result, refused=True, reason="followups_throttled",
                       message=f"not dispatching: {throttle.message}")
    return result


def _decide(rows: list[Any], *, at: datetime, evaluator: _Evaluator, facts: dict[str, Any],
            leads: dict[str, Any], messages: Any, identification: Any,
            held_by: dict[str, int]) -> _Batch:
    """Sort a read of candidates by the contact decision and `DISPATCH_ACTION`: a suppressed
    lead's tasks are cancelled, `no_phone`/`no_consent`/`dncl_listed` skip the task, a hold
    reason holds it for HOLD_FOR (counted in `held_by` as it is decided), any other reason
    moves it to its next opening."""
    eligible: list[Any] = []
    moves: list[dict[str, Any]] = []
    skips: list[tuple[Any, Reason]] = []
    to_cancel: set[str] = set()
    for row in rows:
        lead = leads.get(row.lead_id)
        identified = row.channel != "SMS" or (
            identification is not None
            and messages.template_for(row.step, _language(leads, row)) is not None)
        decision = evaluator.decide(row, facts[row.lead_id], lead, identified)
        why = decision.reason
        if why is None:
            eligible.append(row)
            continue
        action = DISPATCH_ACTION[why]
        if action is Action.CANCEL:
            to_cancel.add(row.lead_id)
        elif action is Action.SKIP:
            skips.append((row, why))
        elif action is Action.HOLD:
            moves.append({"task_id": row.id, "due": at + HOLD_FOR, "why": why})
            held_by[why] = held_by.get(why, 0) + 1
        else:
            moves.append({"task_id": row.id,
                          "due": decision.next_open_at or at + RECHECK_BLOCKED,
                          "why": why})
    return _Batch(eligible, moves, skips, to_cancel)


def _take(session: Session, batch: _Batch, *, lock: bool, claimable: Any, want: int
          ) -> tuple[_Batch, int]:
    """The part of the batch this run acts on, and how many eligible tasks another run held.

    PostgreSQL (`lock`): the rows it can lock now, skipping those another run holds, at most
    `want` eligible ones; otherwise the first `want` eligible tasks, and every move and skip."""
    if lock:
        ids = _lock_free(session, [r.id for r in batch.eligible], claimable, want)
        contended = min(len(batch.eligible), want) - len(ids)
        locked = set(_lock_free(session, [r.id for r, _ in batch.skips]
                                + [m["task_id"] for m in batch.moves], claimable))
        skips = [(r, why) for r, why in batch.skips if r.id in locked]
        moves = [m for m in batch.moves if m["task_id"] in locked]
    else:
        ids, contended = [r.id for r in batch.eligible[:want]], 0
        skips, moves = batch.skips, batch.moves
    taken = set(ids)
    return replace(batch, eligible=[r for r in batch.eligible if r.id in taken], skips=skips,
                   moves=moves, ids=ids), contended


def _count_dry(tally: _Tally, batch: _Batch, *, leads: dict[str, Any], messages: Any,
               identification: Any) -> None:
    """A dry run: what the batch would claim, move, skip and cancel, changing nothing."""
    tally.claims.extend(_addressed(
        Claim(r.id, r.ladder_id, r.lead_id, r.step, r.channel, r.province, r.market, r.owner,
              r.due_at, None, None, r.attempt + 1, f"task-{r.id}"), leads, messages,
        identification) for r in batch.eligible)
    tally.moved(batch.moves)
    tally.skipped += len(batch.skips)
    tally.cancelled += len(batch.to_cancel)


def _apply(session: Session, tally: _Tally, batch: _Batch, *, at: datetime, lease: timedelta,
           worker: str, max_attempts: int, dialect: str, leads: dict[str, Any], messages: Any,
           identification: Any) -> None:
    """Write the batch: cancel the suppressed leads' tasks, skip (the ladder moves on), move
    (re-time or hold), then claim the eligible tasks in one conditional write."""
    for lead_id in sorted(batch.to_cancel):
        tally.cancelled += cancel_active_tasks(session, lead_id=lead_id, at=at,
                                               reason=Reason.SUPPRESSED)
    by_reason: dict[Reason, list[Any]] = {}
    for row, reason in batch.skips:
        by_reason.setdefault(reason, []).append(row)
    for reason, skip_rows in sorted(by_reason.items()):
        session.execute(
            update(FollowupTask)
            .where(col(FollowupTask.id).in_([r.id for r in skip_rows]),
                   col(FollowupTask.status).in_(ACTIVE_STATUSES))
            .values(status="skipped", status_reason=reason,
                    claim_token=None, lease_expires_at=None)
            .execution_options(synchronize_session=False))
    if batch.skips:
        _advance(session, [r.ladder_id for r, _ in batch.skips])
        tally.skipped += len(batch.skips)
    if batch.moves:
        session.execute(
            update(table_of(FollowupTask))
            .where(table_of(FollowupTask).c.id == bindparam("task_id"))
            .values(due_at=bindparam("due"), status_reason=bindparam("why"),
                    status="pending", claim_token=None, lease_expires_at=None),
            batch.moves)
        tally.moved(batch.moves)
    if batch.ids:
        tally.claims.extend(_addressed(claim, leads, messages, identification)
                            for claim in _claim(session, batch.ids, at=at, lease=lease,
                                                worker=worker, max_attempts=max_attempts,
                                                dialect=dialect))


def _finish(session: Session, result: DispatchResult, tally: _Tally, *, failed: int,
            budget_spent: int, limit: int, dry_run: bool, actor: str, at: datetime,
            worker: str) -> DispatchResult:
    """The run's result (claims in due order) and, when it changed anything, its audit event."""
    claims = sorted(tally.claims, key=lambda c: (c.due_at, c.task_id))
    result = replace(result, tasks=claims, retimed=tally.retimed, failed=failed,
                     cancelled=tally.cancelled, skipped=tally.skipped, held=tally.held,
                     skipped_by_reason=tally.skipped_by, held_by_reason=tally.held_by,
                     budget_spent=budget_spent if len(claims) < limit else 0)
    if not dry_run and (claims or tally.retimed or failed or tally.cancelled or tally.skipped
                        or tally.held):
        audit.record(session, pack=PACK, action="dispatch", actor=actor, at=at, subject=worker,
                     after={"claimed": len(claims), "retimed": tally.retimed, "failed": failed,
                            "cancelled": tally.cancelled, "skipped": tally.skipped,
                            "held": tally.held, "skipped_by_reason": tally.skipped_by,
                            "held_by_reason": tally.held_by,
                            "first_task": claims[0].task_id if claims else None,
                            "budget_spent": result.budget_spent})
    return result


def dispatch(
    session: Session,
    *,
    at: datetime,
    limit: int,
    lease: timedelta,
    worker: str,
    config: LadderConfig,
    dry_run: bool,
    enforce: bool,
    actor: str,
    business_timezone: str,
    identification: Any = None,
    check_controls: bool = True,
    channel: str | None = None,
    owners: tuple[str | None, ...] | None = None,
    min_batch: int = 50,
) -> DispatchResult:
    """Claim up to `limit` dispatchable tasks (see the module docstring).

    With the lead rules (`contact_rules.DISPATCH_ACTION`): a suppressed lead's tasks are
    cancelled; `no_phone`, `no_consent` and `dncl_listed` skip the task (the ladder moves on);
    `dncl_not_checked` and, for SMS, `no_identification` hold it for an hour (its
    `status_reason` says why), so a fresh list or a configured `[business]` releases it.
    `identification` is the `[business]` identity (templates.Identification) or None when it
    is not configured. `channel` (SMS or CALL) hands out that channel's tasks only; `owners`
    only the tasks of those owners (None in it: unowned tasks), as the call desk hands a caller
    its owner's calls. `min_batch`: the fewest candidates read at a time (a run that claims one
    task for a waiting caller reads a few, not a batch sized for cron runs).

    The steps: the controls (`_controls`), failing exhausted claims, then for each lane a read
    of candidates, the decision (`_decide`), the rows this run takes (`_take`), the writes
    (`_apply`, or `_count_dry`), and the result with its audit event (`_finish`)."""
    if limit < 1 or limit > 100_000:
        raise BadInput("--limit must be between 1 and 100000")
    worker = parse_text(worker, field="--worker", required=True) or ""
    result = DispatchResult(False, None, None, None, dry_run, worker)
    if check_controls:
        result = _controls(session, result, enforce=enforce, dry_run=dry_run)
        if result.refused:
            return result

    dialect = dialect_name(session)
    lock = dialect == "postgresql" and not dry_run
    failed = 0 if dry_run else _fail_exhausted(session, now=at, max_attempts=config.max_attempts,
                                               lock=lock)
    claimable = _claimable(at, config.max_attempts)
    evaluator = _Evaluator(session, at)
    lookup = DnclLookup(session, at, business_timezone)
    lanes = lanes_of(lookup, identification)
    messages = templates.TemplateSet(session)
    tally = _Tally()
    max_examined = budget(limit)
    examined = budget_spent = 0
    for source in ("expired", "pending", "backlog"):
        # Expired claims and the likely deliverable tasks share a budget; the backlog lane has
        # one of its own: it is swept after them, so it never delays them, and still drains a
        # bounded amount every run.
        if source == "backlog":
            examined = 0
        after: tuple[datetime, int] | None = None
        # PostgreSQL: eligible rows another run held when this one tried to lock them. That run
        # claims them, unless it rolls back; so a run still short at the end looks once more.
        contended, rescanned = 0, False
        while len(tally.claims) < limit and examined < max_examined:
            want = limit - len(tally.claims)
            batch = min(max(2 * want, min_batch), 1_000)
            rows = _candidates(session, source=source, now=at, max_attempts=config.max_attempts,
                               after=after, batch=batch, lanes=lanes, channel=channel,
                               owners=owners)
            if not rows and contended and not rescanned:
                after, contended, rescanned = None, 0, True
                continue
            if not rows:
                break
            examined += len(rows)
            if examined >= max_examined and len(rows) == batch and source != "expired":
                budget_spent = max_examined
            after = (rows[-1].due_at, rows[-1].id)
            leads = lead_service.load_leads(session, {r.lead_id for r in rows})
            facts, _ = lead_service.facts_for(session, lead_ids=leads.keys() | {
                r.lead_id for r in rows}, at=at, business_timezone=business_timezone,
                leads=leads, dncl_lookup=lookup)
            decided = _decide(rows, at=at, evaluator=evaluator, facts=facts, leads=leads,
                              messages=messages, identification=identification,
                              held_by=tally.held_by)
            taken, held_elsewhere = _take(session, decided, lock=lock, claimable=claimable,
                                          want=want)
            contended += held_elsewhere
            for _, reason in taken.skips:
                tally.skipped_by[reason] = tally.skipped_by.get(reason, 0) + 1
            if dry_run:
                _count_dry(tally, taken, leads=leads, messages=messages,
                           identification=identification)
            else:
                _apply(session, tally, taken, at=at, lease=lease, worker=worker,
                       max_attempts=config.max_attempts, dialect=dialect, leads=leads,
                       messages=messages, identification=identification)
    return _finish(session, result, tally, failed=failed, budget_spent=budget_spent,
                   limit=limit, dry_run=dry_run, actor=actor, at=at, worker=worker)


HOLD_FOR = timedelta(hours=1)


def budget(limit: int) -> int:
    """Candidates one run examines at most, per lane (likely deliverable, backlog)."""
    return max(5_000, 10 * limit)


def _language(leads: dict[str, Any], row: Any) -> str:
    from valhalla_cli.services.lead import default_language

    lead = leads.get(row.lead_id)
    return lead.language if lead is not None else default_language(row.province)


def _addressed(claim: Claim, leads: dict[str, Any], messages: Any, identification: Any
               ) -> Claim:
    """The claim with what a sender needs: the number, the language, and for SMS the text."""
    lead = leads.get(claim.lead_id)
    language = _language(leads, claim)
    text = None
    if claim.channel == "SMS" and identification is not None:
        text = messages.render(claim.step, language, name=lead.name if lead else None,
                               market=claim.market, province=claim.province,
                               identification=identification)
    return replace(claim, to=lead.phone if lead else None, language=language, message=text)


def _claim(session: Session, ids: list[int], *, at: datetime, lease: timedelta, worker: str,
           max_attempts: int, dialect: str) -> list[Claim]:
    """The claim: ONE conditional write that re-checks claimability and returns what it took."""
    table = FollowupTask
    stmt = (
        update(table)
        .where(col(table.id).in_(ids), _claimable(at, max_attempts))
        .values(status="claimed", claim_token=_token_sql(dialect), claimed_by=worker,
                claimed_at=at, lease_expires_at=at + lease, attempt=col(table.attempt) + 1,
                status_reason=None)
        .returning(col(table.id), col(table.ladder_id), col(table.lead_id), col(table.step),
                   col(table.channel),
                   col(table.province), col(table.market), col(table.owner), col(table.due_at),
                   col(table.claim_token),
                   col(table.lease_expires_at), col(table.attempt))
        .execution_options(synchronize_session=False)
    )
    return [Claim(r.id, r.ladder_id, r.lead_id, r.step, r.channel, r.province, r.market,
                  r.owner, r.due_at, r.claim_token, r.lease_expires_at, r.attempt,
                  f"task-{r.id}") for r in session.execute(stmt)]


@dataclass(frozen=True)
class DueTask:
    task_id: int
    ladder_id: str
    lead_id: str
    step: int
    channel: str
    province: str
    market: str | None
    owner: str | None
    due_at: datetime
    status: str
    attempt: int
    status_reason: str | None = None  # why it was last held or re-timed
    to: str | None = None


def due(session: Session, *, at: datetime, limit: int, config: LadderConfig,
        business_timezone: str, identification: Any = None) -> list[DueTask]:
    """Tasks a dispatch would claim now (window open, predecessor finished, not suppressed,
    number and consent rules met), without claiming or changing anything."""
    result = dispatch(session, at=at, limit=limit, lease=config.lease, worker="due",
                      config=config, dry_run=True, enforce=False, actor="due",
                      business_timezone=business_timezone, identification=identification,
                      check_controls=False)
    task_ids = [c.task_id for c in result.tasks]
    state = {row.id: (row.status, row.status_reason) for row in session.execute(
        select(col(FollowupTask.id), col(FollowupTask.status), col(FollowupTask.status_reason))
        .where(col(FollowupTask.id).in_(task_ids)))} if task_ids else {}
    return [DueTask(c.task_id, c.ladder_id, c.lead_id, c.step, c.channel, c.province, c.market,
                    c.owner, c.due_at, state.get(c.task_id, ("pending", None))[0],
                    c.attempt - 1, state.get(c.task_id, ("pending", None))[1], c.to)
            for c in result.tasks]
