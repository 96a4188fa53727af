"""Instants, dates and durations: UTC inside, the business time zone at the edges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from valhalla_cli.errors import BadInput
from valhalla_cli.tz import zone

# ASCII digits only (`\d` would take Arabic-Indic digits) and few enough that int() is cheap.
_DURATION = re.compile(r"^\s*([0-9]{1,12})\s*(s|sec|m|min|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=366)

# Every instant the product takes lies in these years: anything else is a typo (9999-12-31)
# or a placeholder (0001-01-01), and would overflow once converted between zones.
FIRST_YEAR, LAST_YEAR = 1970, 2199
MIN_INSTANT = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
_RANGE = f"from {FIRST_YEAR} to {LAST_YEAR}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: attach a zone before converting to UTC")
    return value.astimezone(UTC)


def parse_instant(value: str | None, business_timezone: str, *, option: str = "--at") -> datetime:
    """Parse an ISO 8601 instant (None: now). Without an offset it is business local time.

    Bad input: an empty value, a year outside 1970-2199, and a local time that does not exist
    (skipped when the clocks go forward) or exists twice (when they go back): the caller must
    give the offset, because either silent reading could book a call an hour off.
    """
    if value is None:
        return utcnow()
    text = value.strip()
    if not text:
        raise BadInput(f"{option} is empty: give a date-time (e.g. 2027-01-15T09:30) or leave "
                       "the option out for now")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{option}: {value!r} is not an ISO 8601 date-time (e.g. 2027-01-15T09:30 or "
            "2027-01-15T14:30:00Z)"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise BadInput(f"{option}: {value!r} is out of range (years {_RANGE})")
    if parsed.tzinfo is None:
        parsed = localize(parsed, business_timezone, option=option)
    instant = parsed.astimezone(UTC)
    if not MIN_INSTANT <= instant < MAX_INSTANT:
        raise BadInput(f"{option}: {value!r} is out of range (years {_RANGE} in UTC)")
    return instant


def localize(wall: datetime, zone_name: str, *, option: str) -> datetime:
    """A naive wall-clock time in a zone; refused when DST makes it missing or ambiguous."""
    tz = zone(zone_name)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    shown = wall.isoformat(timespec="minutes" if not wall.second else "seconds")
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != wall:
        raise BadInput(
            f"{option}: {shown} does not exist in {zone_name} (the clocks skip it when they go "
            f"forward from UTC{_offset(first)} to UTC{_offset(second)}): give an explicit "
            f"offset, e.g. {shown}{_offset(first)}"
        )
    raise BadInput(
        f"{option}: {shown} happens twice in {zone_name} ({shown}{_offset(first)} and "
        f"{shown}{_offset(second)}, when the clocks go back): give one of them with its offset"
    )


def _offset(value: datetime) -> str:
    delta = value.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_date(value: str, *, option: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadInput(f"{option}: {value!r} is out of range (years {_RANGE})")
    return day


def business_date(instant: datetime, business_timezone: str) -> date:
    """The business day an instant falls on, in the business time zone."""
    return instant.astimezone(zone(business_timezone)).date()


def start_of_business_day(day: date, business_timezone: str) -> datetime:
    """The UTC instant at which a business day starts."""
    return datetime.combine(day, time(0), tzinfo=zone(business_timezone)).astimezone(UTC)


def parse_duration(value: str, *, option: str) -> timedelta:
    """'15m', '2h', '1d', '90s' -> timedelta (positive, at most 366 days)."""
    match = _DURATION.match(value or "")
    if not match or int(match.group(1)) <= 0:
        raise BadInput(f"{option}: {value!r} is not a positive duration such as 15m, 2h or 1d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds > MAX_DURATION.total_seconds():
        raise BadInput(f"{option}: {value!r} is too long (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


def rfc3339(value: datetime | None) -> str | None:
    """UTC instant as RFC 3339 with a Z: 2027-01-15T17:45:00Z."""
    if value is None:
        return None
    value = to_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def business_period(at: datetime, since: date | None, until: date | None,
                    business_timezone: str, *, days: int = 30
                    ) -> tuple[date, date, datetime, datetime]:
    """A report's period: business dates [since, until], both inclusive (default: the `days`
    business dates ending with the business date of `at`), and the UTC instants [lo, hi) that
    bound it. The period reports (sla, funnel, breaches, scorecard) share it."""
    until = until or business_date(at, business_timezone)
    since = since or until - timedelta(days=days - 1)
    if since > until:
        raise BadInput("--since must not be after --until")
    if (until - since).days > 3660:
        raise BadInput("the period may span at most 10 years")
    return (since, until, start_of_business_day(since, business_timezone),
            start_of_business_day(until + timedelta(days=1), business_timezone))
