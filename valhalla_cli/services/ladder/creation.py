"""Creating ladders: six tasks per lead, one active ladder per lead; one path for one lead and
for a bulk import."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import utcnow
from valhalla_cli.db import copy_rows, dialect_name
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_lead_id, parse_province, parse_text
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES
from valhalla_cli.models.types import pk
from valhalla_cli.services import audit, kpi
from valhalla_cli.services.contact_rules import (
    Reason,
    check_score,
    decide,
    next_open_at,
    planned_at,
)
from valhalla_cli.services.ladder.config import KPI_LADDER_CREATED, PACK, LadderConfig
from valhalla_cli.services.policies import PolicyCache, scope_market
from valhalla_cli.services.refusals import Refusal

__all__ = ["CreateRequest", "LadderResult", "TaskBrief", "create", "create_many"]


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
    message: str | None = None  # the refusal in words, with its next step

    @property
    def refusal(self) -> Refusal | None:
        """The ladder refused, with the contact decision's reason."""
        if self.reason is None:
            return None
        return Refusal(self.reason,
                       self.message or f"ladder not created for {self.lead_id}: {self.reason}")


@dataclass(frozen=True)
class CreateRequest:
    lead_id: str
    province: str
    market: str | None = None
    owner: str | None = None
    lead_score: int | None = None
    start_at: datetime | None = None
    line: int | None = None
    # The lead's own fields: upserted into `lead` before the ladder is made.
    phone: str | None = None
    name: str | None = None
    language: str | None = None
    consent: str | None = None
    consent_at: datetime | None = None


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
            # a ladder paused by the lead's reply is still the lead's ladder
            if status in ACTIVE_STATUSES or status == "paused":
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
    reason: Reason | None = None


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
    Per request: the contact decision's standing reasons (disabled policy, no allowed channel,
    score below the minimum, suppressed by lead or number), first that applies -> refused; an
    active ladder -> returned (`created` false); else six tasks.
    """
    from valhalla_cli.services import lead as lead_service
    from valhalla_cli.services.consent import check_given_at
    from valhalla_cli.services.contact_facts import lead_contact_zones
    from valhalla_cli.services.suppression import suppressed_among

    cache = cache or PolicyCache(session)
    leads = [r.lead_id for r in requests]
    lead_service.lock_leads(session, leads)
    upserted = lead_service.upsert_many(session, [
        lead_service.LeadFields(lead_id=r.lead_id, province=r.province, market=r.market,
                                phone=r.phone, name=r.name, language=r.language)
        for r in requests], at=at, actor=actor, audit_each=audit_leads)
    # The tasks carry the market as the lead's record spells it ("Montreal" finds MONTRÉAL).
    spelled = {u.lead.lead_id: u.lead.market for u in upserted}
    requests = [replace(r, market=spelled[r.lead_id])
                if lead_service.same_market(spelled.get(r.lead_id), r.market) else r
                for r in requests]
    lead_service.append_consents(session, [
        {"lead_id": r.lead_id, "kind": r.consent, "channel": "all",
         "given_at": check_given_at(r.consent_at or at, at, field="consent_at"),
         "recorded_at": utcnow(), "actor": actor,
         "evidence": f"ladder import line {r.line}" if r.line else "ladder create"}
        for r in requests if r.consent is not None])
    records = {u.lead.lead_id: u.lead for u in upserted}
    suppressed = suppressed_among(session, leads, at=at, business_timezone=business_timezone)
    active = _active_ladders(session, list(set(leads)))
    rows: list[dict[str, Any]] = []
    outcomes: list[_Outcome] = []
    opening: dict[tuple[str, str | None, str, tuple[str, ...], datetime], datetime | None] = {}
    for req in requests:
        out = _Outcome(req)
        outcomes.append(out)
        policy = cache.effective(req.province, req.market)
        if policy.min_lead_score > 0 and req.lead_score is None and score_required_is_bad_input:
            raise BadInput(f"--lead-score is required: the {policy.province}/{policy.market} "
                           f"policy has a minimum lead score of {policy.min_lead_score}")
        # The ladder's standing, in the contact decision's own order; its hours are judged
        # step by step below (a closed window moves a step, it does not refuse the ladder).
        decision = decide(rules=None, instant=at, enabled=policy.enabled,
                          channel_allowed=any(s.channel in policy.channels
                                              for s in config.steps),
                          min_lead_score=policy.min_lead_score, lead_score=req.lead_score,
                          suppressed=req.lead_id in suppressed)
        if decision.reason is not None:
            out.reason = decision.reason
            continue
        if req.lead_id in active:
            out.ladder_id = active[req.lead_id]
            continue
        ladder_id = uuid.uuid4().hex
        start = req.start_at or at
        first_zone = policy.timezones[0] if policy.timezones else "UTC"
        # A step is due when the lead can be reached: in every zone of the lead (its confirmed
        # zone, else the policy's plus its number's), as can-contact and dispatch judge it.
        record = records.get(req.lead_id)
        zones = tuple(z.timezone for z in lead_contact_zones(
            policy_zones=policy.timezones, phone=record.phone if record else None,
            confirmed_timezone=record.timezone if record else None))
        ready_given = False
        previous_due: datetime | None = None
        reason: Reason | None
        for spec in config.steps:
            planned = planned_at(start, spec, first_zone)
            if spec.channel in policy.channels:
                # A step is never due before the step before it: a CALL whose window opens on
                # Sunday waits for the SMS that only goes out on Monday.
                earliest = planned if previous_due is None else max(planned, previous_due)
                key = (req.province, req.market, spec.channel, zones, earliest)
                if key not in opening:
                    rules = replace(cache.rules(req.province, req.market, spec.channel),
                                    timezones=zones)
                    opening[key] = next_open_at(rules, earliest)
                due, status, reason = opening[key] or earliest, "pending", None
                previous_due = due
                ready = not ready_given
                ready_given = True
            else:
                due, status, reason = planned, "skipped", Reason.CHANNEL_NOT_ALLOWED
                ready = False
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
    fields given are upserted into `lead`."""
    from valhalla_cli.phones import parse_phone
    from valhalla_cli.services.consent import check_given_at, check_kind
    from valhalla_cli.services.lead import check_language

    if consent_at is not None and consent is None:
        raise BadInput("--consent-at needs --consent KIND")
    if consent_at is not None:
        check_given_at(consent_at, at, field="--consent-at")
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
        from valhalla_cli.services import refusals
        from valhalla_cli.services.policies import effective_policy

        policy = effective_policy(session, province=req.province, market=req.market)
        channel = next((s.channel for s in config.steps if s.channel not in policy.channels),
                       config.steps[0].channel)
        sentence = refusals.contact(
            out.reason, channel=channel, province=req.province, market=req.market,
            lead_id=req.lead_id, phone=req.phone, zones=[], next_open_at=None,
            business_timezone=business_timezone, at=at, lead_score=req.lead_score,
            min_lead_score=policy.min_lead_score)
        return LadderResult(None, req.lead_id, False, [], out.reason,
                            f"ladder not created for {req.lead_id}: {out.reason}: {sentence}")
    assert out.ladder_id is not None
    if out.created:
        session.flush()
        kpi.emit(session, metric=KPI_LADDER_CREATED, value=1, at=at, province=req.province,
                 market=req.market, ref=out.ladder_id, source="ladder")
        audit.record(session, pack=PACK, action="create", actor=actor, at=at,
                     subject=req.lead_id, after={"ladder_id": out.ladder_id,
                                                 "province": req.province,
                                                 "market": req.market, "owner": req.owner})
    return LadderResult(out.ladder_id, req.lead_id, out.created, _briefs(session, out.ladder_id))
