"""The SLA report (median, p90, share within the targets), the daily SLA and the open-work
counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, literal_column, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import dialect_name
from valhalla_cli.errors import BadInput
from valhalla_cli.models import FollowupTask
from valhalla_cli.models.ladder import ACTIVE_STATUSES
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.services.ladder.config import GROUPS, LadderConfig

__all__ = ["SLA_TARGET_PCT", "SlaDay", "SlaRow", "TaskCounts", "sla", "sla_by_day", "task_counts"]


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
    from valhalla_cli.clock import business_period

    if by is not None and by not in GROUPS:
        raise BadInput(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    t = FollowupTask
    grouped = by is not None
    postgres = dialect_name(session) == "postgresql"
    group = getattr(t, by) if by is not None else literal_column("'all'")
    if by == "province" and not postgres:
        # An expression, not the bare column: otherwise SQLite groups by walking the contact
        # audit index (province first), which covers neither report: 1.2 s instead of 0.2 s
        # for a month at 5 M tasks, the overdue count a scan of the whole index.
        group = col(t.province).op("||")(literal(""))
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
    # held by dispatch until the reason clears: a fresh DNCL copy, [business]
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
                      held_dncl_not_checked=held.get(Reason.DNCL_NOT_CHECKED, 0),
                      held_no_identification=held.get(Reason.NO_IDENTIFICATION, 0))
