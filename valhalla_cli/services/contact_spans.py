"""When the contact calculus says "closed" over a period: its change points, the closed spans
of a rule set, and the arithmetic on spans (pure functions, no database).

The calculus is `contact_rules.is_open`; its answer for a rule set can change only at a zone's
local midnight (the weekday and the holiday follow the local date), at the start or end of one
of its windows, and when a zone's UTC offset changes. Between two such instants the answer is
the same, so evaluating it once per stretch gives the exact closed spans. `valhalla ladder
breaches` counts the contacts completed inside them (`services/ladder_breaches.py`).

Spans are half-open `[start, end)` pairs of UTC instants, sorted and disjoint.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from valhalla_cli.services.contact_rules import ChannelRules, Reason, decide, is_open
from valhalla_cli.tz import zone

Span = tuple[datetime, datetime]


def _local(day: date, minute: int, name: str, fold: int) -> datetime:
    extra, minute = divmod(minute, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra),
                             time(minute // 60, minute % 60, fold=fold), tzinfo=zone(name))
    return local.astimezone(UTC)


def offset_changes(name: str, start: datetime, end: datetime) -> list[datetime]:
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


def _offset_moves(tz: Any, day: date) -> bool:
    """Does the zone's UTC offset change between `day` 00:00 and two days later (local)?"""
    first = datetime.combine(day, time(0), tzinfo=tz).utcoffset()
    return first != datetime.combine(day + timedelta(days=2), time(0), tzinfo=tz).utcoffset()


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
            # The second reading of a local time differs from the first only around an offset
            # change (a window minute may fall on the next day: look two days ahead).
            folds = (0, 1) if _offset_moves(tz, day) else (0,)
            for minute in minutes:
                for fold in folds:
                    points.add(_local(day, minute, name, fold))
            day += timedelta(days=1)
        points.update(offset_changes(name, lo, hi))
    return sorted(p for p in points if lo <= p < hi)


def merge(spans: list[Span]) -> list[Span]:
    """The union of `spans` (in any order) as sorted, disjoint spans; touching spans join."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def subtract(spans: list[Span], minus: list[Span]) -> list[Span]:
    """The parts of `spans` outside every span of `minus` (both sorted and disjoint)."""
    left: list[Span] = []
    j = 0
    for start, end in spans:
        while j < len(minus) and minus[j][1] <= start:
            j += 1
        k = j
        while start < end:
            if k >= len(minus) or minus[k][0] >= end:
                left.append((start, end))
                break
            if minus[k][0] > start:
                left.append((start, minus[k][0]))
            start = max(start, minus[k][1])
            k += 1
    return left


def closed_spans(rules: ChannelRules, lo: datetime, hi: datetime,
                 cache: dict[ChannelRules, list[Span]] | None = None) -> list[Span]:
    """The maximal [start, end) spans of [lo, hi) during which the calculus says "closed".

    Closed means closed in some zone, so the spans are the union of each zone's own, which
    `cache` keeps: the policies of a report share most of their zones. With no zone at all the
    calculus fails closed: the whole period is one span."""
    if not rules.timezones:
        return [(lo, hi)]
    if len(rules.timezones) > 1:
        return merge([span for name in rules.timezones
                      for span in closed_spans(replace(rules, timezones=(name,)), lo, hi,
                                               cache)])
    if cache is not None and rules in cache:
        return cache[rules]
    spans: list[Span] = []
    points = change_points(rules, lo, hi)
    for start, end in zip(points, [*points[1:], hi], strict=True):
        if is_open(rules, start):
            continue
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    if cache is not None:
        cache[rules] = spans
    return spans


class Spans:
    """Sorted, disjoint spans with a fast "is this instant inside one" (a binary search)."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.starts = [a for a, _ in spans]

    def __contains__(self, instant: datetime) -> bool:
        i = bisect_right(self.starts, instant) - 1
        return i >= 0 and instant < self.spans[i][1]


def verdict(rules: ChannelRules, instant: datetime
            ) -> tuple[Reason, str | None, str | None] | None:
    """(reason, timezone, local_time) from the contact decision on the hours alone (a breach
    is about when the contact happened), or None when the contact was open. The zone is the
    first of the rules' zones that was closed (on a holiday, the first whose date was one)."""
    decision = decide(rules=rules, instant=instant, next_open=False)
    if decision.reason is None:
        return None
    holiday = decision.reason is Reason.HOLIDAY
    shut = next((s for s in decision.zones if (s.holiday if holiday else not s.open)), None)
    return decision.reason, shut.timezone if shut else None, shut.local_time if shut else None


def compliance_of(completed: int, breaches: int) -> float | None:
    """1 - breaches / completed, rounded to 6 places; never shown as 1.0 while there is a
    breach; None without a completed contact."""
    if not completed:
        return None
    value = round(1 - breaches / completed, 6)
    return min(value, 0.999999) if breaches else value
