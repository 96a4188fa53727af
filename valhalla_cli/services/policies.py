"""Market policies (province routing): the stored policies, their field-by-field inheritance,
setting one (audited), and the runbook's check of them.

A market policy `(province, market)` overrides the province-wide policy `(province, '*')` field by
field (windows channel by channel); what it leaves NULL is inherited. The window / holiday /
next-opening calculus is in `contact_rules` (pure functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import PROVINCES, market_key, parse_market, parse_province
from valhalla_cli.models import MarketPolicy
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import (
    CHANNELS,
    ChannelRules,
    check_channels,
    check_score,
    check_zone,
    seeded_windows,
    window_problems,
    windows_from_specs,
)
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
    return view_of(PolicyView, row)


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
    start: dict[str, Any] = {"province": province, "market": market_name,
                             "market_key": market_key(market_name)}
    if market_name == PROVINCE_WIDE:  # a province-wide policy is always complete
        start |= {"timezones": [], "windows": seeded_windows(), "channels": list(CHANNELS),
                  "min_lead_score": 0, "quiet_on_holidays": True, "enabled": False,
                  "require_sms_consent": True}
    # Two operators creating the same market's policy at once: the second updates the first's.
    created = insert_if_missing(session, table_of(MarketPolicy), start)
    row = session.scalars(query).one()
    before = None if created else {name: getattr(row, name) for name in FIELDS}
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
