"""Offer policies: a province-wide row and market overrides laid over it; setting one is
audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import (
    market_key,
    parse_market,
    parse_money,
    parse_province,
    parse_reason,
)
from valhalla_cli.models import OfferPolicy
from valhalla_cli.models.types import table_of
from valhalla_cli.money import format_money, from_cents, to_cents
from valhalla_cli.services.offer.mao import (
    ARV_PCT_BOUNDS_BPS,
    BPS,
    DEFAULTS,
    FIELDS,
    PACK,
    PROVINCE_WIDE,
)
from valhalla_cli.services.offer.parsing import parse_min_liquidity_score, parse_ratio

__all__ = ["EffectivePolicy", "PolicySetResult", "PolicyView", "effective_policy", "list_policies",
           "set_policy"]


@dataclass(frozen=True)
class EffectivePolicy:
    """A policy as applied: the province-wide row with a market row's fields laid over it."""

    province: str
    market: str | None  # the market whose override applies, or None (province-wide)
    source: str  # province | market | missing
    arv_pct_bps: int
    assignment_fee_cents: int
    closing_costs_cents: int
    holding_costs_cents: int
    rounding_cents: int
    opening_ratio_bps: int
    min_arv_cents: int
    min_liquidity_score: int | None
    enabled: bool
    overrides: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What is out of bounds, as short phrases."""
        found = []
        low, high = ARV_PCT_BOUNDS_BPS
        if not low <= self.arv_pct_bps <= high:
            found.append(f"arv_pct {self.arv_pct_bps / BPS} outside 0.60-0.80")
        for name in ("assignment_fee_cents", "closing_costs_cents", "holding_costs_cents",
                     "min_arv_cents"):
            if getattr(self, name) < 0:
                found.append(f"{name.removesuffix('_cents')} is negative")
        if self.rounding_cents <= 0:
            found.append("rounding must be greater than zero")
        if not 0 < self.opening_ratio_bps <= BPS:
            found.append(f"opening_ratio {self.opening_ratio_bps / BPS} outside (0, 1]")
        if self.min_liquidity_score is not None and not 0 <= self.min_liquidity_score <= 100:
            found.append(f"min_liquidity_score {self.min_liquidity_score} outside 0-100")
        return found


@dataclass(frozen=True)
class PolicyView:
    province: str
    market: str
    scope: str  # province | market
    arv_pct: float
    assignment_fee: Decimal
    closing_costs: Decimal
    holding_costs: Decimal
    rounding: Decimal
    opening_ratio: float
    min_arv: Decimal
    min_liquidity_score: int | None
    enabled: bool
    overrides: list[str]
    updated_at: datetime | None = None
    updated_by: str | None = None


def _view(policy: EffectivePolicy, *, market: str, updated_at: datetime | None = None,
          updated_by: str | None = None) -> PolicyView:
    return PolicyView(
        province=policy.province, market=market,
        scope="province" if market == PROVINCE_WIDE else "market",
        arv_pct=policy.arv_pct_bps / BPS,
        assignment_fee=from_cents(policy.assignment_fee_cents),
        closing_costs=from_cents(policy.closing_costs_cents),
        holding_costs=from_cents(policy.holding_costs_cents),
        rounding=from_cents(policy.rounding_cents), opening_ratio=policy.opening_ratio_bps / BPS,
        min_arv=from_cents(policy.min_arv_cents), min_liquidity_score=policy.min_liquidity_score,
        enabled=policy.enabled, overrides=list(policy.overrides), updated_at=updated_at,
        updated_by=updated_by,
    )


def _merge(base: OfferPolicy | None, override: OfferPolicy | None) -> EffectivePolicy:
    values: dict[str, Any] = dict(DEFAULTS)
    source = "missing"
    if base is not None:
        source = "province"
        for name in FIELDS:
            value = getattr(base, name)
            if value is not None or name == "min_liquidity_score":
                values[name] = value
        values["enabled"] = bool(base.enabled)
    overrides: list[str] = []
    if override is not None:
        source = "market" if base is not None else "missing"
        for name in FIELDS:
            value = getattr(override, name)
            if name == "min_liquidity_score":
                if override.min_liquidity_inherit:
                    continue
            elif value is None:
                continue
            values[name] = value
            overrides.append(_public_name(name))
    if base is None:
        values["enabled"] = False  # no province-wide policy: fail closed
    return EffectivePolicy(
        province=first.province if (first := base or override) is not None else "",
        market=override.market if override is not None else None, source=source,
        overrides=tuple(overrides), **values,
    )


def _public_name(column: str) -> str:
    return column.removesuffix("_cents").removesuffix("_bps")


def _rows(session: Session, province: str, market: str | None
          ) -> tuple[OfferPolicy | None, OfferPolicy | None]:
    keys = [PROVINCE_WIDE] + ([market_key(market)] if market else [])
    rows = {r.market_key: r for r in session.scalars(
        select(OfferPolicy).where(col(OfferPolicy.province) == province,
                                  col(OfferPolicy.market_key).in_(keys)))}
    return rows.get(PROVINCE_WIDE), rows.get(market_key(market)) if market else None


def effective_policy(session: Session, *, province: str, market: str | None) -> EffectivePolicy:
    base, override = _rows(session, province, market)
    merged = _merge(base, override)
    if not merged.province:
        merged = EffectivePolicy(**{**merged.__dict__, "province": province})
    return merged


def list_policies(session: Session, *, province: str | None = None) -> list[PolicyView]:
    """Every policy row as applied (market rows show the merged values and what they override)."""
    query = select(OfferPolicy).order_by(col(OfferPolicy.province), col(OfferPolicy.market))
    if province is not None:
        query = query.where(col(OfferPolicy.province) == parse_province(province))
    rows = list(session.scalars(query))
    bases = {r.province: r for r in rows if r.market == PROVINCE_WIDE}
    views = []
    for row in rows:
        if row.market == PROVINCE_WIDE:
            merged = _merge(row, None)
        else:
            merged = _merge(bases.get(row.province), row)
        views.append(_view(merged, market=row.market, updated_at=row.updated_at,
                           updated_by=row.updated_by))
    return views


@dataclass(frozen=True)
class PolicySetResult:
    province: str
    market: str
    created: bool
    changed: list[str]
    dry_run: bool
    policy: PolicyView


def set_policy(
    session: Session, *, province: str, market: str | None, actor: str, at: datetime,
    arv_pct: str | None = None, assignment_fee: str | None = None,
    closing_costs: str | None = None, holding_costs: str | None = None,
    rounding: str | None = None, opening_ratio: str | None = None, min_arv: str | None = None,
    min_liquidity_score: str | None = None, no_min_liquidity_score: bool = False,
    enabled: bool | None = None, reason: str | None = None, dry_run: bool = False,
) -> PolicySetResult:
    """Change a province-wide policy (no market) or a market override, audited.

    Bounds: arv_pct 0.60-0.80, opening_ratio above 0 up to 1, amounts >= 0, rounding > 0,
    min_liquidity_score 0-100; anything else is bad input and nothing changes.
    """
    province = parse_province(province)
    key = PROVINCE_WIDE if market is None else parse_market(market)
    if min_liquidity_score is not None and no_min_liquidity_score:
        raise BadInput("give --min-liquidity-score N or --no-min-liquidity-score, not both")
    updates: dict[str, Any] = {}
    if arv_pct is not None:
        updates["arv_pct_bps"] = parse_ratio(arv_pct, option="--arv-pct",
                                             low_bps=ARV_PCT_BOUNDS_BPS[0],
                                             high_bps=ARV_PCT_BOUNDS_BPS[1])
    for name, value, option in (("assignment_fee_cents", assignment_fee, "--assignment-fee"),
                                ("closing_costs_cents", closing_costs, "--closing-costs"),
                                ("holding_costs_cents", holding_costs, "--holding-costs"),
                                ("min_arv_cents", min_arv, "--min-arv")):
        if value is not None:
            updates[name] = to_cents(parse_money(value, field=option))
    if rounding is not None:
        updates["rounding_cents"] = to_cents(parse_money(rounding, field="--rounding",
                                                         allow_zero=False))
    if opening_ratio is not None:
        updates["opening_ratio_bps"] = parse_ratio(opening_ratio, option="--opening-ratio",
                                                   low_bps=1, high_bps=BPS)
    if min_liquidity_score is not None:
        updates["min_liquidity_score"] = parse_min_liquidity_score(min_liquidity_score)
    if no_min_liquidity_score:
        updates["min_liquidity_score"] = None
    if enabled is not None:
        updates["enabled"] = enabled
    if not updates:
        raise BadInput("nothing to change: give at least one setting (see "
                       "`valhalla offer policy-set --help`)")
    note = parse_reason(reason)

    if key == PROVINCE_WIDE:
        fresh: dict[str, Any] = {**DEFAULTS, "min_liquidity_inherit": False}
    else:
        fresh = {name: None for name in FIELDS} | {"min_liquidity_inherit": True}
    # Two operators creating the same policy at once: the second waits, then updates the
    # first's (a dry run creates nothing and reads what is there).
    created = not dry_run and insert_if_missing(session, table_of(OfferPolicy), {
        "province": province, "market": key, "market_key": market_key(key), **fresh})
    row = session.scalars(select(OfferPolicy).where(
        col(OfferPolicy.province) == province, col(OfferPolicy.market_key) == market_key(key)
    ).with_for_update()).first()  # None only on a dry run of a new policy
    if row is not None:
        key = row.market  # the spelling the policy was created with
    is_new = created or row is None
    start = fresh if is_new else {
        name: getattr(row, name) for name in (*FIELDS, "min_liquidity_inherit")}
    before = None if is_new else _row_dict(OfferPolicy(province=province, market=key,
                                                       market_key=market_key(key), **start))
    values = {**start, **updates}
    if "min_liquidity_score" in updates and key != PROVINCE_WIDE:
        values["min_liquidity_inherit"] = False
    candidate = OfferPolicy(province=province, market=key, market_key=market_key(key), **values)
    after = _row_dict(candidate)
    changed = [k for k in after if before is None or before[k] != after[k]]
    if key == PROVINCE_WIDE:
        merged = _merge(candidate, None)
    else:
        merged = _merge(session.get(OfferPolicy, (province, PROVINCE_WIDE)), candidate)
    if dry_run or not changed:
        return PolicySetResult(
            province=province, market=key, created=False, changed=changed, dry_run=dry_run,
            policy=_view(merged, market=key, updated_at=row.updated_at if row else None,
                         updated_by=row.updated_by if row else None))
    assert row is not None  # created above unless this is a dry run
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = at, actor
    session.flush()
    from valhalla_cli.services import audit

    audit.record(session, pack=PACK, action="policy_create" if created else "policy_set",
                 actor=actor, at=at, subject=f"{province}/{key}", before=before, after=after,
                 reason=note)
    return PolicySetResult(province=province, market=key, created=created, changed=changed,
                           dry_run=False,
                           policy=_view(merged, market=key, updated_at=at, updated_by=actor))


def _row_dict(row: OfferPolicy) -> dict[str, Any]:
    """A policy row in public units (for the audit log's before/after)."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(row, name)
        public = _public_name(name)
        if value is None:
            out[public] = None
        elif name.endswith("_cents"):
            out[public] = format_money(from_cents(value))
        elif name.endswith("_bps"):
            out[public] = value / BPS
        else:
            out[public] = value
    if row.market != PROVINCE_WIDE:
        out["min_liquidity_inherit"] = bool(row.min_liquidity_inherit)
    return out
