"""Every "no" as a sentence with its next step: what is refused, why in words, and the command
that changes the answer. Pure functions; a service puts the sentence in its result next to the
reason code, so the CLI's standard error and the HTTP answer say the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from valhalla_cli import vocabulary
from valhalla_cli.tz import zone

CONSENT_KINDS = "|".join(vocabulary.CONSENT_KINDS)


@dataclass(frozen=True)
class Refusal:
    """A "no" as part of an answer: its reason code and its sentence. The service that decides
    the answer sets it; the CLI prints the sentence on standard error and exits `code`, the
    HTTP face answers 409 with the same result; neither face decides whether it is a no."""

    reason: str
    message: str
    code: int = 1  # the CLI's exit code: 1 a refusal; a run that met a fault says so


@dataclass(frozen=True)
class ZoneClock:
    """One zone of a contact decision: its IANA name, why it applies, its local time, open."""

    timezone: str
    source: str  # policy | area_code | confirmed
    local_time: str  # ISO 8601 with its offset
    open: bool


def city(timezone: str) -> str:
    """`America/St_Johns` -> `St Johns`: the zone as an operator names it."""
    return timezone.rsplit("/", 1)[-1].replace("_", " ")


def clock(instant: datetime, timezone: str, *, today: date | None = None) -> str:
    """`11:00 Toronto`, with the weekday and date when it is not `today` (that zone's date)."""
    local = instant.astimezone(zone(timezone))
    when = local.strftime("%H:%M")
    if today is not None and local.date() != today:
        when = local.strftime("%a %Y-%m-%d ") + when
    return f"{when} {city(timezone)}"


def _why_zone(source: str, phone: str | None) -> str:
    if source == "area_code" and phone:
        return f" ({phone[2:5]} number)"
    if source == "confirmed":
        return " (confirmed zone)"
    return ""


def closed_zones(zones: Sequence[ZoneClock]) -> list[str]:
    return [z.timezone for z in zones if not z.open]


def holiday_name(province: str, zones: Sequence[ZoneClock]) -> str | None:
    """The statutory holiday that closes one of the zones today, by name."""
    from valhalla_cli.statutory import holidays_of

    for z in zones:
        day = datetime.fromisoformat(z.local_time).date()
        name = holidays_of(province, day.year).get(day)
        if name:
            return str(name)
    return None


def contact(reason: str, *, channel: str, province: str, market: str | None,
            lead_id: str | None, phone: str | None, zones: Sequence[ZoneClock],
            next_open_at: datetime | None, business_timezone: str, at: datetime,
            holiday: str | None = None, lead_score: int | None = None,
            min_lead_score: int | None = None) -> str:
    """The sentence of a contact "no" (market can-contact, lead show, the HTTP twin)."""
    scope = f"{province}/{market}" if market else province
    who = lead_id or "LEAD"
    today = at.astimezone(zone(business_timezone)).date()
    opens = (f"; opens {clock(next_open_at, business_timezone, today=today)}"
             if next_open_at is not None else "; no opening in the next 14 days")
    if reason == "outside_window":
        closed = [f"{city(z.timezone)} {datetime.fromisoformat(z.local_time):%H:%M}"
                  f"{_why_zone(z.source, phone)}" for z in zones if not z.open]
        where = ", ".join(closed) if closed else "no zone"
        return f"outside the {channel} window: {where} closed{opens}"
    if reason == "holiday":
        return (f"{holiday or 'a statutory holiday'} in {province}: no {channel} on statutory "
                f"holidays{opens}")
    if reason == "no_consent":
        return (f"no consent on file for {channel}: record it with valhalla lead consent {who} "
                f"--kind {CONSENT_KINDS} --evidence '...'")
    if reason == "suppressed":
        return (f"{'lead ' + lead_id if lead_id else 'this number'} is suppressed (an opt-out "
                f"or by hand): only new express consent lifts it: valhalla lead consent {who} "
                f"--kind express --evidence '...'")
    if reason == "no_phone":
        return f"no phone number on file: valhalla lead add {who} --phone NUMBER"
    if reason == "dncl_listed":
        return ("the number is on the National Do Not Call List: call only with consent or an "
                f"exemption: valhalla lead consent {who} --kind {CONSENT_KINDS} --evidence '...'")
    if reason == "dncl_not_checked":
        return ("no fresh National DNCL copy for the number's area code: import one with "
                "valhalla dncl import DOWNLOAD.zip --as-of DATE")
    if reason == "policy_disabled":
        return (f"the {scope} contact policy is disabled: valhalla market policy-set {province}"
                + (f" --market {market}" if market else "") + " --enable")
    if reason == "channel_not_allowed":
        return (f"{channel} is not allowed by the {scope} policy: valhalla market policy-set "
                f"{province}" + (f" --market {market}" if market else "")
                + " --channels SMS,CALL")
    if reason == "lead_score_below_minimum":
        given = "no lead score" if lead_score is None else f"lead score {lead_score}"
        return (f"{given} is below the {scope} policy's minimum {min_lead_score}: give "
                "--lead-score, or lower it with valhalla market policy-set "
                f"{province} --min-lead-score N")
    return reason


def failing_checks(checks: Sequence[object]) -> str:
    """`golive: unsigned checklist items: dncl (fix: valhalla golive checklist sign dncl)`, for
    each failing runbook check."""
    parts = []
    for check in checks:
        if getattr(check, "status", None) != "fail":
            continue
        fix = getattr(check, "fix", None)
        parts.append(f"{getattr(check, 'name', '')}: {getattr(check, 'detail', '')}"
                     + (f" (fix: {fix})" if fix else ""))
    return "; ".join(parts)
