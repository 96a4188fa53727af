"""Market policy (province routing) and contact compliance.

A market policy `(province, market)` overrides the province-wide policy `(province, '*')` field by
field (windows channel by channel); what it leaves NULL is inherited. The window / holiday /
next-opening calculus is in `contact_rules` (pure functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.clock import utcnow
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import (
    PROVINCES,
    market_key,
    parse_lead_id,
    parse_market,
    parse_province,
    parse_text,
)
from valhalla_cli.models import ContactSuppression, MarketPolicy
from valhalla_cli.models.types import pk
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import (
    CHANNELS,
    HOURS_REASONS,
    ChannelRules,
    Reason,
    check_channel,
    check_channels,
    check_score,
    check_zone,
    decide,
    seeded_windows,
    window_problems,
    windows_from_specs,
)
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.tz import is_valid_zone

PACK = Pack.MARKET
PROVINCE_WIDE = "*"
FIELDS = ("timezones", "windows", "channels", "min_lead_score", "quiet_on_holidays", "enabled",
          "require_sms_consent")


@dataclass(frozen=True)
class PolicyView:
    province: str
    market: str
    timezones: list[str] | None
    windows: dict[str, Any] | None
    channels: list[str] | None
    min_lead_score: int | None
    quiet_on_holidays: bool | None
    enabled: bool | None
    require_sms_consent: bool | None
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class EffectivePolicy:
    province: str
    market: str
    timezones: list[str]
    windows: dict[str, Any]
    channels: list[str]
    min_lead_score: int
    quiet_on_holidays: bool
    enabled: bool
    require_sms_consent: bool
    sources: dict[str, Any]

    def rules(self, channel: str) -> ChannelRules:
        return ChannelRules.build(self.province, self.timezones, self.windows, channel,
                                  self.quiet_on_holidays)


def _view(row: MarketPolicy) -> PolicyView:
    return PolicyView(province=row.province, market=row.market, timezones=row.timezones,
                      windows=row.windows, channels=row.channels,
                      min_lead_score=row.min_lead_score,
                      quiet_on_holidays=row.quiet_on_holidays, enabled=row.enabled,
                      require_sms_consent=row.require_sms_consent,
                      updated_at=row.updated_at, updated_by=row.updated_by)


def list_policies(session: Session, *, province: str | None = None) -> list[PolicyView]:
    query = select(MarketPolicy)
    if province is not None:
        query = query.where(col(MarketPolicy.province) == parse_province(province))
    query = query.order_by(col(MarketPolicy.province), col(MarketPolicy.market))
    return [_view(r) for r in session.scalars(query)]


def merge(province_row: MarketPolicy | None, market_row: MarketPolicy | None, *, province: str,
          market: str | None) -> EffectivePolicy:
    """Field-by-field inheritance; windows channel by channel. A missing province-wide policy
    yields a disabled policy with no zones (fail closed)."""
    base: dict[str, Any] = {"timezones": [], "windows": {}, "channels": [], "min_lead_score": 0,
                            "quiet_on_holidays": True, "enabled": False,
                            "require_sms_consent": True}
    sources: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name in FIELDS:
        own = getattr(market_row, name) if market_row is not None else None
        inherited = getattr(province_row, name) if province_row is not None else None
        if name == "windows":
            merged, per_channel = {}, {}
            for channel in CHANNELS:
                if own and channel in own:
                    merged[channel], per_channel[channel] = own[channel], "market"
                elif inherited and channel in inherited:
                    merged[channel], per_channel[channel] = inherited[channel], "province"
                else:
                    per_channel[channel] = "province"
            values[name], sources[name] = merged, per_channel
        elif own is not None:
            values[name], sources[name] = own, "market"
        else:
            values[name] = inherited if inherited is not None else base[name]
            sources[name] = "province"
    shown = market_row.market if market_row is not None else market  # the first spelling
    return EffectivePolicy(province=province, market=shown or PROVINCE_WIDE, sources=sources,
                           **values)


def scope_market(market: str | None, *, field: str = "--market") -> str | None:
    """A policy's market: None, '' or '*' is province-wide (None), otherwise a parsed market."""
    if market is None or market.strip() in ("", PROVINCE_WIDE):
        return None
    return parse_market(market, field=field)


class PolicyCache:
    """Effective policies for many (province, market) pairs from one read of the small table."""

    def __init__(self, session: Session) -> None:
        self.rows = {(r.province, r.market_key): r for r in session.scalars(select(MarketPolicy))}
        self._cache: dict[tuple[str, str | None], EffectivePolicy] = {}
        self._rules: dict[tuple[str, str | None, str], ChannelRules] = {}

    def effective(self, province: str, market: str | None) -> EffectivePolicy:
        key = (province, market)
        if key not in self._cache:
            self._cache[key] = merge(self.rows.get((province, PROVINCE_WIDE)),
                                     self.rows.get((province, market_key(market)))
                                     if market else None,
                                     province=province, market=market)
        return self._cache[key]

    def rules(self, province: str, market: str | None, channel: str) -> ChannelRules:
        key = (province, market, channel)
        if key not in self._rules:
            self._rules[key] = self.effective(province, market).rules(channel)
        return self._rules[key]


def effective_policy(session: Session, *, province: str, market: str | None = None
                     ) -> EffectivePolicy:
    province = parse_province(province)
    market = scope_market(market)
    key = market_key(market) if market else PROVINCE_WIDE
    rows = {r.market_key: r for r in session.scalars(
        select(MarketPolicy).where(col(MarketPolicy.province) == province,
                                   col(MarketPolicy.market_key).in_([PROVINCE_WIDE, key])))}
    return merge(rows.get(PROVINCE_WIDE), rows.get(key) if market else None,
                 province=province, market=market)


def policy_set(
    session: Session,
    *,
    province: str,
    market: str | None,
    timezones: list[str] | None,
    windows: list[str] | None,
    channels: str | None,
    min_lead_score: int | None,
    quiet_on_holidays: bool | None,
    enabled: bool | None,
    actor: str,
    at: datetime,
    require_sms_consent: bool | None = None,
) -> PolicyView:
    """Create or update (upsert) a policy; only the fields given change. Audited."""
    province = parse_province(province)
    market_name = scope_market(market) or PROVINCE_WIDE
    changes: dict[str, Any] = {}
    if timezones:
        zones = []
        for name in timezones:
            checked = check_zone(name)
            if checked not in zones:
                zones.append(checked)
        changes["timezones"] = zones
    if windows:
        changes["windows"] = windows_from_specs(windows)
    if channels is not None:
        changes["channels"] = check_channels(channels)
    if min_lead_score is not None:
        changes["min_lead_score"] = check_score(min_lead_score, option="--min-lead-score")
    if quiet_on_holidays is not None:
        changes["quiet_on_holidays"] = quiet_on_holidays
    if enabled is not None:
        changes["enabled"] = enabled
    if require_sms_consent is not None:
        changes["require_sms_consent"] = require_sms_consent
    if not changes:
        raise BadInput("nothing to change: give at least one of --timezone, --window, "
                       "--channels, --min-lead-score, --holidays/--no-holidays, "
                       "--enable/--disable, --require-sms-consent/--no-require-sms-consent")
    query = select(MarketPolicy).where(
        col(MarketPolicy.province) == province,
        col(MarketPolicy.market_key) == market_key(market_name)).with_for_update()
    row = session.scalars(query).first()
    before = None
    if row is None:
        row = MarketPolicy(province=province, market=market_name,
                           market_key=market_key(market_name))
        if market_name == PROVINCE_WIDE:  # a province-wide policy is always complete
            row.timezones, row.windows, row.channels = [], seeded_windows(), list(CHANNELS)
            row.min_lead_score, row.quiet_on_holidays, row.enabled = 0, True, False
            row.require_sms_consent = True
        session.add(row)
    else:
        before = {name: getattr(row, name) for name in FIELDS}
    for name, value in changes.items():
        if name == "windows":
            merged = dict(row.windows or {})
            merged.update(value)  # the windows given for a channel replace that channel's
            value = merged
        setattr(row, name, value)
    if market_name == PROVINCE_WIDE and not row.timezones:
        raise BadInput(f"the province-wide policy of {province} needs at least one --timezone")
    row.updated_at, row.updated_by = at, actor
    session.flush()
    audit.record(session, pack=PACK, action="policy_set", actor=actor, at=at,
                 subject=f"{province}/{row.market}", before=before,
                 after={name: getattr(row, name) for name in FIELDS})
    return _view(row)


def suppressed_among(session: Session, lead_ids: list[str] | set[str], *, at: datetime,
                     business_timezone: str) -> set[str]:
    """Which of these leads are suppressed, by lead or by number."""
    from valhalla_cli.services.contact_facts import facts_for

    facts, _ = facts_for(session, lead_ids=lead_ids, at=at, business_timezone=business_timezone)
    return {lead for lead, f in facts.items() if f.suppressed}


@dataclass(frozen=True)
class ZoneAnswer:
    timezone: str
    source: str  # confirmed | policy | area_code
    local_time: str  # local wall-clock time with its offset
    open: bool


@dataclass(frozen=True)
class ContactAnswer:
    allowed: bool
    reason: Reason | None
    scope: str  # lead | phone | hours_only
    lead_id: str | None
    phone: str | None
    zones: list[ZoneAnswer]
    next_open_at: datetime | None
    closed_zones: list[str] = field(default_factory=list)  # the zones whose window is shut
    holiday: str | None = None  # the statutory holiday's name, when one closes a zone
    message: str | None = None  # the "no" in words, with the command that changes it

    @property
    def refusal(self) -> Refusal | None:
        """The "no": the first reason, and the sentence with the command that changes it."""
        if self.allowed:
            return None
        return Refusal(str(self.reason), f"contact not allowed: {self.reason}: {self.message}")


def can_contact(
    session: Session,
    *,
    province: str | None,
    market: str | None,
    channel: str,
    at: datetime,
    business_timezone: str,
    lead_score: int | None = None,
    lead_id: str | None = None,
    phone: str | None = None,
    score_optional: bool = False,
) -> ContactAnswer:
    """The contact decision for an instant: the market policy, then the lead's rules.

    With `lead_id` the lead's province, market, zones, number and consents decide; with
    `phone` a bare number (suppression, DNCL, its area code's zones); with neither, the hours
    alone (`scope: hours_only`)."""
    from dataclasses import replace

    from valhalla_cli.services.contact_facts import facts_for, get_lead, lead_contact_zones

    channel = check_channel(channel)
    lead_score = check_score(lead_score)
    if lead_id is not None and phone is not None:
        raise BadInput("give --lead or --phone, not both")
    facts = None
    confirmed = None
    record = None
    if lead_id is not None:
        from valhalla_cli.errors import NotFound

        lead_id = parse_lead_id(lead_id, field="--lead")
        try:
            record = get_lead(session, lead_id)
        except NotFound:
            if province is None:
                raise
            # A lead id the registry does not know (suppressed before it was registered):
            # judged with the province given, and it has no number.
            record = None
    if lead_id is not None and record is None:
        per_lead, _ = facts_for(session, lead_ids=[lead_id], at=at,
                                business_timezone=business_timezone)
        facts, scope = per_lead[lead_id], "lead"
    elif lead_id is not None and record is not None:
        if province is not None and parse_province(province) != record.province:
            raise BadInput(f"lead {lead_id} is in {record.province}, not {province.upper()}: "
                           "leave the province out or give the lead's")
        given = scope_market(market) if market is not None else None
        if given is not None and market_key(given) != market_key(record.market or "*"):
            raise BadInput(f"lead {lead_id} is in market {record.market or '*'}, not {given}")
        province, market, confirmed = record.province, record.market, record.timezone
        per_lead, _ = facts_for(session, lead_ids=[lead_id], at=at,
                                business_timezone=business_timezone,
                                leads={lead_id: record})
        facts, scope = per_lead[lead_id], "lead"
    elif phone is not None:
        from valhalla_cli.phones import parse_phone

        phone = parse_phone(phone)
        if province is None:
            raise BadInput("PROVINCE is required with --phone")
        _, per_phone = facts_for(session, phones=[phone], at=at,
                                 business_timezone=business_timezone)
        facts, scope = per_phone[phone], "phone"
    else:
        scope = "hours_only"
    if province is None:
        raise BadInput("PROVINCE is required without --lead")
    policy = effective_policy(session, province=province, market=market)
    if policy.min_lead_score > 0 and lead_score is None and not score_optional:
        raise BadInput(f"--lead-score is required: the {policy.province}/{policy.market} policy "
                       f"has a minimum lead score of {policy.min_lead_score}")
    zones = lead_contact_zones(policy_zones=policy.timezones,
                               phone=facts.phone if facts else None,
                               confirmed_timezone=confirmed)
    rules = replace(policy.rules(channel), timezones=tuple(z.timezone for z in zones))
    block = facts.block(channel, require_sms_consent=policy.require_sms_consent) if facts else None
    decision = decide(
        enabled=policy.enabled, channel_allowed=channel in policy.channels,
        min_lead_score=policy.min_lead_score, lead_score=lead_score,
        suppressed=facts.suppressed if facts else False, lead_block=block,
        rules=rules, instant=at,
    )
    source = {z.timezone: z.source for z in zones}
    answers = [ZoneAnswer(z.timezone, source.get(z.timezone, "policy"), z.local_time, z.open)
               for z in decision.zones]
    if decision.allowed:
        return ContactAnswer(True, None, scope, lead_id, facts.phone if facts else None,
                             answers, decision.next_open_at)
    from valhalla_cli.services import refusals

    clocks = [refusals.ZoneClock(z.timezone, z.source, z.local_time, z.open) for z in answers]
    holiday = (refusals.holiday_name(policy.province, [c for c in clocks if not c.open])
               if decision.reason is Reason.HOLIDAY else None)
    closed = refusals.closed_zones(clocks) if decision.reason in HOURS_REASONS else []
    message = refusals.contact(
        decision.reason or "", channel=channel, province=policy.province,
        market=market, lead_id=lead_id, phone=facts.phone if facts else None, zones=clocks,
        next_open_at=decision.next_open_at, business_timezone=business_timezone, at=at,
        holiday=holiday, lead_score=lead_score, min_lead_score=policy.min_lead_score)
    return ContactAnswer(False, decision.reason, scope, lead_id,
                         facts.phone if facts else None, answers, decision.next_open_at,
                         closed, holiday, message)


@dataclass(frozen=True)
class SuppressionView:
    id: int
    lead_id: str | None
    phone: str | None
    reason: str
    at: datetime
    actor: str
    created: bool
    tasks_cancelled: int


def _suppression_view(row: ContactSuppression, created: bool, cancelled: int) -> SuppressionView:
    return SuppressionView(id=pk(row.id), lead_id=row.lead_id, phone=row.phone, reason=row.reason,
                           at=row.at, actor=row.actor, created=created,
                           tasks_cancelled=cancelled)


def _cancel_for_leads(session: Session, lead_ids: list[str], *, at: datetime, reason: str
                      ) -> int:
    from valhalla_cli.services.ladder.tasks import cancel_active_tasks

    return sum(cancel_active_tasks(session, lead_id=lead, at=at, reason=reason)
               for lead in sorted(set(lead_ids)))


def suppress(session: Session, *, lead_id: str | None, phone: str | None, reason: str,
             actor: str, at: datetime) -> SuppressionView:
    """Suppress a lead (and its number) or a number alone, on every channel, at once: the
    remaining follow-up tasks of every lead it covers are cancelled.

    Suppressing the same lead (and phone) again returns the existing entry (`created: false`).
    """
    from valhalla_cli.models import Lead
    from valhalla_cli.phones import parse_phone

    lead = parse_lead_id(lead_id) if lead_id is not None else None
    reason = parse_text(reason, field="--reason", max_length=2000) or ""
    if not reason:
        raise BadInput("--reason must not be empty")
    number = parse_phone(phone) if phone is not None and phone.strip() else None
    if lead is None and number is None:
        raise BadInput("give a LEAD or --phone N")
    if lead is not None and number is None:
        number = session.scalar(select(col(Lead.phone)).where(col(Lead.lead_id) == lead))
    s = ContactSuppression
    existing = session.scalars(select(s).where(
        col(s.lead_id).is_(None) if lead is None else col(s.lead_id) == lead,
        col(s.phone).is_(None) if number is None else col(s.phone) == number,
    ).order_by(col(s.at).desc()).limit(1)).first()
    covered = [lead] if lead is not None else []
    if number is not None:
        covered += list(session.scalars(select(col(Lead.lead_id))
                                        .where(col(Lead.phone) == number)))
    cancelled = _cancel_for_leads(session, covered, at=at,
                                  reason=f"suppressed: {reason.strip()}")
    from valhalla_cli.services.inbox_tasks import close_for_opt_out

    close_for_opt_out(session, lead_ids=covered, at=at, actor=actor)
    lifted = False
    if existing is not None and lead is not None:
        # A suppression an express consent has lifted is no longer in force: record anew.
        lifted = lead not in suppressed_among(session, [lead], at=max(at, existing.at),
                                              business_timezone="UTC")
    if existing is not None and not lifted:
        return _suppression_view(existing, False, cancelled)
    row = ContactSuppression(lead_id=lead, phone=number, reason=reason.strip(), at=at,
                             recorded_at=utcnow(), actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, pack=PACK, action="suppress", actor=actor, at=at,
                 subject=lead or number,
                 after={"lead_id": lead, "phone": number, "tasks_cancelled": cancelled},
                 reason=row.reason)
    return _suppression_view(row, True, cancelled)


def suppress_number(session: Session, *, phone: str, reason: str, actor: str, at: datetime
                    ) -> SuppressionView:
    return suppress(session, lead_id=None, phone=phone, reason=reason, actor=actor, at=at)


def suppression_views(session: Session, query: Any) -> list[SuppressionView]:
    return [_suppression_view(r, False, 0) for r in session.scalars(query)]


def list_suppressions(session: Session, *, lead_id: str | None = None, limit: int = 100
                      ) -> list[SuppressionView]:

    query = select(ContactSuppression)
    if lead_id is not None:
        query = query.where(col(ContactSuppression.lead_id) == parse_lead_id(lead_id,
                                                                             field="--lead"))
    query = query.order_by(col(ContactSuppression.at).desc(),
                           col(ContactSuppression.id).desc()).limit(limit)
    return [_suppression_view(r, False, 0) for r in session.scalars(query)]


def runbook_check(session: Session, settings: Any, at: datetime):
    """Fails when a province lacks an enabled policy, or a policy has a window outside CRTC
    hours or an invalid zone."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    cache = PolicyCache(session)
    problems: list[str] = []
    fix = None
    for (province, market), row in sorted(cache.rows.items()):
        scope = f"{province}/{market}"
        for name in row.timezones or []:
            if not is_valid_zone(name):
                problems.append(f"{scope}: invalid zone {name!r}")
                fix = fix or f"valhalla market policy-set {province} --timezone ZONE"
        for problem in window_problems(row.windows):
            problems.append(f"{scope}: {problem}")
            fix = fix or (f"valhalla market policy-set {province} "
                          "--window 'CHANNEL DAYS HH:MM-HH:MM'")
    for province in PROVINCES:
        policy = cache.effective(province, None)
        if (province, PROVINCE_WIDE) not in cache.rows or not policy.enabled:
            problems.append(f"{province}: no enabled province-wide policy")
            fix = fix or f"valhalla market policy-set {province} --enable"
        elif not policy.timezones:
            problems.append(f"{province}: no time zone")
            fix = fix or f"valhalla market policy-set {province} --timezone ZONE"
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return CheckResult(FAIL, "; ".join(problems[:3]) + more, fix)
    markets = sum(1 for (_, m) in cache.rows if m != PROVINCE_WIDE)
    off = [f"{p}/{m}" for (p, m), row in sorted(cache.rows.items())
           if row.require_sms_consent is False]
    if off:
        first_province, _, first_market = off[0].partition("/")
        where = "" if first_market == PROVINCE_WIDE else f" --market '{first_market}'"
        return CheckResult(WARN, "SMS consent (CASL) is not required for "
                           f"{', '.join(off)}: make sure consent is obtained elsewhere",
                           f"valhalla market policy-set {first_province}{where} "
                           "--require-sms-consent")
    from valhalla_cli.wording import plural

    return CheckResult(OK, f"13 provinces enabled, {plural(markets, 'market policy')}, "
                       "windows inside CRTC hours, zones valid")

