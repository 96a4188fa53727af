"""Instants, dates and durations: UTC inside, the business time zone at the edges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from valhalla_cli.errors import BadInput
from valhalla_cli.tz import zone

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: attach a zone before converting to UTC")
    return value.astimezone(UTC)


def parse_instant(value: str | None, business_timezone: str, *, option: str = "--at") -> datetime:
    """Parse an ISO 8601 instant (default: now). Without an offset it is business local time."""
    if value is None or value == "":
        return utcnow()
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{option}: {value!r} is not an ISO 8601 date-time (e.g. 2027-01-15T09:30 or "
            "2027-01-15T14:30:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(business_timezone))
    return parsed.astimezone(UTC)


def parse_date(value: str, *, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def business_date(instant: datetime, business_timezone: str) -> date:
    """The business day an instant falls on, in the business time zone."""
    return instant.astimezone(zone(business_timezone)).date()


def start_of_business_day(day: date, business_timezone: str) -> datetime:
    """The UTC instant at which a business day starts."""
    return datetime.combine(day, time(0), tzinfo=zone(business_timezone)).astimezone(UTC)


def parse_duration(value: str, *, option: str) -> timedelta:
    """'15m', '2h', '1d', '90s' -> timedelta (must be positive)."""
    match = _DURATION.match(value or "")
    if not match or int(match.group(1)) <= 0:
        raise BadInput(f"{option}: {value!r} is not a positive duration such as 15m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def rfc3339(value: datetime | None) -> str | None:
    """UTC instant as RFC 3339 with a Z: 2027-01-15T17:45:00Z."""
    if value is None:
        return None
    value = to_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def local_iso(value: datetime, zone_name: str) -> str:
    """Local wall-clock time with its offset: 2027-01-15T09:45:00-08:00."""
    return value.astimezone(zone(zone_name)).isoformat(timespec="seconds")


def business_period(at: datetime, since: date | None, until: date | None,
                    business_timezone: str, *, days: int = 30
                    ) -> tuple[date, date, datetime, datetime]:
    """A report's period: business dates [since, until], both inclusive (default: the `days`
    business dates ending with the business date of `at`), and the UTC instants [lo, hi) that
    bound it. The reports of SPEC 9 and 20 (sla, funnel, breaches, scorecard) share it."""
    until = until or business_date(at, business_timezone)
    since = since or until - timedelta(days=days - 1)
    if since > until:
        raise BadInput("--since must not be after --until")
    if (until - since).days > 3660:
        raise BadInput("the period may span at most 10 years")
    return (since, until, start_of_business_day(since, business_timezone),
            start_of_business_day(until + timedelta(days=1), business_timezone))
