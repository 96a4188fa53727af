"""The follow-up ladder (SPEC section 9): six tasks per lead, dispatched exactly once.

Exactly-once hand-out: a claim is one atomic conditional write. On SQLite the whole dispatch runs
inside BEGIN IMMEDIATE and claims with one `UPDATE ... WHERE <still claimable> RETURNING`. On
PostgreSQL overlapping runs really run together: candidates are read without locks, the windows
are evaluated, and only then does a run lock (`FOR UPDATE SKIP LOCKED LIMIT want`) exactly the
eligible rows it is about to claim, re-checking that they are still claimable, and claim them by
the same conditional UPDATE. Locking more than it claims would make the other runs skip rows
nobody takes; a run that finds its rows taken keeps reading further until it has its limit or no
claimable task is left. Each claim writes a fresh token; completion with `--claim-token` checks
it, so a worker whose lease expired cannot complete the newer attempt.

Cost grows with the batch, not the table: candidates come from the (status, ready, due_at) index,
`ready` is set only when the previous step finishes, and a due task outside its window gets its
`due_at` moved to the next opening so it is not examined again before then.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, copy_rows, dialect_name
from valhalla_cli.errors import BadInput, ConfigError, NotFound
from valhalla_cli.inputs import parse_lead_id, parse_province, parse_text
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES, FINISHED_STATUSES
from valhalla_cli.models.types import pk, table_of
from valhalla_cli.services import audit, kpi
from valhalla_cli.services import lead as lead_service
from valhalla_cli.services import template as templates
from valhalla_cli.services.contact_rules import (
    StepSpec,
    check_score,
    is_open,
    next_open_at,
    parse_steps,
    planned_at,
)
from valhalla_cli.services.dncl import DnclLookup
from valhalla_cli.services.ladder_tasks import cancel_active_tasks
from valhalla_cli.services.market import PolicyCache, scope_market

PACK = "ladder"
CONTINUE_OUTCOMES = ("sent", "no_answer", "voicemail")
STOP_OUTCOMES = ("contacted", "appointment", "not_interested", "wrong_number")
OPT_OUT = "opt_out"
OUTCOMES = (*CONTINUE_OUTCOMES, *STOP_OUTCOMES, OPT_OUT)
RECHECK_BLOCKED = timedelta(hours=1)  # a task with no known opening is looked at again hourly
GROUPS = ("owner", "province", "step")


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LadderConfig:
    steps: list[StepSpec]
    lease: timedelta
    max_attempts: int
    sla_minutes: int
    fast_sla_minutes: int


def ladder_config(ladder_settings: Any) -> LadderConfig:
    """Validate the `[ladder]` settings; a bad value is a configuration error (exit 3)."""
    from valhalla_cli.clock import parse_duration

    try:
        steps = parse_steps(list(ladder_settings.steps))
    except ValueError as exc:
        raise ConfigError(f"ladder.steps: {exc}") from None
    try:
        lease = parse_duration(str(ladder_settings.lease), option="ladder.lease")
    except BadInput as exc:
        raise ConfigError(exc.message) from None
    if ladder_settings.max_attempts < 1:
        raise ConfigError("ladder.max_attempts must be at least 1")
    if ladder_settings.sla_minutes < 1:
        raise ConfigError("ladder.sla_minutes must be at least 1")
    if not 1 <= ladder_settings.fast_sla_minutes <= ladder_settings.sla_minutes:
        raise ConfigError("ladder.fast_sla_minutes must be between 1 and ladder.sla_minutes")
    return LadderConfig(steps, lease, int(ladder_settings.max_attempts),
                        int(ladder_settings.sla_minutes), int(ladder_settings.fast_sla_minutes))


# ---------------------------------------------------------------------------------------------
# Read models
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskBrief:
    task_id: int
    step: int
    channel: str
    due_at: datetime
    status: str


@dataclass(frozen=True)
class LadderResult:
    ladder_id: str | None
    lead_id: str
    created: bool
    tasks: list[TaskBrief]
    reason: str | None = None  # set when refused


@dataclass(frozen=True)
class CreateRequest:
    lead_id: str
    province: str
    market: str | None = None
    owner: str | None = None
    lead_score: int | None = None
    start_at: datetime | None = None
    line: int | None = None
    # The lead's own fields (SPEC 17.1): upserted into `lead` before the ladder is made.
    phone: str | None = None
    name: str | None = None
    language: str | None = None
    consent: str | None = None
    consent_at: datetime | None = None


# ---------------------------------------------------------------------------------------------
# Creation (single and bulk share one path)
# ---------------------------------------------------------------------------------------------

def _lock_leads(session: Session, lead_ids: Iterable[str]) -> None:
    """PostgreSQL: serialise creations per lead (SQLite's BEGIN IMMEDIATE already does)."""
    if dialect_name(session) != "postgresql":
        return
    ids = sorted(set(lead_ids))
    if ids:
        session.execute(text(
            "SELECT pg_advisory_xact_lock(hashtext(x)) FROM "
            "(SELECT unnest(CAST(:ids AS text[])) AS x ORDER BY 1) AS s"), {"ids": ids})


def _active_ladders(session: Session, lead_ids: list[str]) -> dict[str, str]:
    """lead -> its active ladder. Filtered on lead_id only (the lead index), so the planner can
    never prefer the status index and scan every active task."""
    found: dict[str, str] = {}
    for i in range(0, len(lead_ids), 500):
        chunk = lead_ids[i:i + 500]
        rows = session.execute(
            select(col(FollowupTask.lead_id), col(FollowupTask.ladder_id), col(FollowupTask.status))
            .where(col(FollowupTask.lead_id).in_(chunk)))
        for lead, ladder, status in rows:
            if status in ACTIVE_STATUSES:
                found.setdefault(lead, ladder)
    return found


_TASK_COLUMNS = ("ladder_id", "lead_id", "province", "market", "owner", "lead_score", "step",
                 "channel", "planned_at", "due_at", "status", "ready", "attempt", "status_reason",
                 "created_at", "created_by", "import_batch_id")
_INSTANTS = {"planned_at", "due_at", "created_at"}


def _insert_tasks(session: Session, rows: list[dict[str, Any]]) -> None:
    """One driver-level executemany (bulk import speed): instants as the UTCDateTime column
    stores them (SQLite: naive UTC text; PostgreSQL: aware timestamptz)."""
    from datetime import UTC

    dialect = dialect_name(session)
    marker = "?" if dialect == "sqlite" else "%s"

    seen: dict[datetime, Any] = {}

    def instant(value: datetime) -> Any:
        if value not in seen:
            utc = value.astimezone(UTC)
            seen[value] = (utc.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
                           if dialect == "sqlite" else utc)
        return seen[value]

    from valhalla_cli.models.importing import import_batch_of

    batch = import_batch_of(session)  # a bulk import's rows stay hidden until it finishes
    for row in rows:
        row["import_batch_id"] = batch
    params = [tuple(instant(row[c]) if c in _INSTANTS else row[c] for c in _TASK_COLUMNS)
              for row in rows]
    if dialect == "postgresql":
        copy_rows(session, "followup_task", list(_TASK_COLUMNS), params)
        return
    sql = (f"INSERT INTO followup_task ({', '.join(_TASK_COLUMNS)}) "
           f"VALUES ({', '.join([marker] * len(_TASK_COLUMNS))})")
    session.connection().exec_driver_sql(sql, params)


@dataclass
class _Outcome:
    request: CreateRequest
    ladder_id: str | None = None
    created: bool = False
    reason: str | None = None


def create_many(
    session: Session,
    requests: list[CreateRequest],
    *,
    config: LadderConfig,
    at: datetime,
    actor: str,
    business_timezone: str,
    cache: PolicyCache | None = None,
    score_required_is_bad_input: bool = False,
    audit_leads: bool = False,
) -> list[_Outcome]:
    """Create ladders for validated requests in the caller's transaction.

    The lead of each request is upserted first (its fields, and its consent when given).
    Per request: suppressed (by lead or number) -> refused; an active ladder -> returned
    (`created` false); disabled policy, no allowed channel or score below the minimum ->
    refused; else six tasks.
    """
    from valhalla_cli.services import lead as lead_service
    from valhalla_cli.services.market import suppressed_among

    cache = cache or PolicyCache(session)
    leads = [r.lead_id for r in requests]
    _lock_leads(session, leads)
    lead_service.upsert_many(session, [
        lead_service.LeadFields(lead_id=r.lead_id, province=r.province, market=r.market,
                                phone=r.phone, name=r.name, language=r.language)
        for r in requests], at=at, actor=actor, audit_each=audit_leads)
    lead_service.append_consents(session, [
        {"lead_id": r.lead_id, "kind": r.consent, "channel": "all",
         "given_at": r.consent_at or at, "actor": actor,
         "evidence": f"ladder import line {r.line}" if r.line else "ladder create"}
        for r in requests if r.consent is not None])
    suppressed = suppressed_among(session, leads, at=at, business_timezone=business_timezone)
    active = _active_ladders(session, list(set(leads)))
    rows: list[dict[str, Any]] = []
    outcomes: list[_Outcome] = []
    opening: dict[tuple[str, str | None, str, datetime], datetime | None] = {}
    for req in requests:
        out = _Outcome(req)
        outcomes.append(out)
        policy = cache.effective(req.province, req.market)
        if req.lead_id in suppressed:
            out.reason = "suppressed"
            continue
        if req.lead_id in active:
            out.ladder_id = active[req.lead_id]
            continue
        if not policy.enabled:
            out.reason = "policy_disabled"
            continue
        if policy.min_lead_score > 0 and req.lead_score is None and score_required_is_bad_input:
            raise BadInput(f"--lead-score is required: the {policy.province}/{policy.market} "
                           f"policy has a minimum lead score of {policy.min_lead_score}")
        if policy.min_lead_score > 0 and (req.lead_score is None
                                          or req.lead_score < policy.min_lead_score):
            out.reason = "lead_score_below_minimum"
            continue
        if not any(s.channel in policy.channels for s in config.steps):
            out.reason = "channel_not_allowed"
            continue
        ladder_id = uuid.uuid4().hex
        start = req.start_at or at
        first_zone = policy.timezones[0] if policy.timezones else "UTC"
        ready_given = False
        for spec in config.steps:
            planned = planned_at(start, spec, first_zone)
            if spec.channel in policy.channels:
                key = (req.province, req.market, spec.channel, planned)
                if key not in opening:
                    rules = cache.rules(req.province, req.market, spec.channel)
                    opening[key] = next_open_at(rules, planned)
                due, status, reason = opening[key] or planned, "pending", None
                ready = not ready_given
                ready_given = True
            else:
                due, status, reason, ready = planned, "skipped", "channel_not_allowed", False
            rows.append({
                "ladder_id": ladder_id, "lead_id": req.lead_id, "province": req.province,
                "market": req.market, "owner": req.owner, "lead_score": req.lead_score,
                "step": spec.step, "channel": spec.channel, "planned_at": planned,
                "due_at": due, "status": status, "ready": ready, "attempt": 0,
                "status_reason": reason, "created_at": at, "created_by": actor,
            })
        active[req.lead_id] = ladder_id
        out.ladder_id, out.created = ladder_id, True
    if rows:
        _insert_tasks(session, rows)
    return outcomes


def _briefs(session: Session, ladder_id: str) -> list[TaskBrief]:
    rows = session.scalars(select(FollowupTask).where(col(FollowupTask.ladder_id) == ladder_id)
                           .order_by(col(FollowupTask.step)))
    return [TaskBrief(pk(r.id), r.step, r.channel, r.due_at, r.status) for r in rows]


def create(
    session: Session,
    *,
    lead_id: str,
    province: str,
    market: str | None,
    owner: str | None,
    lead_score: int | None,
    at: datetime,
    actor: str,
    config: LadderConfig,
    business_timezone: str,
    phone: str | None = None,
    name: str | None = None,
    language: str | None = None,
    consent: str | None = None,
    consent_at: datetime | None = None,
) -> LadderResult:
    """Create the lead's ladder, or return its active one (`created: false`); the lead's
    fields given are upserted (SPEC 17.1)."""
    from valhalla_cli.phones import parse_phone
    from valhalla_cli.services.consent import check_kind
    from valhalla_cli.services.lead import check_language

    if consent_at is not None and consent is None:
        raise BadInput("--consent-at needs --consent KIND")
    req = CreateRequest(lead_id=parse_lead_id(lead_id), province=parse_province(province),
                        market=scope_market(market),
                        owner=parse_text(owner, field="--owner"),
                        lead_score=check_score(lead_score),
                        phone=parse_phone(phone) if phone is not None else None,
                        name=parse_text(name, field="--name"),
                        language=check_language(language) if language is not None else None,
                        consent=check_kind(consent, option="--consent")
                        if consent is not None else None,
                        consent_at=consent_at)
    out = create_many(session, [req], config=config, at=at, actor=actor,
                      business_timezone=business_timezone, score_required_is_bad_input=True,
                      audit_leads=True)[0]
    if out.reason is not None:
        return LadderResult(None, req.lead_id, False, [], out.reason)
    assert out.ladder_id is not None
    if out.created:
        session.flush()
        kpi.emit(session, metric="ladder_created", value=1, at=at, province=req.province,
                 market=req.market, ref=out.ladder_id, source="ladder")
        audit.record(session, pack=PACK, action="create", actor=actor, at=at,
                     subject=req.lead_id, after={"ladder_id": out.ladder_id,
                                                 "province": req.province,
                                                 "market": req.market, "owner": req.owner})
    return LadderResult(out.ladder_id, req.lead_id, out.created, _briefs(session, out.ladder_id))


# ---------------------------------------------------------------------------------------------
# Readiness: a step becomes dispatchable when every earlier step is finished
# ---------------------------------------------------------------------------------------------

_ADVANCE = text("""
UPDATE followup_task SET ready = :yes
WHERE ladder_id = :ladder_id AND status = 'pending' AND ready = :no
  AND step = (SELECT MIN(n.step) FROM followup_task n
              WHERE n.ladder_id = :ladder_id AND n.status IN ('pending', 'claimed'))
""")


def _advance(session: Session, ladder_ids: Iterable[str]) -> None:
    """Mark the lowest unfinished step of each ladder ready (earlier steps are all finished)."""
    params = [{"ladder_id": lid, "yes": True, "no": False} for lid in set(ladder_ids)]
    if params:
        session.execute(_ADVANCE, params)


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

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
                f"{why(self.held_by_reason)}")


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
    """Decides, for candidate tasks at one instant, claim / re-time / skip / cancel."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self.cache = PolicyCache(session)
        self._open: dict[tuple[Any, ...], tuple[bool, datetime | None, str]] = {}

    def window(self, province: str, market: str | None, channel: str,
               zones: tuple[str, ...] | None = None) -> tuple[bool, datetime | None, str]:
        """(open now, next opening, why not) for a scope, channel and the lead's zones
        (None: the policy's), cached per run."""
        key = (province, market, channel, zones)
        if key not in self._open:
            policy = self.cache.effective(province, market)
            if not policy.enabled:
                result: tuple[bool, datetime | None, str] = (
                    False, self.now + RECHECK_BLOCKED, "policy_disabled")
            elif channel not in policy.channels:
                result = (False, None, "channel_not_allowed")
            else:
                rules = self.cache.rules(province, market, channel)
                if zones is not None:
                    rules = replace(rules, timezones=zones)
                if is_open(rules, self.now):
                    result = (True, None, "")
                else:
                    nxt = next_open_at(rules, self.now)
                    result = (False, nxt or self.now + RECHECK_BLOCKED, "outside_window")
            self._open[key] = result
        return self._open[key]


def _candidates(session: Session, *, source: str, now: datetime, max_attempts: int,
                after: tuple[datetime, int] | None, batch: int) -> list[Any]:
    query = select(*_COLUMNS)
    if source == "expired":
        query = query.where(col(FollowupTask.status) == "claimed",
                            col(FollowupTask.lease_expires_at) <= now,
                            col(FollowupTask.attempt) < max_attempts)
    else:
        query = query.where(col(FollowupTask.status) == "pending",
                            col(FollowupTask.ready).is_(True),
                            col(FollowupTask.due_at) <= now)
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
) -> DispatchResult:
    """Claim up to `limit` dispatchable tasks (see the module docstring).

    With the lead rules (SPEC 17.7): a suppressed lead's tasks are cancelled; `no_phone`,
    `no_consent` and `dncl_listed` skip the task (the ladder moves on); `dncl_not_checked` and,
    for SMS, `no_identification` hold it for an hour (its `status_reason` says why), so a fresh
    list or a configured `[business]` releases it. `identification` is the `[business]`
    identity (templates.Identification) or None when it is not configured."""
    from valhalla_cli.services import golive, levers

    if limit < 1 or limit > 100_000:
        raise BadInput("--limit must be between 1 and 100000")
    worker = (worker or "").strip()
    if not worker or len(worker) > 200:
        raise BadInput("--worker must be 1-200 characters")
    result = DispatchResult(False, None, None, None, dry_run, worker)
    if check_controls:
        status = golive.live_status(session, enforce=enforce)
        if not status.live and not dry_run:
            return replace(result, refused=True, reason=status.reason,
                           message=f"not dispatching: {status.message}")
        if not status.live:
            result = replace(result, warning=f"dry run while not live ({status.message})")
        elif status.warning:
            result = replace(result, warning=status.warning)
        throttle = levers.throttled_lever(session, "followups")
        if throttle is not None:
            return replace(result, refused=True, reason="followups_throttled",
                           message=f"not dispatching: {throttle.message}")

    dialect = dialect_name(session)
    lock = dialect == "postgresql" and not dry_run
    failed = 0 if dry_run else _fail_exhausted(session, now=at, max_attempts=config.max_attempts,
                                               lock=lock)
    claimable = _claimable(at, config.max_attempts)
    evaluator = _Evaluator(session, at)
    lookup = DnclLookup(session, at, business_timezone)
    messages = templates.TemplateSet(session)
    claims: list[Claim] = []
    retimed = cancelled = skipped = held_count = 0
    skipped_by: dict[str, int] = {}
    held_by: dict[str, int] = {}
    examined, max_examined = 0, max(5_000, 10 * limit)
    for source in ("expired", "pending"):
        after: tuple[datetime, int] | None = None
        # PostgreSQL: eligible rows another run held when this one tried to lock them. That run
        # claims them, unless it rolls back; so a run still short at the end looks once more.
        contended, rescanned = 0, False
        while len(claims) < limit and examined < max_examined:
            want = limit - len(claims)
            batch = min(max(2 * want, 50), 1_000)
            rows = _candidates(session, source=source, now=at, max_attempts=config.max_attempts,
                               after=after, batch=batch)
            if not rows and contended and not rescanned:
                after, contended, rescanned = None, 0, True
                continue
            if not rows:
                break
            examined += len(rows)
            after = (rows[-1].due_at, rows[-1].id)
            leads = lead_service.load_leads(session, {r.lead_id for r in rows})
            facts, _ = lead_service.facts_for(session, lead_ids=leads.keys() | {
                r.lead_id for r in rows}, at=at, business_timezone=business_timezone,
                leads=leads, dncl_lookup=lookup)
            eligible, moves, skips, to_cancel = [], [], [], set()
            for row in rows:
                lead_facts = facts[row.lead_id]
                if lead_facts.suppressed:
                    to_cancel.add(row.lead_id)
                    continue
                open_now, nxt, why = evaluator.window(row.province, row.market, row.channel)
                if why in ("policy_disabled", "channel_not_allowed"):
                    if why == "channel_not_allowed":
                        skips.append((row, why))
                    else:
                        moves.append({"task_id": row.id, "due": nxt, "why": why})
                    continue
                policy = evaluator.cache.effective(row.province, row.market)
                block = lead_facts.block(row.channel,
                                         require_sms_consent=policy.require_sms_consent)
                if block is None and row.channel == "SMS" and (
                        identification is None
                        or messages.template_for(row.step, _language(leads, row)) is None):
                    block = "no_identification"
                if block in HOLD_REASONS:
                    moves.append({"task_id": row.id, "due": at + HOLD_FOR, "why": block})
                    held_by[block] = held_by.get(block, 0) + 1
                    continue
                if block is not None:
                    skips.append((row, block))
                    continue
                lead = leads.get(row.lead_id)
                zones = tuple(z.timezone for z in lead_service.lead_contact_zones(
                    policy_zones=policy.timezones, phone=lead_facts.phone,
                    confirmed_timezone=lead.timezone if lead else None))
                open_now, nxt, why = evaluator.window(row.province, row.market, row.channel,
                                                      zones)
                if open_now:
                    eligible.append(row)
                else:
                    moves.append({"task_id": row.id, "due": nxt, "why": why})
            if lock:
                eligible_ids = _lock_free(session, [r.id for r in eligible], claimable, want)
                contended += min(len(eligible), want) - len(eligible_ids)
                locked = set(_lock_free(session, [r.id for r, _ in skips]
                                        + [m["task_id"] for m in moves], claimable))
                skips = [(r, why) for r, why in skips if r.id in locked]
                moves = [m for m in moves if m["task_id"] in locked]
            else:
                eligible_ids = [r.id for r in eligible[:want]]
            taken = set(eligible_ids)
            eligible = [r for r in eligible if r.id in taken]
            for _, reason in skips:
                skipped_by[reason] = skipped_by.get(reason, 0) + 1
            if dry_run:
                claims.extend(_addressed(
                    Claim(r.id, r.ladder_id, r.lead_id, r.step, r.channel, r.province,
                          r.market, r.owner, r.due_at, None, None, r.attempt + 1,
                          f"task-{r.id}"), leads, messages, identification) for r in eligible)
                retimed += sum(1 for m in moves if m["why"] not in HOLD_REASONS)
                held_count += sum(1 for m in moves if m["why"] in HOLD_REASONS)
                skipped += len(skips)
                cancelled += len(to_cancel)
                continue
            for lead_id in sorted(to_cancel):
                cancelled += cancel_active_tasks(session, lead_id=lead_id, at=at,
                                                 reason="suppressed")
            by_reason: dict[str, list[Any]] = {}
            for row, reason in skips:
                by_reason.setdefault(reason, []).append(row)
            for reason, skip_rows in sorted(by_reason.items()):
                session.execute(
                    update(FollowupTask)
                    .where(col(FollowupTask.id).in_([r.id for r in skip_rows]),
                           col(FollowupTask.status).in_(ACTIVE_STATUSES))
                    .values(status="skipped", status_reason=reason,
                            claim_token=None, lease_expires_at=None)
                    .execution_options(synchronize_session=False))
            if skips:
                _advance(session, [r.ladder_id for r, _ in skips])
                skipped += len(skips)
            if moves:
                session.execute(
                    update(table_of(FollowupTask))
                    .where(table_of(FollowupTask).c.id == bindparam("task_id"))
                    .values(due_at=bindparam("due"), status_reason=bindparam("why"),
                            status="pending", claim_token=None, lease_expires_at=None),
                    moves)
                retimed += sum(1 for m in moves if m["why"] not in HOLD_REASONS)
                held_count += sum(1 for m in moves if m["why"] in HOLD_REASONS)
            if eligible_ids:
                claims.extend(_addressed(claim, leads, messages, identification)
                              for claim in _claim(session, eligible_ids, at=at, lease=lease,
                                                  worker=worker,
                                                  max_attempts=config.max_attempts,
                                                  dialect=dialect))
    claims.sort(key=lambda c: (c.due_at, c.task_id))
    result = replace(result, tasks=claims, retimed=retimed, failed=failed, cancelled=cancelled,
                     skipped=skipped, held=held_count, skipped_by_reason=skipped_by,
                     held_by_reason=held_by)
    if not dry_run and (claims or retimed or failed or cancelled or skipped or held_count):
        audit.record(session, pack=PACK, action="dispatch", actor=actor, at=at, subject=worker,
                     after={"claimed": len(claims), "retimed": retimed, "failed": failed,
                            "cancelled": cancelled, "skipped": skipped, "held": held_count,
                            "skipped_by_reason": skipped_by, "held_by_reason": held_by,
                            "first_task": claims[0].task_id if claims else None})
    return result


HOLD_REASONS = ("dncl_not_checked", "no_identification")
HOLD_FOR = timedelta(hours=1)


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
                               market=claim.market or claim.province,
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


# ---------------------------------------------------------------------------------------------
# Completion, stop, show
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompleteResult:
    task_id: int
    status: str
    outcome: str | None
    response_minutes: float | None
    within_sla: bool | None
    ladder_stopped: bool
    reason: str | None = None  # set when refused: already_finished | lease_lost


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
    if task_id < 1:
        raise BadInput(f"task id must be a positive whole number, not {task_id}")
    if claim_token is not None and not claim_token.strip():
        raise BadInput("--claim-token must not be empty")
    task = session.scalars(select(FollowupTask).where(col(FollowupTask.id) == task_id)
                           .with_for_update()).first()
    if task is None:
        raise NotFound(f"no follow-up task {task_id}")

    def refused(reason: str) -> CompleteResult:
        return CompleteResult(pk(task.id), task.status, task.outcome, task.response_minutes,
                              None if task.response_minutes is None
                              else task.response_minutes <= config.sla_minutes, False, reason)

    if task.status in FINISHED_STATUSES:
        return refused("already_finished")
    if claim_token is not None and (task.status != "claimed" or task.claim_token != claim_token):
        return refused("lease_lost")
    # completed before it was due: it was answered at once (0), not in negative time
    response = max(0.0, round((at - task.due_at).total_seconds() / 60, 2))
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
    elif outcome == OPT_OUT:
        from valhalla_cli.services import market

        market.suppress(session, lead_id=task.lead_id, phone=None, reason="opt_out",
                        actor=actor, at=at)
        stopped = True
    else:
        _advance(session, [task.ladder_id])
    kpi.emit(session, metric="followup_completed", value=1 if within else 0, at=at,
             province=task.province, market=task.market, ref=f"task-{task.id}", source="ladder")
    audit.record(session, pack=PACK, action="complete", actor=actor, at=at,
                 subject=f"task-{task.id}", before={"status": task.status},
                 after={"status": "done", "outcome": outcome, "ladder_stopped": stopped},
                 reason=note)
    return CompleteResult(pk(task.id), "done", outcome, response, within, stopped)


@dataclass(frozen=True)
class StopResult:
    lead_id: str
    cancelled: int
    ladder_ids: list[str]


def stop(session: Session, *, lead_id: str, reason: str, at: datetime, actor: str) -> StopResult:
    """Cancel the lead's remaining tasks (safe to run twice: the second cancels nothing)."""
    lead = parse_lead_id(lead_id)
    if reason is None or not reason.strip():
        raise BadInput("--reason must not be empty")
    ladders = sorted({ladder for ladder, status in session.execute(
        select(col(FollowupTask.ladder_id),
               col(FollowupTask.status)).where(col(FollowupTask.lead_id) == lead))
        if status in ACTIVE_STATUSES})
    cancelled = cancel_active_tasks(session, lead_id=lead, at=at,
                                    reason=f"stopped: {reason.strip()}")
    if cancelled:
        audit.record(session, pack=PACK, action="stop", actor=actor, at=at, subject=lead,
                     after={"cancelled": cancelled, "ladder_ids": ladders}, reason=reason.strip())
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
        LadderView(ladder_id=lid, lead_id=lead, province=tasks[0].province,
                   market=tasks[0].market, owner=tasks[0].owner,
                   created_at=tasks[0].created_at,
                   active=any(t.status in ACTIVE_STATUSES for t in tasks),
                   tasks=[TaskView(pk(t.id), t.step, t.channel, t.planned_at, t.due_at, t.status,
                                   t.attempt, t.claimed_by, t.lease_expires_at, t.completed_at,
                                   t.outcome, t.response_minutes, t.status_reason)
                          for t in tasks])
        for lid, tasks in ladders.items()
    ]


# ---------------------------------------------------------------------------------------------
# SLA report
# ---------------------------------------------------------------------------------------------

def _sla_ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values (median) and of the p90 value among n."""
    return (n + 1) // 2, (n + 2) // 2, (9 * n + 9) // 10


@dataclass(frozen=True)
class SlaRow:
    group: str | None
    since: date
    until: date
    completed: int
    within_30m_pct: float | None
    within_2h_pct: float | None
    median_response_minutes: float | None
    p90_response_minutes: float | None
    overdue_now: int
    target_within_2h_pct: float
    meets_target: bool | None


def sla(
    session: Session,
    *,
    at: datetime,
    since: date | None,
    until: date | None,
    by: str | None,
    business_timezone: str,
    config: LadderConfig,
) -> list[SlaRow]:
    """Response-time figures over tasks completed in [since, until] (business dates, inclusive),
    aggregated in SQL (counts, then the median and p90 ranks with window functions)."""
    from valhalla_cli.clock import business_date, start_of_business_day

    if by is not None and by not in GROUPS:
        raise BadInput(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    until = until or business_date(at, business_timezone)
    since = since or until - timedelta(days=29)
    if since > until:
        raise BadInput("--since must not be after --until")
    if (until - since).days > 3660:
        raise BadInput("the period may span at most 10 years")
    lo = start_of_business_day(since, business_timezone)
    hi = start_of_business_day(until + timedelta(days=1), business_timezone)
    t = FollowupTask
    grouped = by is not None
    group = getattr(t, by) if by is not None else literal_column("'all'")
    label = group.label("grp")
    # Only `done` tasks have a response time: the (completed_at, response_minutes, owner,
    # province, step) index covers the report, grouped or not.
    period = [col(t.completed_at) >= lo, col(t.completed_at) < hi,
              col(t.response_minutes).is_not(None)]

    def per_group(query):
        return query.group_by(group) if grouped else query

    figures = [func.count().label("n"),
               func.sum(case((col(t.response_minutes) <= config.fast_sla_minutes, 1),
                             else_=0)).label("fast"),
               func.sum(case((col(t.response_minutes) <= config.sla_minutes, 1),
                             else_=0)).label("ok")]
    postgres = dialect_name(session) == "postgresql"
    if postgres:
        # One pass: ordered-set aggregates sort each group's values once. The median of the
        # middle pair is percentile_cont(0.5); percentile_disc(0.9) is rank ceil(0.9 n), the
        # same rank as _sla_ranks. (PostgreSQL's window path below spilled its sort to disk
        # and took 3 x longer at a month of 5 M tasks.)
        figures += [func.percentile_cont(0.5).within_group(col(t.response_minutes)).label("median"),
                    func.percentile_disc(0.9).within_group(col(t.response_minutes)).label("p90")]
    counts = {row.grp: row for row in session.execute(per_group(
        select(label, *figures).where(*period))) if row.n}
    marks: dict[Any, dict[int, float]] = {}
    if not postgres:
        # The ranks of the medians and p90s are known from the counts: one window (row_number)
        # picks them; a second window for the partition size would cost another sort.
        ranks = sorted({rank for c in counts.values() for rank in _sla_ranks(int(c.n))})
        over: dict[str, Any] = {"partition_by": group} if grouped else {}
        ranked = (
            select(label, col(t.response_minutes).label("v"),
                   func.row_number().over(order_by=col(t.response_minutes), **over).label("rn"))
            .where(*period).subquery()
        )
        picks = session.execute(
            select(ranked.c.grp, ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(ranks))
        ).all() if ranks else []
        for grp, rn, value in picks:
            marks.setdefault(grp, {})[int(rn)] = float(value)
    overdue_cut = at - timedelta(minutes=config.sla_minutes)
    overdue = {grp: k for grp, k in session.execute(per_group(
        select(label, func.count())
        .where(col(t.status) == "pending", col(t.ready).in_([True, False]),
               col(t.due_at) < overdue_cut)))
        if k}
    keys = sorted(set(counts) | set(overdue), key=lambda k: (k is None, str(k)))
    if not grouped:
        keys = ["all"]
    rows = []
    for key in keys:
        c = counts.get(key)
        total = int(c.n) if c else 0
        m = marks.get(key, {})
        median = p90 = None
        if c and total and postgres:
            median, p90 = round(float(c.median), 2), round(float(c.p90), 2)
        elif total:
            low, high, p90_rank = _sla_ranks(total)
            median = round((m[low] + m[high]) / 2, 2)
            p90 = round(m[p90_rank], 2)
        within = _pct(int(c.ok or 0), total) if c else None
        rows.append(SlaRow(
            group=None if not grouped or key is None else str(key), since=since, until=until,
            completed=total,
            within_30m_pct=_pct(int(c.fast or 0), total) if c else None,
            within_2h_pct=within, median_response_minutes=median, p90_response_minutes=p90,
            overdue_now=int(overdue.get(key, 0)), target_within_2h_pct=SLA_TARGET_PCT,
            meets_target=_meets(within)))
    return rows


SLA_TARGET_PCT = 90.0


def _pct(part: int, total: int) -> float | None:
    return round(100.0 * part / total, 2) if total else None


def _meets(within_pct: float | None) -> bool | None:
    return None if within_pct is None else within_pct >= SLA_TARGET_PCT


@dataclass(frozen=True)
class SlaDay:
    """One business date of the SLA chart: tasks completed that day and how many in time."""

    day: date
    completed: int
    within_2h: int
    within_2h_pct: float | None
    meets_target: bool | None


def sla_by_day(session: Session, *, since: date, until: date, business_timezone: str,
               config: LadderConfig) -> list[SlaDay]:
    """`within_2h_pct` per business date in [since, until], in one aggregate query.

    Each completion is bucketed by a CASE over the local-midnight boundaries (exact in any zone,
    across clock changes) while the (completed_at, response_minutes, ...) index serves the range,
    so the cost is one index-only scan of the period's completions, with no sort."""
    from valhalla_cli.clock import start_of_business_day

    if since > until:
        raise BadInput("--since must not be after --until")
    if (until - since).days > 366:
        raise BadInput("the daily SLA spans at most 367 days")
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    bounds = [start_of_business_day(d, business_timezone) for d in days]
    bounds.append(start_of_business_day(until + timedelta(days=1), business_timezone))
    completed_at, response = col(FollowupTask.completed_at), col(FollowupTask.response_minutes)
    # A subquery, so that GROUP BY names the bucket rather than repeating its bound parameters
    # (PostgreSQL cannot tell that two copies of a parameterised CASE are the same expression).
    bucketed = (
        select(case(*((completed_at < bounds[i + 1], i) for i in range(len(days))))
               .label("i"),
               case((response <= config.sla_minutes, 1), else_=0).label("ok"))
        .where(completed_at >= bounds[0], completed_at < bounds[-1], response.is_not(None))
        .subquery())
    rows = session.execute(
        select(bucketed.c.i, func.count(), func.sum(bucketed.c.ok)).group_by(bucketed.c.i)).all()
    per_day = {int(i): (int(n), int(ok or 0)) for i, n, ok in rows if i is not None}
    result = []
    for i, day in enumerate(days):
        completed, within = per_day.get(i, (0, 0))
        pct = _pct(within, completed)
        result.append(SlaDay(day=day, completed=completed, within_2h=within,
                             within_2h_pct=pct, meets_target=_meets(pct)))
    return result


@dataclass(frozen=True)
class TaskCounts:
    """Open work at an instant (for `valhalla status`)."""

    due: int  # pending, due at or before the instant (whatever their predecessor)
    ready: int  # of those, the ones whose previous step is finished (what dispatch looks at)
    overdue: int  # pending more than sla_minutes past due (the SLA report's `overdue_now`)
    claimed: int  # handed out and not completed yet
    # held by dispatch until the reason clears (SPEC 17.7): a fresh DNCL copy, [business]
    held_dncl_not_checked: int = 0
    held_no_identification: int = 0


def task_counts(session: Session, *, at: datetime, config: LadderConfig) -> TaskCounts:
    """One index-only query: the (status, ready, due_at) index serves the four ranges
    status IN (pending, claimed) x ready IN (false, true), due_at <= at, so the cost grows with
    the open backlog, not with the finished history."""
    t = FollowupTask
    pending = col(t.status) == "pending"
    cut = at - timedelta(minutes=config.sla_minutes)
    row = session.execute(
        select(func.count(case((pending, 1))),
               func.count(case((and_(pending, col(t.ready).is_(True)), 1))),
               func.count(case((and_(pending, col(t.due_at) < cut), 1))),
               func.count(case((col(t.status) == "claimed", 1))))
        .where(col(t.status).in_(ACTIVE_STATUSES), col(t.ready).in_([True, False]),
               col(t.due_at) <= at)
    ).one()
    from valhalla_cli.services.dncl import held_counts

    held = held_counts(session, at=at)
    due, ready, overdue, claimed = (int(v) for v in row)
    return TaskCounts(due, ready, overdue, claimed,
                      held_dncl_not_checked=held.get("dncl_not_checked", 0),
                      held_no_identification=held.get("no_identification", 0))


# ---------------------------------------------------------------------------------------------
# Runbook
# ---------------------------------------------------------------------------------------------

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
            f"lead {oldest.lead_id}); a live dispatch reclaims them",
            f"valhalla ladder complete {oldest.id} --outcome no_answer")
    steps = ", ".join(s.label for s in config.steps)
    return CheckResult("followups", OK, f"ladder {steps}; lease {settings.ladder.lease}, "
                       f"max {config.max_attempts} attempts; no stuck claims")
