"""The closed spans of the contact calculus (pure functions, no database): they agree with
`is_open` minute by minute, across clock changes, holidays and several zones; the arithmetic on
spans; the verdict and the compliance figure of a breach report."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from conftest import REPO

from valhalla_cli.services.contact_rules import ChannelRules, Reason, is_open, seeded_windows
from valhalla_cli.services.contact_spans import (
    Spans,
    change_points,
    closed_spans,
    compliance_of,
    merge,
    offset_changes,
    subtract,
    verdict,
)
from valhalla_cli.tz import zone

BASE = datetime(2027, 6, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def rules_of(province: str, *zones: str, quiet: bool = True) -> ChannelRules:
    return ChannelRules.build(province, zones, seeded_windows(), "CALL", quiet)


def inside(spans: list[tuple[datetime, datetime]], instant: datetime) -> bool:
    return any(a <= instant < b for a, b in spans)


@pytest.mark.parametrize("province, zones, start", [
    ("ON", ("America/Toronto", "America/Winnipeg", "America/Atikokan"),
     datetime(2027, 3, 10, tzinfo=UTC)),  # the spring clock change and a weekend
    ("NL", ("America/St_Johns", "America/Goose_Bay"), datetime(2027, 10, 29, tzinfo=UTC)),
    ("ON", ("America/Toronto",), datetime(2027, 2, 12, tzinfo=UTC)),  # Family Day
    ("BC", ("America/Vancouver", "America/Edmonton"),
     datetime(2027, 11, 4, tzinfo=UTC)),  # the autumn clock change (an hour read twice)
])
def test_closed_spans_agree_with_is_open_at_every_minute(province, zones, start):
    rules = rules_of(province, *zones)
    end = start + timedelta(days=6)
    spans = closed_spans(rules, start, end)
    assert spans == merge(spans)  # sorted, disjoint, maximal
    instant, index = start, 0
    while instant < end:
        while index < len(spans) and spans[index][1] <= instant:
            index += 1
        within = index < len(spans) and spans[index][0] <= instant < spans[index][1]
        assert within == (not is_open(rules, instant)), instant
        instant += timedelta(minutes=1)


def test_several_zones_close_when_any_one_does_and_the_cache_keeps_each_zones_spans():
    start, end = datetime(2027, 6, 14, tzinfo=UTC), datetime(2027, 6, 21, tzinfo=UTC)
    toronto, winnipeg = rules_of("ON", "America/Toronto"), rules_of("ON", "America/Winnipeg")
    cache: dict = {}
    both = closed_spans(rules_of("ON", "America/Toronto", "America/Winnipeg"), start, end, cache)
    assert both == merge([*closed_spans(toronto, start, end),
                          *closed_spans(winnipeg, start, end)])
    assert set(cache) == {toronto, winnipeg}
    # Winnipeg opens an hour after Toronto: at 09:30 Toronto on a weekday the pair is closed,
    # Toronto alone is open.
    assert inside(both, datetime(2027, 6, 15, 13, 30, tzinfo=UTC))
    assert not inside(closed_spans(toronto, start, end), datetime(2027, 6, 15, 13, 30, tzinfo=UTC))


def test_without_a_zone_the_whole_period_is_closed():
    rules = ChannelRules.build("ON", (), seeded_windows(), "CALL", True)
    assert closed_spans(rules, at(0), at(48)) == [(at(0), at(48))]


def test_a_policy_with_no_window_is_closed_all_period_and_one_always_open_never():
    never = ChannelRules.build("ON", ("America/Toronto",), {}, "CALL", False)
    assert closed_spans(never, at(0), at(72)) == [(at(0), at(72))]
    always = {"CALL": {day: [["00:00", "24:00"]]
                       for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    open_rules = ChannelRules.build("ON", ("America/Toronto",), always, "CALL", False)
    assert closed_spans(open_rules, at(0), at(72)) == []


def test_offset_changes_are_found_to_the_minute():
    tz = zone("America/Toronto")
    lo, hi = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    changes = offset_changes("America/Toronto", lo, hi)
    hourly = [lo + timedelta(hours=h) for h in range(int((hi - lo) / timedelta(hours=1)))]
    expected = [b for a, b in pairwise(hourly)
                if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()]
    assert changes == expected and changes  # Toronto still changes its clocks in 2027
    for change in changes:
        before = (change - timedelta(minutes=1)).astimezone(tz).utcoffset()
        assert change.astimezone(tz).utcoffset() != before
    assert offset_changes("America/Regina", lo, hi) == []  # no clock change in Saskatchewan


def test_change_points_start_at_lo_and_stay_inside_the_period():
    rules = rules_of("ON", "America/Toronto")
    points = change_points(rules, at(5), at(53))
    assert points[0] == at(5) and all(at(5) <= p < at(53) for p in points)
    assert points == sorted(set(points))
    # A local midnight and the window's 09:00 start (13:00 UTC in June) are change points.
    assert datetime(2027, 6, 2, 4, 0, tzinfo=UTC) in points
    assert datetime(2027, 6, 2, 13, 0, tzinfo=UTC) in points


def test_merge_joins_overlapping_and_touching_spans():
    assert merge([(at(5), at(6)), (at(0), at(2)), (at(1), at(3)), (at(3), at(4))]) == [
        (at(0), at(4)), (at(5), at(6))]
    assert merge([]) == []


def test_subtracting_spans_leaves_exactly_the_instants_outside():
    spans = [(at(0), at(5)), (at(8), at(12)), (at(20), at(24))]
    minus = [(at(1), at(2)), (at(4), at(9)), (at(11), at(12)), (at(22), at(30))]
    left = subtract(spans, minus)
    assert left == [(at(0), at(1)), (at(2), at(4)), (at(9), at(11)), (at(20), at(22))]
    for minute in range(0, 30 * 60, 7):
        instant = BASE + timedelta(minutes=minute)
        assert inside(left, instant) == (inside(spans, instant) and not inside(minus, instant))
    assert subtract(spans, []) == spans and subtract([], minus) == []


def test_spans_contain_their_start_and_not_their_end():
    spans = Spans([(at(1), at(2)), (at(4), at(6))])
    assert at(1) in spans and at(1.5) in spans and at(5.99) in spans
    assert at(0) not in spans and at(2) not in spans and at(3) not in spans
    assert at(6) not in spans and at(100) not in spans
    assert at(0) not in Spans([])


def test_the_verdict_names_the_first_closed_zone_and_its_local_time():
    rules = rules_of("ON", "America/Toronto", "America/Winnipeg")
    # Tuesday 09:30 Toronto, 08:30 Winnipeg: Winnipeg is closed.
    assert verdict(rules, datetime(2027, 6, 15, 13, 30, tzinfo=UTC)) == (
        Reason.OUTSIDE_WINDOW, "America/Winnipeg", "2027-06-15T08:30:00-05:00")
    # 21:45 Toronto: both closed, Toronto is named first.
    assert verdict(rules, datetime(2027, 6, 16, 1, 45, tzinfo=UTC)) == (
        Reason.OUTSIDE_WINDOW, "America/Toronto", "2027-06-15T21:45:00-04:00")
    # Tuesday 11:00 Toronto: open everywhere.
    assert verdict(rules, datetime(2027, 6, 15, 15, 0, tzinfo=UTC)) is None
    # Family Day, 10:15 Toronto: a holiday while the policy is quiet on holidays; not otherwise.
    family_day = datetime(2027, 2, 15, 15, 15, tzinfo=UTC)
    assert verdict(rules_of("ON", "America/Toronto"), family_day) == (
        Reason.HOLIDAY, "America/Toronto", "2027-02-15T10:15:00-05:00")
    assert verdict(rules_of("ON", "America/Toronto", quiet=False), family_day) is None


def test_compliance_is_none_without_contacts_and_never_one_with_a_breach():
    assert compliance_of(0, 0) is None
    assert compliance_of(4, 0) == 1.0
    assert compliance_of(4, 2) == 0.5
    assert compliance_of(10_000_000, 1) == 0.999999  # 0.9999999 would round to 1.0
    assert compliance_of(3, 1) == 0.666667


def test_the_span_calculus_loads_no_database_library():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, valhalla_cli.services.contact_spans; "
         "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'valhalla_cli.models', "
         "'valhalla_cli.db') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    assert proc.stdout.strip() == "[]"
