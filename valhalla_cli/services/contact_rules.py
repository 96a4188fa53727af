"""Contact compliance: windows, CRTC bounds, holidays, zones, the next opening, and the one
contact decision (`decide`: its reasons in order, and what dispatch does with each).

Pure functions, no database: the market and ladder services (and tests) call them directly.
Zones come from `valhalla_cli.tz.zone` (the tzdata package, never the host's files).

A policy's `windows` are `{channel: {day: [[start, end], ...]}}` with days `mon`..`sun` and
`HH:MM` times; a window includes its start minute and excludes its end. An instant is open for a
channel only if it is open in EVERY zone of the policy (fail closed when the lead's exact zone is
unknown), and with `quiet_on_holidays` no zone's local date may be a statutory holiday of the
province (the `holidays` package, country CA, subdivision = province).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from valhalla_cli.errors import BadInput
from valhalla_cli.tz import zone
from valhalla_cli.vocabulary import CONTACT_CHANNELS

CHANNELS = CONTACT_CHANNELS
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# CRTC telemarketing hours in the recipient's local time (minutes of the day).
CRTC_WEEKDAY = (9 * 60, 21 * 60 + 30)
CRTC_WEEKEND = (10 * 60, 18 * 60)
NEXT_OPEN_HORIZON = timedelta(days=14)


class Reason(StrEnum):
    """Every reason a contact is refused, in the order the contact decision tries them: the
    first that applies is the answer (the policy, then the lead's standing, then its number
    and consent, then the sender's identification, then the hours)."""

    POLICY_DISABLED = "policy_disabled"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    LEAD_SCORE_BELOW_MINIMUM = "lead_score_below_minimum"
    SUPPRESSED = "suppressed"
    NO_PHONE = "no_phone"
    NOT_TEXTABLE = "not_textable"
    NO_CONSENT = "no_consent"
    DNCL_LISTED = "dncl_listed"
    DNCL_NOT_CHECKED = "dncl_not_checked"
    NO_IDENTIFICATION = "no_identification"
    HOLIDAY = "holiday"
    OUTSIDE_WINDOW = "outside_window"


class Action(StrEnum):
    """What dispatch (and send, at the send instant) does with a task its contact decision
    refuses."""

    CANCEL = "cancel"  # every active task of the lead is cancelled
    MOVE = "move"  # due at the next opening (or looked at again in an hour when none is known)
    SKIP = "skip"  # this step is skipped; the ladder moves on
    HOLD = "hold"  # kept, due again in an hour with its reason shown, until the fact changes


# The one table from a refusal to what happens to the task. A suppressed lead is never
# contacted again; a number or consent that is missing will not appear by waiting; a stale DNCL
# copy or missing sender identification is the operator's to fix, so the task waits for it;
# closed hours and a disabled policy pass.
DISPATCH_ACTION: dict[Reason, Action] = {
    Reason.POLICY_DISABLED: Action.MOVE,
    Reason.CHANNEL_NOT_ALLOWED: Action.SKIP,
    Reason.LEAD_SCORE_BELOW_MINIMUM: Action.SKIP,
    Reason.SUPPRESSED: Action.CANCEL,
    Reason.NO_PHONE: Action.SKIP,
    Reason.NOT_TEXTABLE: Action.SKIP,
    Reason.NO_CONSENT: Action.SKIP,
    Reason.DNCL_LISTED: Action.SKIP,
    Reason.DNCL_NOT_CHECKED: Action.HOLD,
    Reason.NO_IDENTIFICATION: Action.HOLD,
    Reason.HOLIDAY: Action.MOVE,
    Reason.OUTSIDE_WINDOW: Action.MOVE,
}
HOLD_REASONS: tuple[Reason, ...] = tuple(r for r, a in DISPATCH_ACTION.items()
                                         if a is Action.HOLD)
HOURS_REASONS = (Reason.HOLIDAY, Reason.OUTSIDE_WINDOW)


_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def check_channel(value: str | None) -> str:
    name = (value or "").strip().upper()
    if name not in CHANNELS:
        raise BadInput(f"unknown channel {value!r}: use SMS or CALL")
    return name


def check_channels(value: str) -> list[str]:
    names = [p for p in (value or "").replace(" ", "").split(",") if p]
    if not names:
        raise BadInput("--channels must list at least one of SMS, CALL (e.g. SMS,CALL)")
    result = []
    for name in names:
        channel = check_channel(name)
        if channel not in result:
            result.append(channel)
    return [c for c in CHANNELS if c in result]


def check_score(value: int | None, *, option: str = "--lead-score") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadInput(f"{option} must be a whole number from 0 to 100, not {value!r}")
    return value


def check_zone(name: str) -> str:
    text = (name or "").strip()
    if not text or "/" not in text:
        raise BadInput(f"unknown IANA time zone {name!r} (e.g. America/Toronto)")
    zone(text)  # raises BadInput when tzdata does not know it
    return text


def _minutes(text: str) -> int:
    if not _TIME.match(text):
        raise BadInput(f"time {text!r} must be HH:MM (00:00-24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _days(text: str) -> list[str]:
    result: list[str] = []
    for part in text.lower().split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise BadInput(f"days {text!r} must be mon..sun or ranges such as mon-fri")
            i, j = DAYS.index(first), DAYS.index(last)
            if i > j:
                raise BadInput(f"day range {part!r} runs backwards: write it as e.g. mon-fri")
            result.extend(DAYS[i:j + 1])
        elif part in DAYS:
            result.append(part)
        else:
            raise BadInput(f"days {text!r} must be mon..sun or ranges such as mon-fri")
    return [d for d in DAYS if d in result]


def crtc_problem(day: str, start: int, end: int) -> str | None:
    """Why a window breaks the CRTC telemarketing hours, or None."""
    lo, hi = CRTC_WEEKEND if day in ("sat", "sun") else CRTC_WEEKDAY
    if start < lo or end > hi:
        kind = "weekends" if day in ("sat", "sun") else "weekdays"
        return (f"{day} {fmt_minutes(start)}-{fmt_minutes(end)} is outside the CRTC hours for "
                f"{kind} ({fmt_minutes(lo)}-{fmt_minutes(hi)} local time)")
    return None


def fmt_minutes(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def parse_window(text: str) -> tuple[str, list[str], str, str]:
    """'SMS mon-fri 09:00-20:00' -> (channel, days, start, end); CRTC bounds are enforced."""
    parts = (text or "").split()
    if len(parts) != 3 or "-" not in parts[2]:
        raise BadInput(f"--window {text!r} must look like \"SMS mon-fri 09:00-20:00\"")
    channel = check_channel(parts[0])
    days = _days(parts[1])
    start_text, _, end_text = parts[2].partition("-")
    start, end = _minutes(start_text), _minutes(end_text)
    if start >= end:
        raise BadInput(f"--window {text!r}: the start must be before the end")
    for day in days:
        problem = crtc_problem(day, start, end)
        if problem:
            raise BadInput(f"--window {text!r}: {problem}")
    return channel, days, fmt_minutes(start), fmt_minutes(end)


def windows_from_specs(specs: list[str]) -> dict[str, dict[str, list[list[str]]]]:
    """Repeated --window values -> {channel: {day: [[start, end], ...]}} (sorted, merged)."""
    result: dict[str, dict[str, list[list[str]]]] = {}
    for spec in specs:
        channel, days, start, end = parse_window(spec)
        per_day = result.setdefault(channel, {})
        for day in days:
            per_day.setdefault(day, []).append([start, end])
    return {ch: {d: sorted(v) for d, v in sorted(days.items(), key=lambda kv: DAYS.index(kv[0]))}
            for ch, days in result.items()}


def window_problems(windows: dict | None) -> list[str]:
    """Problems with stored windows (shape, times, CRTC bounds): the runbook's market check."""
    problems: list[str] = []
    for channel, per_day in (windows or {}).items():
        if channel not in CHANNELS or not isinstance(per_day, dict):
            problems.append(f"unknown channel {channel!r} in windows")
            continue
        for day, spans in per_day.items():
            if day not in DAYS:
                problems.append(f"{channel}: unknown day {day!r}")
                continue
            for span in spans:
                try:
                    start, end = _minutes(span[0]), _minutes(span[1])
                except (BadInput, IndexError, TypeError, AttributeError):
                    problems.append(f"{channel} {day}: malformed window {span!r}")
                    continue
                problem = crtc_problem(day, start, end) if start < end else "start after end"
                if problem:
                    problems.append(f"{channel} {problem}")
    return problems


def seeded_windows() -> dict[str, dict[str, list[list[str]]]]:
    """Safe business hours: Mon-Fri 09:00-20:00, Sat-Sun 10:00-17:00, both channels."""
    per_day = {d: [["09:00", "20:00"]] for d in DAYS[:5]}
    per_day.update({d: [["10:00", "17:00"]] for d in DAYS[5:]})
    return {ch: {d: [list(s) for s in spans] for d, spans in per_day.items()} for ch in CHANNELS}


@lru_cache(maxsize=512)
def holiday_dates(province: str, year: int) -> frozenset[date]:
    """The province's statutory holidays (observed days included) for a year."""
    from valhalla_cli.statutory import holidays_of

    return frozenset(holidays_of(province, year).keys())


def is_holiday(province: str, day: date) -> bool:
    return day in holiday_dates(province, day.year)


@dataclass(frozen=True)
class ChannelRules:
    """What the calculus needs for one channel of an effective policy."""

    province: str
    timezones: tuple[str, ...]
    # per weekday (0 = Monday): tuple of (start_minute, end_minute)
    spans: tuple[tuple[tuple[int, int], ...], ...]
    quiet_on_holidays: bool

    @staticmethod
    def build(province: str, timezones: list[str] | tuple[str, ...], windows: dict | None,
              channel: str, quiet_on_holidays: bool) -> ChannelRules:
        per_day = (windows or {}).get(channel) or {}
        spans = tuple(
            tuple(sorted((_minutes(s), _minutes(e)) for s, e in per_day.get(day, [])))
            for day in DAYS
        )
        return ChannelRules(province, tuple(timezones), spans, bool(quiet_on_holidays))


@dataclass(frozen=True)
class ZoneState:
    timezone: str
    local_time: str
    open: bool
    holiday: bool = field(default=False, compare=False)


def zone_state(rules: ChannelRules, name: str, instant: datetime) -> ZoneState:
    local = instant.astimezone(zone(name))
    holiday = rules.quiet_on_holidays and is_holiday(rules.province, local.date())
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    inside = any(s * 60 <= second < e * 60 for s, e in rules.spans[local.weekday()])
    return ZoneState(name, local.isoformat(timespec="seconds"), inside and not holiday, holiday)


def zone_states(rules: ChannelRules, instant: datetime) -> list[ZoneState]:
    return [zone_state(rules, name, instant) for name in rules.timezones]


def _zone_open(rules: ChannelRules, name: str, instant: datetime) -> bool:
    local = instant.astimezone(zone(name))
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if not any(s * 60 <= second < e * 60 for s, e in rules.spans[local.weekday()]):
        return False
    return not (rules.quiet_on_holidays and is_holiday(rules.province, local.date()))


def is_open(rules: ChannelRules, instant: datetime) -> bool:
    """Open in every zone (and, with quiet_on_holidays, no zone's local date is a holiday)."""
    if not rules.timezones:
        return False
    return all(_zone_open(rules, name, instant) for name in rules.timezones)


def _local_instant(day: date, minute: int, name: str) -> datetime:
    if minute >= 24 * 60:
        local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(name))
    else:
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone(name))
    return local.astimezone(UTC)


def zone_next_open(rules: ChannelRules, name: str, instant: datetime,
                   horizon: datetime) -> datetime | None:
    """The first instant >= `instant` at which this one zone is open (None after horizon)."""
    tz = zone(name)
    day = instant.astimezone(tz).date()
    last_day = horizon.astimezone(tz).date()
    while day <= last_day:
        if not (rules.quiet_on_holidays and is_holiday(rules.province, day)):
            for s, e in rules.spans[day.weekday()]:
                end = _local_instant(day, e, name)
                if end <= instant:
                    continue
                found = max(_local_instant(day, s, name), instant)
                return found if found <= horizon else None
        day += timedelta(days=1)
    return None


def next_open_at(rules: ChannelRules, instant: datetime,
                 horizon: timedelta = NEXT_OPEN_HORIZON) -> datetime | None:
    """The earliest instant >= `instant` at which EVERY zone is open; None if none within the
    horizon (14 days). DST changes and half-hour zones fall out of converting each zone's local
    window bounds to UTC."""
    if not rules.timezones:
        return None
    instant = instant.astimezone(UTC)
    if is_open(rules, instant):  # the common case, at a fraction of the cost
        return instant
    limit = instant + horizon
    current = instant
    for _ in range(10_000):
        candidates = []
        for name in rules.timezones:
            found = zone_next_open(rules, name, current, limit)
            if found is None:
                return None
            candidates.append(found)
        latest = max(candidates)
        if latest == current:
            return current
        current = latest
    return None  # pragma: no cover - the loop always advances or returns


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason | None
    zones: list[ZoneState]
    next_open_at: datetime | None


def decide(
    *,
    rules: ChannelRules | None,
    instant: datetime,
    enabled: bool = True,
    channel_allowed: bool = True,
    min_lead_score: int = 0,
    lead_score: int | None = None,
    suppressed: bool = False,
    lead_block: Reason | None = None,
    identified: bool = True,
    next_open: bool = True,
) -> Decision:
    """The contact decision: the first reason that applies, in `Reason`'s order. Every caller
    (can-contact, ladder creation, dispatch, send, the breach audit) decides here, from facts
    it loaded in bulk; a fact a caller does not judge keeps its default (a ladder's creation
    judges no hours: `rules` None; the breach audit judges only the hours).

    `lead_block` is the lead's number/consent reason (`LeadFacts.block`), `identified` whether
    a text can identify its sender, `rules` the channel's rules in the lead's zones.
    `next_open` False spares the search for the next opening when the caller does not need it."""
    states = zone_states(rules, instant) if rules is not None else []
    reason: Reason | None = None
    if not enabled:
        reason = Reason.POLICY_DISABLED
    elif not channel_allowed:
        reason = Reason.CHANNEL_NOT_ALLOWED
    elif min_lead_score > 0 and (lead_score is None or lead_score < min_lead_score):
        reason = Reason.LEAD_SCORE_BELOW_MINIMUM
    elif suppressed:
        reason = Reason.SUPPRESSED
    elif lead_block is not None:
        reason = lead_block
    elif not identified:
        reason = Reason.NO_IDENTIFICATION
    elif rules is None:
        reason = None
    elif any(s.holiday for s in states):
        reason = Reason.HOLIDAY
    elif not states or not all(s.open for s in states):
        reason = Reason.OUTSIDE_WINDOW
    next_at = (next_open_at(rules, instant)
               if next_open and rules is not None and reason in HOURS_REASONS else None)
    return Decision(reason is None, reason, states, next_at)


# ---------------------------------------------------------------------------------------------
# The ladder schedule
# ---------------------------------------------------------------------------------------------

_STEP = re.compile(r"^\s*(SMS|CALL)\s+(\d+)\s*(m|h|d)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StepSpec:
    step: int
    channel: str
    amount: int
    unit: str  # m | h | d

    @property
    def label(self) -> str:
        return f"{self.channel} {self.amount}{self.unit}"


def parse_steps(steps: list[str] | tuple[str, ...]) -> list[StepSpec]:
    """["SMS 0m", "CALL 5m", "SMS 1d", ...] -> StepSpecs; ValueError names the bad one."""
    if not steps:
        raise ValueError("the ladder needs at least one step")
    result = []
    for number, text in enumerate(steps, start=1):
        match = _STEP.match(text if isinstance(text, str) else "")
        if not match:
            raise ValueError(f"step {number} {text!r} must look like 'SMS 0m' or 'CALL 2d' "
                             "(units m, h, d)")
        result.append(StepSpec(number, match.group(1).upper(), int(match.group(2)),
                               match.group(3).lower()))
    return result


def planned_at(start: datetime, spec: StepSpec, first_zone: str) -> datetime:
    """Minute/hour offsets are elapsed time; day offsets keep the start's local wall-clock time
    in the policy's first zone (10:00 stays 10:00 across a clock change)."""
    if spec.unit == "m":
        return start + timedelta(minutes=spec.amount)
    if spec.unit == "h":
        return start + timedelta(hours=spec.amount)
    tz = zone(first_zone)
    local = start.astimezone(tz)
    wall = local.replace(tzinfo=None) + timedelta(days=spec.amount)
    return wall.replace(tzinfo=tz).astimezone(UTC)
