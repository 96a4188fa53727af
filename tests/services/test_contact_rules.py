"""The contact-window calculus (pure functions): zones, holidays, DST, half-hour zones."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from valhalla_cli.errors import BadInput
from valhalla_cli.services.contact_rules import (
    ChannelRules,
    decide,
    is_open,
    next_open_at,
    parse_steps,
    parse_window,
    planned_at,
    seeded_windows,
    window_problems,
    windows_from_specs,
    zone_states,
)

ZONES = {
    "BC": ["America/Vancouver", "America/Edmonton", "America/Creston", "America/Dawson_Creek",
           "America/Fort_Nelson"],
    "NL": ["America/St_Johns", "America/Goose_Bay"],
    "NS": ["America/Halifax"],
    "ON": ["America/Toronto", "America/Winnipeg", "America/Atikokan"],
    "QC": ["America/Toronto", "America/Blanc-Sablon"],
}


def rules(province: str, channel: str = "CALL", windows=None, holidays: bool = True):
    return ChannelRules.build(province, ZONES[province], windows or seeded_windows(), channel,
                              holidays)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def allowed(province: str, instant: str, **kw) -> tuple[bool, str | None, datetime | None]:
    d = decide(enabled=True, channel_allowed=True, min_lead_score=0, lead_score=None,
               suppressed=False, rules=rules(province, **kw), instant=utc(instant))
    return d.allowed, d.reason, d.next_open_at


def test_zones_that_disagree_deny_and_next_open_is_when_the_last_zone_opens():
    # Friday 2027-01-15 19:30 in Vancouver is 20:30 in Edmonton (East Kootenay): closed there.
    ok, reason, nxt = allowed("BC", "2027-01-16T02:30:00Z")
    assert (ok, reason) == (False, "outside_window")
    states = {s.timezone: s.open for s in zone_states(rules("BC"), utc("2027-01-16T02:30:00Z"))}
    assert states["America/Vancouver"] is True and states["America/Edmonton"] is False
    # Saturday: Edmonton opens at 10:00 MT (09:00 PT), Vancouver only at 10:00 PT = 17:00Z.
    assert nxt == utc("2027-01-16T17:00:00Z")
    assert allowed("BC", "2027-01-16T17:00:00Z")[0] is True
    assert allowed("BC", "2027-01-16T16:59:59Z")[0] is False


def test_half_hour_zone_newfoundland():
    # St. John's is UTC-3:30 in January, Goose Bay UTC-4: 09:00 NST = 12:30Z, 09:00 AST = 13:00Z.
    ok, reason, nxt = allowed("NL", "2027-01-15T12:45:00Z")
    assert (ok, reason) == (False, "outside_window")
    assert nxt == utc("2027-01-15T13:00:00Z")
    # The evening closes at 20:00 in St. John's = 23:30Z, half an hour before Goose Bay.
    assert allowed("NL", "2027-01-15T23:29:59Z")[0] is True
    ok, _, nxt = allowed("NL", "2027-01-15T23:30:00Z")
    assert ok is False
    assert nxt == utc("2027-01-16T14:00:00Z")  # Saturday 10:00 in Goose Bay (10:30 NST)
    st_johns = zone_states(rules("NL"), utc("2027-01-15T23:30:00Z"))[0]
    assert st_johns.local_time == "2027-01-15T20:00:00-03:30"


def test_weekend_window_is_ten_to_five():
    assert allowed("NS", "2027-01-16T13:30:00Z")[:2] == (False, "outside_window")  # Sat 09:30
    assert allowed("NS", "2027-01-16T14:00:00Z")[0] is True  # Sat 10:00 AST
    assert allowed("NS", "2027-01-16T20:59:00Z")[0] is True  # 16:59
    ok, _, nxt = allowed("NS", "2027-01-16T21:00:00Z")  # 17:00: closed until Sunday 10:00
    assert ok is False and nxt == utc("2027-01-17T14:00:00Z")


def test_exact_end_minute_is_closed_and_start_minute_is_open():
    assert allowed("NS", "2027-01-15T23:59:59Z")[0] is True  # Fri 19:59:59 AST
    assert allowed("NS", "2027-01-16T00:00:00Z")[0] is False  # 20:00:00
    assert allowed("NS", "2027-01-15T13:00:00Z")[0] is True  # 09:00:00
    assert allowed("NS", "2027-01-15T12:59:59Z")[0] is False  # 08:59:59


def test_provincial_holiday_that_another_province_does_not_observe():
    family_day = "2027-02-15T16:00:00Z"  # Monday 11:00 in Toronto
    ok, reason, nxt = allowed("ON", family_day)
    assert (ok, reason) == (False, "holiday")
    assert nxt == utc("2027-02-16T14:00:00Z")  # Tuesday 09:00 EST (Winnipeg is UTC-5 too)
    assert allowed("QC", family_day)[0] is True
    st_jean = "2027-06-24T15:00:00Z"  # Thursday 11:00 EDT
    assert allowed("QC", st_jean)[:2] == (False, "holiday")
    assert allowed("ON", st_jean)[0] is True
    assert allowed("ON", family_day, holidays=False)[0] is True


def test_day_when_clocks_change():
    # Halifax springs forward on Sunday 2027-03-14: 10:00 ADT is 13:00Z, not 14:00Z.
    ok, _, nxt = allowed("NS", "2027-03-13T22:00:00Z")  # Saturday 18:00 AST
    assert ok is False
    assert nxt == utc("2027-03-14T13:00:00Z")
    assert allowed("NS", "2027-03-14T13:30:00Z")[0] is True  # 10:30 ADT
    # ... and falls back on 2027-11-07: 10:00 AST is 14:00Z.
    assert allowed("NS", "2027-11-07T13:30:00Z")[0] is False  # 09:30 AST
    assert next_open_at(rules("NS"), utc("2027-11-07T13:30:00Z")) == utc("2027-11-07T14:00:00Z")


def test_british_columbia_2027_uses_iana_2026f_not_the_host():
    # Under 2026f Vancouver is UTC-7 all year: 16:30Z on Friday 2027-01-15 is 09:30, open.
    ok, reason, _ = allowed("BC", "2027-01-15T16:30:00Z")
    assert (ok, reason) == (True, None)
    vancouver = zone_states(rules("BC"), utc("2027-01-15T16:30:00Z"))[0]
    assert vancouver.local_time == "2027-01-15T09:30:00-07:00"
    host = Path("/usr/share/zoneinfo/America/Vancouver")
    if host.exists():
        import zoneinfo

        with host.open("rb") as fh:
            old = zoneinfo.ZoneInfo.from_file(fh)
        offset = datetime(2027, 1, 15, 12).replace(tzinfo=old).utcoffset()
        if offset == timedelta(hours=-8):  # older host data would answer "closed (08:30)"
            local = utc("2027-01-15T16:30:00Z").astimezone(old)
            assert local.hour == 8


def test_next_open_is_null_when_nothing_opens_within_14_days():
    empty = ChannelRules.build("ON", ZONES["ON"], {"SMS": {"mon": [["09:00", "20:00"]]}},
                               "CALL", True)
    assert is_open(empty, utc("2027-01-15T16:00:00Z")) is False
    assert next_open_at(empty, utc("2027-01-15T16:00:00Z")) is None


def test_decision_order_of_reasons():
    r = rules("ON")
    at = utc("2027-02-15T16:00:00Z")  # a holiday, so every later reason would also apply
    common = dict(rules=r, instant=at, lead_score=10)
    assert decide(enabled=False, channel_allowed=False, min_lead_score=50, suppressed=True,
                  **common).reason == "policy_disabled"
    assert decide(enabled=True, channel_allowed=False, min_lead_score=50, suppressed=True,
                  **common).reason == "channel_not_allowed"
    assert decide(enabled=True, channel_allowed=True, min_lead_score=50, suppressed=True,
                  **common).reason == "lead_score_below_minimum"
    d = decide(enabled=True, channel_allowed=True, min_lead_score=5, suppressed=True, **common)
    assert d.reason == "suppressed" and d.next_open_at is None
    assert decide(enabled=True, channel_allowed=True, min_lead_score=5, suppressed=False,
                  **common).reason == "holiday"


def test_window_parsing_and_crtc_bounds():
    assert parse_window("sms MON-FRI 09:00-21:30") == (
        "SMS", ["mon", "tue", "wed", "thu", "fri"], "09:00", "21:30")
    assert windows_from_specs(["CALL sat,sun 10:00-18:00", "CALL mon 09:00-12:00"]) == {
        "CALL": {"mon": [["09:00", "12:00"]], "sat": [["10:00", "18:00"]],
                 "sun": [["10:00", "18:00"]]}}
    for bad in ("SMS mon-fri 08:59-20:00", "SMS mon-fri 09:00-21:31", "CALL sat 10:00-18:01",
                "CALL sun 09:30-12:00", "SMS fri-mon 09:00-10:00", "SMS mon 10:00-10:00",
                "FAX mon 10:00-11:00", "SMS mon 9-10", "SMS xyz 10:00-11:00", "SMS mon"):
        with pytest.raises(BadInput):
            parse_window(bad)
    assert window_problems(seeded_windows()) == []
    assert window_problems({"SMS": {"sat": [["09:00", "17:00"]]}})


def test_ladder_schedule_offsets_keep_wall_clock_across_a_clock_change():
    steps = parse_steps(["SMS 0m", "CALL 5m", "SMS 1d", "CALL 2d"])
    start = utc("2027-03-13T15:00:00Z")  # Saturday 10:00 EST in Toronto, the day before DST
    assert planned_at(start, steps[1], "America/Toronto") == utc("2027-03-13T15:05:00Z")
    # One day later at 10:00 local is 14:00Z (EDT), not 15:00Z.
    assert planned_at(start, steps[2], "America/Toronto") == utc("2027-03-14T14:00:00Z")
    with pytest.raises(ValueError, match="step 2"):
        parse_steps(["SMS 0m", "EMAIL 1d"])
