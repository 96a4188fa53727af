"""Window compliance from the database: completed contacts that happened when the lead could
not be contacted (`valhalla ladder breaches`, a figure of the scorecard). The span calculus it
counts with is `services/contact_spans.py` (pure); this module holds the statements, the
scanner and the report.

A done CALL or SMS task is a **breach** when its `completed_at` (when the operator says the
contact happened) is outside the contact window of any of its lead's zones at that instant, or
falls on a statutory holiday of its province while the policy is quiet on holidays. The verdict
is the contact calculus of `market can-contact` itself: the scope's rules are the effective
policy's `rules(channel)` (the same `EffectivePolicy.rules` that `market.can_contact` uses), in
the lead's zones as `contact_facts.lead_contact_zones` gives them (a confirmed zone alone, else
the policy's zones and those of the number's area code), and each breach's zone, local time and
reason come from `contact_rules.decide`, the contact decision itself, on the hours alone. The
lead's zones are today's: the registry keeps no history of a lead's number.

Cost grows with the period's contacts, not with the history or the lead registry. The period's
completed contacts are first counted per (province, channel); a scope with none is not looked
at (no spans are computed for it, no statement is run), and a period with none costs that one
count. For each remaining policy scope (province, market with its own policy, channel) the
closed spans come from `contact_spans.closed_spans` (a few a day), and the tasks completed
inside them are counted and listed with index range scans on (province, channel, completed_at,
status, market, id). Leads whose number adds a zone (an area code of another zone: the tasks
inside the closed spans of the policy's zones plus every such zone in use, a superset of each
lead's spans) and leads with a confirmed zone (read from the lead side: zones are confirmed one
lead at a time) are then judged one by one in their own zones, and the counts corrected. Every
listed task is judged again by the contact decision at its own instant.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, or_, select, text, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import PROVINCES, market_key
from valhalla_cli.models import FollowupTask, Lead
from valhalla_cli.models.types import UTCDateTime
from valhalla_cli.phones import AREA_CODES
from valhalla_cli.services.contact_facts import lead_contact_zones
from valhalla_cli.services.contact_rules import CHANNELS, ChannelRules, Reason
from valhalla_cli.services.contact_spans import (
    Span,
    Spans,
    closed_spans,
    compliance_of,
    subtract,
    verdict,
)
from valhalla_cli.services.policies import PROVINCE_WIDE, PolicyCache

MAX_LIMIT = 100_000


@dataclass(frozen=True)
class Breach:
    task_id: int
    lead_id: str
    timezone: str | None  # the first of the lead's zones that was closed (None: no zone known)
    local_time: str | None  # its local wall-clock time, with offset
    owner: str | None
    reason: Reason  # outside_window | holiday
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


def _scope_filters() -> tuple[list[Any], dict[str, list[Any]]]:
    """The conditions of one scope's done tasks, and of each kind of market filter (all tasks
    of the province, those outside the markets with a policy, those inside one)."""
    t = FollowupTask
    scope = [col(t.province) == bindparam("province"), col(t.channel) == bindparam("channel"),
             col(t.status) == "done"]
    names: Any = bindparam("names", expanding=True)
    return scope, {"all": [], "in": [col(t.market).in_(names)],
                   "not_in": [or_(col(t.market).is_(None), col(t.market).not_in(names))]}


def _listing_statements() -> dict[str, Any]:
    """The first `n` tasks of one closed span in time order, per kind of market filter; built
    once, executed with parameters, so the statement cache serves every span."""
    t = FollowupTask
    scope, filters = _scope_filters()
    return {kind: select(col(t.id), col(t.completed_at))
            .where(*scope, *extra, col(t.completed_at) >= bindparam("lo"),
                   col(t.completed_at) < bindparam("hi"))
            .order_by(col(t.completed_at), col(t.id)).limit(bindparam("n"))
            for kind, extra in filters.items()}


@lru_cache(maxsize=64)
def _in_spans(kind: str, size: int, what: str) -> Any:
    """One statement over the scope's done tasks inside up to `size` spans (a CTE of rows, each
    an index range scan; `_span_params` fills it): the count per span (`what="count"`), or the
    tasks of leads whose numbers start with `prefixes` and have no confirmed zone (`"special"`).
    Sizes are powers of two, so a handful of statements serve every report. SQLite's form;
    PostgreSQL's is `_unnested_spans`."""
    t, lead = FollowupTask, Lead
    scope, filters = _scope_filters()
    # A UNION ALL of parameter rows rather than VALUES: SQLAlchemy caches its compiled form.
    cte = union_all(*(select(bindparam(f"i{k}", type_=Integer).label("i"),
                             bindparam(f"lo{k}", type_=UTCDateTime).label("lo"),
                             bindparam(f"hi{k}", type_=UTCDateTime).label("hi"))
                      for k in range(size))).cte("spans")
    inside = and_(col(t.completed_at) >= cte.c.lo, col(t.completed_at) < cte.c.hi, *scope,
                  *filters[kind])
    if what == "count":
        # A correlated count per span row: both planners then scan the index range of each
        # span (PostgreSQL, given a join, read the scope's whole history instead).
        return select(cte.c.i, select(func.count()).where(inside).scalar_subquery())
    prefixes: Any = bindparam("prefixes", expanding=True)
    special = [col(lead.timezone).is_(None), func.substr(col(lead.phone), 1, 5).in_(prefixes)]
    return (select(col(t.id), col(t.completed_at)).select_from(cte).join(t, inside)
            .join(lead, col(lead.lead_id) == col(t.lead_id)).where(*special))


@lru_cache(maxsize=8)
def _unnested_spans(kind: str, what: str) -> Any:
    """PostgreSQL's form of `_in_spans`: the spans arrive as arrays (`idx`, `los`, `his`) and
    are unnested into rows. For the count, a correlated count per span row; for the tasks of
    leads with a zone-widening number (`prefixes`, no confirmed zone), a LATERAL subquery per
    span behind OFFSET 0, which the planner may not flatten into a join (flattened, it read the
    scope's whole history: 9 s at 5 M tasks). Either way each span is an index-only range scan
    of the contact-audit index, and each task's lead one probe of its index.

    A fixed handful of parameters whatever the number of spans: SQLAlchemy compiles each of the
    six statements once per process, psycopg parses each once (it caches only statements with
    at most 50 parameters: the OR of one range per span it replaces was parsed again on every
    execution), and the planner sees one short statement."""
    from sqlalchemy import DateTime, String, any_, literal_column, true
    from sqlalchemy.dialects.postgresql import ARRAY

    t, lead = FollowupTask, Lead
    scope, filters = _scope_filters()
    instants = ARRAY(DateTime(timezone=True))
    spans = (func.unnest(bindparam("idx", type_=ARRAY(Integer)), bindparam("los", type_=instants),
                         bindparam("his", type_=instants))
             .table_valued("i", "lo", "hi").render_derived(name="spans"))
    inside = [col(t.completed_at) >= spans.c.lo, col(t.completed_at) < spans.c.hi, *scope,
              *filters[kind]]
    if what == "count":
        return select(spans.c.i, select(func.count()).where(*inside).scalar_subquery())
    tasks = (select(col(t.id), col(t.completed_at), col(t.lead_id)).where(*inside)
             .offset(literal_column("0")).lateral("tasks"))
    prefixes: Any = bindparam("prefixes", type_=ARRAY(String))
    return (select(tasks.c.id, tasks.c.completed_at).select_from(spans).join(tasks, true())
            .join(lead, col(lead.lead_id) == tasks.c.lead_id)
            .where(col(lead.timezone).is_(None),
                   func.substr(col(lead.phone), 1, 5) == any_(prefixes)))


def _span_arrays(spans: list[Span]) -> dict[str, Any]:
    """`_unnested_spans`' parameters: row `i` is `spans[i]`."""
    return {"idx": list(range(len(spans))), "los": [a for a, _ in spans],
            "his": [b for _, b in spans]}


MAX_SPANS_PER_STATEMENT = 256  # SQLite allows 500 terms in a compound SELECT


def _span_params(spans: list[Span]
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(statement size, parameters) for each run of up to MAX_SPANS_PER_STATEMENT of `spans`;
    row `i` is `spans[i]`, and the unused rows are empty spans."""
    for first in range(0, len(spans), MAX_SPANS_PER_STATEMENT):
        run = spans[first:first + MAX_SPANS_PER_STATEMENT]
        size = 8
        while size < len(run):
            size *= 2
        empty = (run[0][0], run[0][0])
        params: dict[str, Any] = {}
        for k in range(size):
            params[f"i{k}"] = first + k
            params[f"lo{k}"], params[f"hi{k}"] = run[k] if k < len(run) else empty
        yield size, params


@lru_cache(maxsize=1)
def _area_code_probes() -> Any:
    # Text, not a construct: compiling 728 probes took 0.5 s in every new process. The literals
    # are the project's own province codes and area-code digits, never user input. One row per
    # (province, area code) with a correlated probe in the select list, which both planners run
    # as one index probe per row: written as 728 EXISTS columns instead, PostgreSQL spent 53 ms
    # planning it on every run.
    rows = ", ".join(f"('{p}', '{code}', '+1{code}', '+1{int(code) + 1}')"
                     for p in PROVINCES for code in sorted(AREA_CODES))
    return text("SELECT p.column1, p.column2, (SELECT 1 FROM lead WHERE province = p.column1 "
                "AND phone >= p.column3 AND phone < p.column4 LIMIT 1) "
                f"FROM (VALUES {rows}) AS p")


def _area_codes_in_use(session: Session) -> dict[str, list[str]]:
    """Per province, the geographic area codes of at least one of its leads' numbers: one probe
    of ix_lead_province_phone each, all in one statement, so the cost does not grow with the
    lead registry."""
    in_use: dict[str, list[str]] = {}
    for province, code, present in session.connection().execute(_area_code_probes()):
        if present:
            in_use.setdefault(province, []).append(code)
    return in_use


def _zones_of(rules: ChannelRules, phone: str | None, confirmed: str | None) -> ChannelRules:
    """The scope's rules in the zones of one lead: `lead_contact_zones`, the rule that
    `market can-contact` and `ladder dispatch` apply."""
    zones = tuple(z.timezone for z in lead_contact_zones(
        policy_zones=rules.timezones, phone=phone, confirmed_timezone=confirmed))
    return rules if zones == rules.timezones else replace(rules, timezones=zones)


@dataclass
class _Tally:
    """The breaches counted so far, and the earliest `limit` candidates for the listing:
    a max-heap of (-instant, -id, id, instant, rules), so memory stays at `limit`."""

    limit: int
    breaches: int = 0
    heap: list[tuple[float, int, int, datetime, ChannelRules]] = field(default_factory=list)

    def offer(self, at_: datetime, task_id: int, rules: ChannelRules) -> None:
        entry = (-at_.timestamp(), -task_id, task_id, at_, rules)
        if len(self.heap) < self.limit:
            heapq.heappush(self.heap, entry)
        elif entry > self.heap[0]:
            heapq.heapreplace(self.heap, entry)

    def full_before(self, instant: datetime) -> bool:
        """Are `limit` candidates already earlier than `instant`?"""
        return len(self.heap) >= self.limit and -self.heap[0][0] < instant.timestamp()

    def candidates(self) -> list[tuple[datetime, int, ChannelRules]]:
        return sorted(((at_, task_id, rules) for _, _, task_id, at_, rules in self.heap),
                      key=lambda c: (c[0], c[1]))


class _Scanner:
    """Counts and lists the breaches of one scope (province, channel, market filter)."""

    def __init__(self, session: Session, lo: datetime, hi: datetime, tally: _Tally,
                 area_codes: dict[str, list[str]]) -> None:
        self.conn = session.connection()
        self.lo, self.hi, self.tally = lo, hi, tally
        self.area_codes = area_codes
        self.listing = _listing_statements()
        self.spans: dict[ChannelRules, Spans] = {}
        self.zone_spans: dict[ChannelRules, list[Span]] = {}
        self.listable: list[_Listable] = []

    def closed(self, rules: ChannelRules) -> Spans:
        if rules not in self.spans:
            self.spans[rules] = Spans(closed_spans(rules, self.lo, self.hi, self.zone_spans))
        return self.spans[rules]

    def _rows_in_spans(self, kind: str, what: str, spans: list[Span],
                  params: dict[str, Any]) -> Iterator[Any]:
        """The rows of `_in_spans` (SQLite) or `_unnested_spans` (PostgreSQL) over `spans`."""
        if self.conn.dialect.name != "sqlite":
            yield from self.conn.execute(_unnested_spans(kind, what),
                                         {**params, **_span_arrays(spans)})
            return
        for size, rows in _span_params(spans):
            yield from self.conn.execute(_in_spans(kind, size, what), {**params, **rows})

    def scan(self, rules: ChannelRules, kind: str, params: dict[str, Any],
             confirmed: dict[int, datetime]) -> None:
        """Breaches of one scope: its tasks in the closed spans of the policy's zones, plus,
        for the area codes whose zones a lead's number adds (which can only close more), those
        leads' tasks in the spans closed only in the added zones. The tasks of leads with a
        confirmed zone (`confirmed`: id -> completed_at, inside the policy's closed spans) are
        left out of the listing here: `report` judges them one by one."""
        policy = self.closed(rules)
        widenings: dict[ChannelRules, list[str]] = {}  # widened rules -> number prefixes
        for code in self.area_codes.get(params["province"], ()):
            widened = _zones_of(rules, f"+1{code}0000000", None)
            if widened is not rules:
                widenings.setdefault(widened, []).append(f"+1{code}")
        for widened, prefixes in widenings.items():
            extra = subtract(self.closed(widened).spans, policy.spans)
            if not extra:
                continue
            for task_id, at_ in self._rows_in_spans(kind, "special", extra,
                                                    {**params, "prefixes": prefixes}):
                self.tally.breaches += 1
                self.tally.offer(at_, task_id, rules)
        if not policy.spans:
            return
        skipped = sorted(confirmed.values())
        counts = list(self._rows_in_spans(kind, "count", policy.spans, params))
        for i, found in counts:
            if not found or i >= len(policy.spans):  # no breach, or a padding row
                continue
            a, b = policy.spans[i]
            self.tally.breaches += int(found)
            self.listable.append(_Listable(a, b, self.listing[kind],
                                           {**params, "lo": a, "hi": b}, rules, skipped,
                                           set(confirmed)))

    def list_first(self) -> None:
        """Add the tasks of the closed spans to the candidates, spans in time order across all
        scopes, until no later span can hold one of the first `limit`: a few spans' rows
        rather than `limit` rows of every scope."""
        limit = self.tally.limit
        for item in sorted(self.listable, key=lambda x: x.start):
            if self.tally.full_before(item.start):
                break
            # room for the tasks of this span that the listing skips
            n = (limit + bisect_left(item.skipped, item.end)
                 - bisect_left(item.skipped, item.start))
            for task_id, at_ in self.conn.execute(item.statement, {**item.params, "n": n}):
                if task_id not in item.skip_ids:
                    self.tally.offer(at_, task_id, item.rules)


@dataclass(frozen=True)
class _Listable:
    """A closed span with breaches, to list from: its statement, and what the listing skips
    (the tasks the scope judges in their lead's own zones)."""

    start: datetime
    end: datetime
    statement: Any
    params: dict[str, Any]
    rules: ChannelRules
    skipped: list[datetime]
    skip_ids: set[int]


def _confirmed_zone_tasks(session: Session, lo: datetime, hi: datetime
                          ) -> list[tuple[int, datetime, str, str | None, str, str]]:
    """(id, completed_at, province, market, channel, zone) of the period's contacts whose lead
    has a confirmed zone: read from the lead side (ix_lead_timezone, then each lead's period by
    ix_followup_task_lead_id_completed_at), since an operator confirms zones one lead at a
    time."""
    t, lead = FollowupTask, Lead
    zones = dict(session.execute(select(col(lead.lead_id), col(lead.timezone))
                                 .where(col(lead.timezone).is_not(None))).all())
    ids = sorted(zones)
    found: list[Any] = []
    for i in range(0, len(ids), 500):
        found += [(task_id, at_, province, market, channel, zones[lead_id])
                  for task_id, lead_id, at_, province, market, channel in session.execute(
                      select(col(t.id), col(t.lead_id), col(t.completed_at), col(t.province),
                             col(t.market), col(t.channel))
                      .where(col(t.lead_id).in_(ids[i:i + 500]), col(t.status) == "done",
                             col(t.completed_at) >= lo, col(t.completed_at) < hi,
                             col(t.province).in_(PROVINCES), col(t.channel).in_(CHANNELS)))]
    return found


def report(session: Session, *, at: datetime, since: date | None, until: date | None,
           business_timezone: str, limit: int = 1000) -> BreachReport:
    """Window breaches among the contacts completed in [since, until] (business dates,
    inclusive; default the 30 ending today), each judged in its lead's zones."""
    from valhalla_cli.clock import business_period

    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"--limit must be between 1 and {MAX_LIMIT}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    t = FollowupTask
    done = [col(t.status) == "done", col(t.completed_at) >= lo, col(t.completed_at) < hi]
    # Core, not ORM: index-only on ix_followup_task_contact_audit. The ORM's criterion that
    # hides unfinished imports would read every row, and an import never writes a done task.
    per_scope: dict[tuple[str, str], int] = {
        (province, channel): int(count) for province, channel, count in
        session.connection().execute(
            select(col(t.province), col(t.channel), func.count())
            .where(col(t.province).in_(PROVINCES), col(t.channel).in_(CHANNELS), *done)
            .group_by(col(t.province), col(t.channel)))}
    completed = sum(per_scope.values())
    if not completed:
        # Nothing was completed, so nothing can be a breach: no span, no further statement.
        return BreachReport(since=since, until=until, completed=0, breaches=0,
                            compliance=None, items=[], limit=limit)
    cache = PolicyCache(session)
    own_keys: dict[str, set[str]] = {}  # province -> market keys with a policy of their own
    for province, key in cache.rows:
        if key != PROVINCE_WIDE:
            own_keys.setdefault(province, set()).add(key)

    def policy_market(province: str, market: str | None) -> str | None:
        return market if market and market_key(market) in own_keys.get(province, ()) else None

    tally = _Tally(limit)
    scanner = _Scanner(session, lo, hi, tally, _area_codes_in_use(session))
    confirmed = _confirmed_zone_tasks(session, lo, hi)
    confirmed_by_scope: dict[tuple[str, str, str | None], dict[int, datetime]] = {}
    for task_id, at_, province, market, channel, zone_name in confirmed:
        scope_market = policy_market(province, market)
        rules = cache.rules(province, scope_market, channel)
        # the scope's scan counts this task by the policy's zones: undo that, judge it in its own
        if at_ in scanner.closed(rules):
            tally.breaches -= 1
            confirmed_by_scope.setdefault((province, channel, scope_market), {})[task_id] = at_
        if at_ in scanner.closed(_zones_of(rules, None, zone_name)):
            tally.breaches += 1
            tally.offer(at_, task_id, rules)
    for province in PROVINCES:
        channels = [c for c in CHANNELS if per_scope.get((province, c))]
        if not channels:  # no contact completed here: no breach to look for
            continue
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
        for channel in channels:
            for market, which in scopes:
                params: dict[str, Any] = {"province": province, "channel": channel}
                if which:
                    params["names"] = which[1]
                scanner.scan(cache.rules(province, market, channel),
                             which[0] if which else "all", params,
                             confirmed_by_scope.get((province, channel, market), {}))
    scanner.list_first()
    chosen = {task_id: rules for _, task_id, rules in tally.candidates()}
    breaches = tally.breaches
    items: list[Breach] = []
    ids = list(chosen)
    row: Any
    for i in range(0, len(ids), 500):
        for row in session.execute(
                select(col(t.id), col(t.lead_id), col(t.owner), col(t.completed_at),
                       col(t.channel), col(t.province), col(t.market), col(t.step),
                       col(Lead.phone), col(Lead.timezone).label("confirmed"))
                .outerjoin(Lead, col(Lead.lead_id) == col(t.lead_id))
                .where(col(t.id).in_(ids[i:i + 500]))):
            # the candidates carry their scope's rules; the verdict is in the lead's zones
            own = _zones_of(chosen[row.id], row.phone, row.confirmed)
            found = verdict(own, row.completed_at)
            if found is None:  # pragma: no cover - the spans come from the calculus
                breaches -= 1
                continue
            reason, tz_name, local_time = found
            items.append(Breach(task_id=row.id, lead_id=row.lead_id, timezone=tz_name,
                                local_time=local_time, owner=row.owner, reason=reason,
                                completed_at=row.completed_at, channel=row.channel,
                                province=row.province, market=row.market, step=row.step))
    items.sort(key=lambda b: (b.completed_at, b.task_id))
    return BreachReport(since=since, until=until, completed=int(completed),
                        breaches=int(breaches), compliance=compliance_of(int(completed),
                                                                          int(breaches)),
                        items=items[:limit], limit=limit)
