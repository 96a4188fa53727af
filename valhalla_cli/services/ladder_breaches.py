"""Window compliance: completed contacts that happened when the lead could not be contacted
(SPEC 20, `valhalla ladder breaches`).

A done CALL or SMS task is a **breach** when its `completed_at` (when the operator says the
contact happened) is outside the contact window of any of its lead's zones at that instant, or
falls on a statutory holiday of its province while the policy is quiet on holidays. The verdict
is the contact calculus of `market can-contact` itself: the lead's rules are the effective
policy's `rules(channel)` (the same `EffectivePolicy.rules` that `market.can_contact` uses) and
each breach's zone, local time and reason come from `contact_rules.zone_states`, the function
`contact_rules.decide` reports.

Cost grows with the breaches, not with the history: for each policy scope (province, market
with its own policy, channel) the calculus is evaluated at every instant at which its answer can
change in the period (each zone's local midnights, window starts and ends, and UTC-offset
changes); between two such instants it cannot change. That gives the scope's closed spans (a few
a day), and the tasks completed inside them are counted and listed with index range scans on
(province, channel, completed_at, status, market, id). Every listed task is then judged again by
`zone_states` at its own instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import PROVINCES, market_key
from valhalla_cli.models import FollowupTask
from valhalla_cli.services.contact_rules import CHANNELS, ChannelRules, is_open, zone_states
from valhalla_cli.services.market import PROVINCE_WIDE, PolicyCache
from valhalla_cli.tz import zone

OUTSIDE_WINDOW = "outside_window"
HOLIDAY = "holiday"
MAX_LIMIT = 100_000


def _local(day: date, minute: int, name: str, fold: int) -> datetime:
    extra, minute = divmod(minute, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra),
                             time(minute // 60, minute % 60, fold=fold), tzinfo=zone(name))
    return local.astimezone(UTC)


def _offset_changes(name: str, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end] at which the zone's UTC offset changes (to the minute)."""
    tz = zone(name)
    found = []
    step = timedelta(hours=6)
    left = start
    while left < end:
        right = min(left + step, end)
        if left.astimezone(tz).utcoffset() != right.astimezone(tz).utcoffset():
            lo, hi = left, right
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            # Canadian zones change offset on a whole minute: snap the bisection to it.
            found.append(hi.replace(second=0, microsecond=0))
        left = right
    return found


def change_points(rules: ChannelRules, lo: datetime, hi: datetime) -> list[datetime]:
    """Every instant in (lo, hi) at which `is_open(rules, ·)` may change, plus lo: each zone's
    local midnights (the weekday and the holiday follow the local date), the starts and ends of
    its windows, and its UTC-offset changes (both readings of an ambiguous local time)."""
    points = {lo}
    for name in rules.timezones:
        tz = zone(name)
        day = lo.astimezone(tz).date() - timedelta(days=1)
        last = hi.astimezone(tz).date() + timedelta(days=1)
        while day <= last:
            minutes = {0, *(m for span in rules.spans[day.weekday()] for m in span)}
            for minute in minutes:
                for fold in (0, 1):
                    points.add(_local(day, minute, name, fold))
            day += timedelta(days=1)
        points.update(_offset_changes(name, lo, hi))
    return sorted(p for p in points if lo <= p < hi)


def closed_spans(rules: ChannelRules, lo: datetime, hi: datetime) -> list[tuple[datetime,
                                                                                  datetime]]:
    """The maximal [start, end) spans of [lo, hi) during which the calculus says "closed"."""
    spans: list[tuple[datetime, datetime]] = []
    points = change_points(rules, lo, hi)
    for start, end in zip(points, [*points[1:], hi], strict=True):
        if is_open(rules, start):
            continue
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


@dataclass(frozen=True)
class Breach:
    task_id: int
    lead_id: str
    timezone: str | None  # the first of the lead's zones that was closed (None: no zone known)
    local_time: str | None  # its local wall-clock time, with offset
    owner: str | None
    reason: str  # outside_window | holiday
    completed_at: datetime
    channel: str
    province: str
    market: str | None
    step: int


@dataclass(frozen=True)
class BreachReport:
    since: date
    until: date
    completed: int  # completed CALL and SMS contacts in the period
    breaches: int
    compliance: float | None  # 1 - breaches / completed; None without contacts
    items: list[Breach]  # the first `limit`, by completed_at
    limit: int

    @property
    def truncated(self) -> bool:
        return self.breaches > len(self.items)


def _verdict(rules: ChannelRules, instant: datetime) -> tuple[str, str | None, str | None] | None:
    """(reason, timezone, local_time) from the calculus, or None when the contact was open."""
    states = zone_states(rules, instant)
    if not states:
        return OUTSIDE_WINDOW, None, None
    holiday = next((s for s in states if s.holiday), None)
    if holiday is not None:
        return HOLIDAY, holiday.timezone, holiday.local_time
    closed = next((s for s in states if not s.open), None)
    if closed is None:
        return None
    return OUTSIDE_WINDOW, closed.timezone, closed.local_time


def compliance_of(completed: int, breaches: int) -> float | None:
    """1 - breaches / completed; never shown as 1.0 while there is a breach."""
    if not completed:
        return None
    value = round(1 - breaches / completed, 6)
    return min(value, 0.999999) if breaches else value


def _span_statements() -> dict[str, tuple[Any, Any]]:
    """The two statements run for each closed span, per kind of market filter (all tasks of
    the province, those outside the markets with a policy, those inside one): built once,
    executed with parameters, so the statement cache serves every span."""
    t = FollowupTask
    in_span = [col(t.province) == bindparam("province"), col(t.channel) == bindparam("channel"),
               col(t.completed_at) >= bindparam("lo"), col(t.completed_at) < bindparam("hi"),
               col(t.status) == "done"]
    names: Any = bindparam("names", expanding=True)
    filters: dict[str, list[Any]] = {
        "all": [], "not_in": [or_(col(t.market).is_(None), col(t.market).not_in(names))],
        "in": [col(t.market).in_(names)]}
    return {kind: (select(func.count()).where(*in_span, *extra),
                   select(col(t.id), col(t.completed_at)).where(*in_span, *extra)
                   .order_by(col(t.completed_at), col(t.id)).limit(bindparam("n")))
            for kind, extra in filters.items()}


def report(session: Session, *, at: datetime, since: date | None, until: date | None,
           business_timezone: str, limit: int = 1000) -> BreachReport:
    """Window breaches among the contacts completed in [since, until] (business dates,
    inclusive; default the 30 ending today)."""
    from valhalla_cli.clock import business_period

    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"--limit must be between 1 and {MAX_LIMIT}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    t = FollowupTask
    done = [col(t.status) == "done", col(t.completed_at) >= lo, col(t.completed_at) < hi]
    completed = session.scalar(select(func.count()).where(
        col(t.province).in_(PROVINCES), col(t.channel).in_(CHANNELS), *done)) or 0
    cache = PolicyCache(session)
    own_keys: dict[str, set[str]] = {}  # province -> market keys with a policy of their own
    for province, key in cache.rows:
        if key != PROVINCE_WIDE:
            own_keys.setdefault(province, set()).add(key)
    breaches = 0
    candidates: list[tuple[datetime, int, ChannelRules]] = []
    spans_cache: dict[ChannelRules, list[tuple[datetime, datetime]]] = {}
    statements = _span_statements()
    conn = session.connection()
    for province in PROVINCES:
        # (market whose policy applies, which tasks: None = all, or ("in"/"not_in", names))
        scopes: list[tuple[str | None, tuple[str, list[str]] | None]] = [(None, None)]
        if province in own_keys:
            # Tasks keep the market's name as written; the policy is found by its identity
            # (market_key), so group the period's names of this province by key.
            names: dict[str, list[str]] = {}
            for (name,) in session.execute(
                    select(col(t.market)).distinct().where(
                        col(t.province) == province, col(t.channel).in_(CHANNELS), *done,
                        col(t.market).is_not(None))):
                if name is not None and market_key(name) in own_keys[province]:
                    names.setdefault(market_key(name), []).append(name)
            own_names = sorted(n for group in names.values() for n in group)
            if own_names:
                scopes = [(None, ("not_in", own_names))]
                scopes += [(group[0], ("in", group)) for _, group in sorted(names.items())]
        for channel in CHANNELS:
            for market, which in scopes:
                rules = cache.rules(province, market, channel)
                if rules not in spans_cache:
                    spans_cache[rules] = closed_spans(rules, lo, hi)
                kind = which[0] if which else "all"
                count, first = statements[kind]
                params: dict[str, Any] = {"province": province, "channel": channel}
                if which:
                    params["names"] = which[1]
                listed = 0
                # One index range scan per closed span, in time order: a count, and the first
                # `limit` of the scope (index-only, in index order).
                for a, b in spans_cache[rules]:
                    span = {**params, "lo": a, "hi": b}
                    found = int(conn.execute(count, span).scalar() or 0)
                    if not found:
                        continue
                    breaches += found
                    if listed < limit:
                        rows = conn.execute(first, {**span, "n": limit - listed}).all()
                        candidates += [(at_, task_id, rules) for task_id, at_ in rows]
                        listed += len(rows)
    candidates.sort(key=lambda c: (c[0], c[1]))
    chosen = {task_id: rules for _, task_id, rules in candidates[:limit]}
    items: list[Breach] = []
    ids = list(chosen)
    for i in range(0, len(ids), 500):
        for row in session.execute(
                select(col(t.id), col(t.lead_id), col(t.owner), col(t.completed_at),
                       col(t.channel), col(t.province), col(t.market), col(t.step))
                .where(col(t.id).in_(ids[i:i + 500]))):
            verdict = _verdict(chosen[row.id], row.completed_at)
            if verdict is None:  # pragma: no cover - the spans come from the calculus
                breaches -= 1
                continue
            reason, tz_name, local_time = verdict
            items.append(Breach(task_id=row.id, lead_id=row.lead_id, timezone=tz_name,
                                local_time=local_time, owner=row.owner, reason=reason,
                                completed_at=row.completed_at, channel=row.channel,
                                province=row.province, market=row.market, step=row.step))
    items.sort(key=lambda b: (b.completed_at, b.task_id))
    return BreachReport(since=since, until=until, completed=int(completed),
                        breaches=int(breaches), compliance=compliance_of(int(completed),
                                                                          int(breaches)),
                        items=items[:limit], limit=limit)
