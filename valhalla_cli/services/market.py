"""Market policy (province routing) and contact compliance (SPEC section 8).

A market policy `(province, market)` overrides the province-wide policy `(province, '*')` field by
field (windows channel by channel); what it leaves NULL is inherited. The window / holiday /
next-opening calculus is in `contact_rules` (pure functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

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
from valhalla_cli.services.contact_rules import (
    CHANNELS,
    ChannelRules,
    Decision,
    check_channel,
    check_channels,
    check_score,
    check_zone,
    decide,
    seeded_windows,
    window_problems,
    windows_from_specs,
)
from valhalla_cli.tz import is_valid_zone

PACK = "market"
PROVINCE_WIDE = "*"
FIELDS = ("timezones", "windows", "channels", "min_lead_score", "quiet_on_holidays", "enabled")


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
    sources: dict[str, Any]

    def rules(self, channel: str) -> ChannelRules:
        return ChannelRules.build(self.province, self.timezones, self.windows, channel,
                                  self.quiet_on_holidays)


def _view(row: MarketPolicy) -> PolicyView:
    return PolicyView(province=row.province, market=row.market, timezones=row.timezones,
                      windows=row.windows, channels=row.channels,
                      min_lead_score=row.min_lead_score,
                      quiet_on_holidays=row.quiet_on_holidays, enabled=row.enabled,
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
                            "quiet_on_holidays": True, "enabled": False}
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
    if not changes:
        raise BadInput("nothing to change: give at least one of --timezone, --window, "
                       "--channels, --min-lead-score, --holidays/--no-holidays, "
                       "--enable/--disable")
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


def is_suppressed(session: Session, lead_id: str) -> bool:
    query = (select(col(ContactSuppression.id))
             .where(col(ContactSuppression.lead_id) == lead_id).limit(1))
    return session.scalars(query).first() is not None


def suppressed_among(session: Session, lead_ids: list[str] | set[str]) -> set[str]:
    """Which of these leads are suppressed (one indexed IN query per 500 ids)."""
    ids = list(set(lead_ids))
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        found.update(session.scalars(select(col(ContactSuppression.lead_id)).where(
            col(ContactSuppression.lead_id).in_(chunk))))
    return found


@dataclass(frozen=True)
class ZoneAnswer:
    timezone: str
    local_time: str  # local wall-clock time with its offset
    open: bool


@dataclass(frozen=True)
class ContactAnswer:
    allowed: bool
    reason: str | None
    zones: list[ZoneAnswer]
    next_open_at: datetime | None


def _answer(decision: Decision) -> ContactAnswer:
    zones = [ZoneAnswer(z.timezone, z.local_time, z.open) for z in decision.zones]
    return ContactAnswer(decision.allowed, decision.reason, zones, decision.next_open_at)


def can_contact(
    session: Session,
    *,
    province: str,
    market: str | None,
    channel: str,
    at: datetime,
    lead_score: int | None = None,
    lead_id: str | None = None,
) -> ContactAnswer:
    """The contact decision for an instant (SPEC section 8)."""
    channel = check_channel(channel)
    lead_score = check_score(lead_score)
    lead = parse_lead_id(lead_id, field="--lead") if lead_id is not None else None
    policy = effective_policy(session, province=province, market=market)
    if policy.min_lead_score > 0 and lead_score is None:
        raise BadInput(f"--lead-score is required: the {policy.province}/{policy.market} policy "
                       f"has a minimum lead score of {policy.min_lead_score}")
    decision = decide(
        enabled=policy.enabled, channel_allowed=channel in policy.channels,
        min_lead_score=policy.min_lead_score, lead_score=lead_score,
        suppressed=lead is not None and is_suppressed(session, lead),
        rules=policy.rules(channel), instant=at,
    )
    return _answer(decision)


@dataclass(frozen=True)
class SuppressionView:
    id: int
    lead_id: str
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


def suppress(session: Session, *, lead_id: str, phone: str | None, reason: str, actor: str,
             at: datetime) -> SuppressionView:
    """Suppress a lead on every channel at once; its remaining follow-up tasks are cancelled.

    Suppressing the same lead (and phone) again returns the existing entry (`created: false`).
    """
    lead = parse_lead_id(lead_id)
    reason = parse_text(reason, field="--reason", max_length=2000) or ""
    if not reason:
        raise BadInput("--reason must not be empty")
    phone = phone.strip() if phone else None
    if phone is not None and (len(phone) > 40 or not any(c.isdigit() for c in phone)):
        raise BadInput(f"--phone {phone!r} is not a phone number")
    existing = session.scalars(select(ContactSuppression).where(
        col(ContactSuppression.lead_id) == lead,
        col(ContactSuppression.phone).is_(None) if phone is None
        else col(ContactSuppression.phone) == phone,
    ).limit(1)).first()
    from valhalla_cli.services.ladder_tasks import cancel_active_tasks

    cancelled = cancel_active_tasks(session, lead_id=lead, at=at,
                                    reason=f"suppressed: {reason.strip()}")
    if existing is not None:
        return _suppression_view(existing, False, cancelled)
    row = ContactSuppression(lead_id=lead, phone=phone, reason=reason.strip(), at=at, actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, pack=PACK, action="suppress", actor=actor, at=at, subject=lead,
                 after={"phone": phone, "tasks_cancelled": cancelled}, reason=row.reason)
    return _suppression_view(row, True, cancelled)


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
    from valhalla_cli.services.runbook import FAIL, OK, CheckResult

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
        return CheckResult("market", FAIL, "; ".join(problems[:3]) + more, fix)
    markets = sum(1 for (_, m) in cache.rows if m != PROVINCE_WIDE)
    return CheckResult("market", OK, f"13 provinces enabled, {markets} market policies, windows "
                       "inside CRTC hours, zones valid")


def count_suppressions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ContactSuppression)) or 0
