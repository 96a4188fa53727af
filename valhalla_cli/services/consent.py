"""Consent validity: pure functions over a lead's consent records.

| kind     | valid for SMS (CASL) | exempts a CALL from the DNCL |
| express  | until withdrawn      | until withdrawn              |
| inquiry  | 6 months             | 6 months                     |
| business | 2 years              | 18 months                    |

Durations are calendar months: a consent given on business date D is valid through the end of
the business date N months later (a day that month lacks is its last day). A withdrawal ends
every consent given before it. Whatever the dates, a consent outweighs a withdrawal (or a
suppression) only when it was also recorded after it: a consent dated in the future must not undo
an opt-out received before its date, and no consent may be dated after it is recorded.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from valhalla_cli.errors import BadInput
from valhalla_cli.vocabulary import CONSENT_CHANNELS, CONSENT_KINDS

KINDS = CONSENT_KINDS
WITHDRAWAL = "withdrawal"
MONTHS = {("inquiry", "SMS"): 6, ("inquiry", "CALL"): 6,
          ("business", "SMS"): 24, ("business", "CALL"): 18}


@dataclass(frozen=True)
class ConsentRecord:
    kind: str
    channel: str  # SMS | CALL | all
    given_at: datetime
    recorded_at: datetime | None = None  # None: recorded when given

    @property
    def recorded(self) -> datetime:
        return self.recorded_at if self.recorded_at is not None else self.given_at


def check_given_at(given_at: datetime, recorded_at: datetime, *, field: str) -> datetime:
    """A consent is evidence of the past: it may not be dated after the instant it is recorded
    (`--at`, or the import's own instant). A mistyped year would otherwise let it outweigh an
    opt-out received in between."""
    from valhalla_cli.clock import rfc3339

    if given_at > recorded_at:
        given, recorded = (rfc3339(t.replace(microsecond=0)) for t in (given_at, recorded_at))
        raise BadInput(f"{field}: {given} is after {recorded}, the instant this consent is "
                       "recorded: a consent cannot be dated in the future")
    return given_at


def outweighs(record: ConsentRecord, mark_given: datetime, mark_recorded: datetime) -> bool:
    """Does `record` come after an opt-out (a withdrawal or a suppression) both by its date and
    by when it was recorded?"""
    return record.given_at > mark_given and record.recorded > mark_recorded


def check_kind(value: str | None, *, option: str = "--kind") -> str:
    kind = (value or "").strip().lower()
    if kind not in KINDS:
        raise BadInput(f"{option} must be one of {', '.join(KINDS)}, not {value!r}")
    return kind


def check_consent_channel(value: str | None) -> str:
    text = (value or "all").strip()
    channel = "all" if text.lower() == "all" else text.upper()
    if channel not in CONSENT_CHANNELS:
        raise BadInput(f"--channel must be SMS, CALL or all, not {value!r}")
    return channel


def add_months(day: date, months: int) -> date:
    """The same day N calendar months later; a day the month lacks becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until(record: ConsentRecord, use: str, business_timezone: str) -> datetime | None:
    """The first instant at which the consent no longer counts for `use` (SMS or CALL);
    None while it lasts until withdrawn."""
    from valhalla_cli.clock import business_date, start_of_business_day

    if record.kind == "express":
        return None
    months = MONTHS[(record.kind, use)]
    last_day = add_months(business_date(record.given_at, business_timezone), months)
    return start_of_business_day(last_day + timedelta(days=1), business_timezone)


def consent_covers(records: Iterable[ConsentRecord], use: str, at: datetime,
                   business_timezone: str) -> bool:
    """Is there consent valid for `use` (SMS: CASL consent; CALL: a DNCL exemption) at `at`?"""
    records = [r for r in records if r.given_at <= at]
    withdrawals = [r for r in records if r.kind == WITHDRAWAL]
    for record in records:
        if record.kind == WITHDRAWAL or record.channel not in (use, "all"):
            continue
        if any(not outweighs(record, w.given_at, w.recorded) for w in withdrawals):
            continue
        until = valid_until(record, use, business_timezone)
        if until is None or at < until:
            return True
    return False
