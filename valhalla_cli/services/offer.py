"""Offer strategy: bounded offers, their policies and their immutable evidence (SPEC 12).

All money arithmetic is done in whole cents with integers (exact) and shown as Decimal; ratios
are exact basis points. Nothing passes through float except ratios rendered for display.

    fees          = assignment fee + closing costs + holding costs
    ARV x arv_pct   rounded down to the cent
    mao           = ARV x arv_pct - repairs - fees
    max_offer     = mao rounded down to a multiple of `rounding`
    opening_offer = mao x opening_ratio, rounded down to a multiple of `rounding`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.importing import RowSource
from valhalla_cli.inputs import (
    MAX_MONEY,
    market_key,
    parse_decimal,
    parse_int,
    parse_market,
    parse_money,
    parse_property_type,
    parse_province,
    parse_text,
)
from valhalla_cli.models import OfferEvidence, OfferPolicy
from valhalla_cli.models.types import pk
from valhalla_cli.money import format_money, from_cents, to_cents
from valhalla_cli.services import liquidity

PACK = "offer"
PROVINCE_WIDE = "*"
BPS = 10_000
ARV_PCT_BOUNDS_BPS = (6000, 8000)  # 0.60 - 0.80
# One billion dollars: no house, fee or repair bill is larger (a typo), and with every input
# below it the figures (fees, a negative MAO) stay far inside the BIGINT cents columns.

# SPEC 12 defaults (the migration seeds the same values).
DEFAULTS = {
    "arv_pct_bps": 7000,
    "assignment_fee_cents": 10_000_00,
    "closing_costs_cents": 0,
    "holding_costs_cents": 0,
    "rounding_cents": 500_00,
    "opening_ratio_bps": 9000,
    "min_arv_cents": 50_000_00,
    "min_liquidity_score": None,
    "enabled": False,
}
FIELDS = ("arv_pct_bps", "assignment_fee_cents", "closing_costs_cents", "holding_costs_cents",
          "rounding_cents", "opening_ratio_bps", "min_arv_cents", "min_liquidity_score",
          "enabled")

POLICY_DISABLED = "policy_disabled"
ARV_BELOW_MINIMUM = "arv_below_minimum"
NO_VIABLE_OFFER = "no_viable_offer"
LIQUIDITY_BELOW_MINIMUM = "liquidity_below_minimum"
OFFERS_THROTTLED = "offers_throttled"


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------


def floor_to_multiple(cents: int, step_cents: int) -> int:
    """Round a non-negative amount of cents down to a multiple of `step_cents`."""
    if step_cents <= 0:
        raise ValueError("rounding must be positive")
    return (cents // step_cents) * step_cents


def apply_ratio_down(cents: int, ratio_bps: int) -> int:
    """cents x ratio, rounded down to the cent (exact integer arithmetic)."""
    return (cents * ratio_bps) // BPS


@dataclass(frozen=True)
class Figures:
    """The arithmetic of one offer, every amount exact to the cent."""

    arv: Decimal
    arv_pct: float
    arv_times_pct: Decimal
    repairs: Decimal
    assignment_fee: Decimal
    closing_costs: Decimal
    holding_costs: Decimal
    fees: Decimal
    mao: Decimal
    rounding: Decimal
    max_offer: Decimal | None
    opening_ratio: float
    mao_times_opening_ratio: Decimal | None
    opening_offer: Decimal | None


def offer_figures(*, arv: Decimal, repairs: Decimal, assignment_fee: Decimal,
                  closing_costs: Decimal, holding_costs: Decimal, arv_pct_bps: int,
                  rounding: Decimal, opening_ratio_bps: int) -> Figures:
    """MAO, maximum and opening offers. With mao <= 0 there is no offer (None)."""
    arv_c, repairs_c = to_cents(arv), to_cents(repairs)
    parts = [to_cents(assignment_fee), to_cents(closing_costs), to_cents(holding_costs)]
    rounding_c = to_cents(rounding)
    gross_c = apply_ratio_down(arv_c, arv_pct_bps)
    fees_c = sum(parts)
    mao_c = gross_c - repairs_c - fees_c
    max_c = opening_base_c = opening_c = None
    if mao_c > 0:
        max_c = floor_to_multiple(mao_c, rounding_c)
        opening_base_c = apply_ratio_down(mao_c, opening_ratio_bps)
        opening_c = floor_to_multiple(opening_base_c, rounding_c)
    return Figures(
        arv=from_cents(arv_c), arv_pct=arv_pct_bps / BPS, arv_times_pct=from_cents(gross_c),
        repairs=from_cents(repairs_c), assignment_fee=from_cents(parts[0]),
        closing_costs=from_cents(parts[1]), holding_costs=from_cents(parts[2]),
        fees=from_cents(fees_c), mao=from_cents(mao_c), rounding=from_cents(rounding_c),
        max_offer=None if max_c is None else from_cents(max_c),
        opening_ratio=opening_ratio_bps / BPS,
        mao_times_opening_ratio=None if opening_base_c is None else from_cents(opening_base_c),
        opening_offer=None if opening_c is None else from_cents(opening_c),
    )


def median(values: list[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def arv_from_comps(price_per_sqft: list[Fraction], sqft: Decimal) -> Decimal:
    """Median sold price per square foot x sqft, rounded down to the cent (exact)."""
    value = median(price_per_sqft) * Fraction(sqft) * 100
    return from_cents(value.numerator // value.denominator)


def _fraction_text(value: Fraction, places: int = 4) -> str:
    scaled = value * 10**places
    whole = scaled.numerator // scaled.denominator
    text = f"{Decimal(whole).scaleb(-places):f}"
    return text


# ---------------------------------------------------------------------------------------------
# Input parsing
# ---------------------------------------------------------------------------------------------


def parse_ratio(value: str | Decimal, *, option: str, low_bps: int, high_bps: int) -> int:
    """A ratio such as 0.70 -> basis points; at most 4 decimals, within bounds (inclusive)."""
    amount = parse_decimal(value, field=option, max_places=4, example="0.70")
    bps_int = int(amount * BPS)
    if not low_bps <= bps_int <= high_bps:
        raise BadInput(f"{option}: {value!r} must be between {low_bps / BPS:.2f} and "
                       f"{high_bps / BPS:.2f} (a fraction, e.g. 0.70)")
    return bps_int


def parse_sqft(value: str | Decimal | None, *, option: str) -> Decimal:
    if value is None:
        raise BadInput(f"{option} is required with --comps (the subject property's size)")
    size = parse_decimal(value, field=option, max_places=2, example="1450")
    if size <= 0:
        raise BadInput(f"{option}: {value!r} must be a positive number of square feet "
                       "(at most two decimals)")
    return size


def parse_min_liquidity_score(value: str | int) -> int:
    return parse_int(value, field="--min-liquidity-score", minimum=0, maximum=100)


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


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
        """What is out of bounds (SPEC 12), as short phrases."""
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
    note = None if reason is None else (" ".join(reason.split()) or None)

    row = session.scalars(select(OfferPolicy).where(
        col(OfferPolicy.province) == province, col(OfferPolicy.market_key) == market_key(key)
    ).with_for_update()).first()
    created = row is None
    if row is not None:
        key = row.market  # the spelling the policy was created with
    if row is None:
        if key == PROVINCE_WIDE:
            start: dict[str, Any] = {**DEFAULTS, "min_liquidity_inherit": False}
        else:
            start = {name: None for name in FIELDS} | {"min_liquidity_inherit": True}
    else:
        start = {name: getattr(row, name) for name in (*FIELDS, "min_liquidity_inherit")}
    before = None if created else _row_dict(OfferPolicy(province=province, market=key,
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
    if row is None:
        row = candidate
        session.add(row)
    else:
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


# ---------------------------------------------------------------------------------------------
# Computing an offer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comp:
    line: int
    address: str
    sold_price: Decimal
    sqft: Decimal
    sold_on: date
    price_per_sqft: str


@dataclass(frozen=True)
class CompsSummary:
    file: str
    count: int
    median_price_per_sqft: str
    sqft: Decimal
    arv: Decimal


MAX_COMPS = 1000


COMPS_COLUMNS = ("address", "sold_price", "sqft", "sold_on")


def read_comps(source: RowSource, *, not_after: date) -> tuple[list[Comp], list[Fraction]]:
    """Comparable sales (rows with address, sold_price, sqft, sold_on, which the face read from
    a CSV file); a malformed row is exit 2 naming file:line and field."""
    from valhalla_cli.importing import RowError, validated

    def validate(row: dict[str, Any]) -> tuple[Comp, Fraction]:
        address = " ".join(str(row["address"]).split())
        try:
            price = parse_money(str(row["sold_price"]), field="sold_price",
                                  allow_zero=False)
        except BadInput as exc:
            raise RowError("sold_price", exc.message) from None
        try:
            size = parse_sqft(str(row["sqft"]), option="sqft")
        except BadInput as exc:
            raise RowError("sqft", exc.message) from None
        try:
            sold_on = date.fromisoformat(str(row["sold_on"]).strip())
        except ValueError:
            raise RowError("sold_on", f"{row['sold_on']!r} is not a date (YYYY-MM-DD)") from None
        if sold_on > not_after:
            raise RowError("sold_on", f"{sold_on} is after the offer date {not_after}")
        per_sqft = Fraction(to_cents(price), 100) / Fraction(size)
        return Comp(0, address, price, size, sold_on, _fraction_text(per_sqft)), per_sqft

    comps: list[Comp] = []
    ratios: list[Fraction] = []
    path = source.name
    for line, (comp, ratio) in validated(path, source.rows, validate):
        if len(comps) >= MAX_COMPS:
            raise BadInput(f"{path}: more than {MAX_COMPS} comparable sales; keep the relevant "
                           "ones")
        comps.append(Comp(line, comp.address, comp.sold_price, comp.sqft, comp.sold_on,
                          comp.price_per_sqft))
        ratios.append(ratio)
    if not comps:
        raise BadInput(f"{path}: no comparable sales in the file")
    return comps, ratios


@dataclass(frozen=True)
class Fees:
    assignment_fee: Decimal
    closing_costs: Decimal
    holding_costs: Decimal
    total: Decimal
    assignment_fee_overridden: bool


@dataclass(frozen=True)
class LiquidityAtTime:
    score: int | None
    band: str
    sent: int
    responded: int
    closed: int
    window_start: date
    window_end: date
    min_liquidity_score: int | None


@dataclass(frozen=True)
class Step:
    step: str
    amount: Decimal | None
    note: str = ""


@dataclass(frozen=True)
class OfferResult:
    evidence_id: int | None
    at: datetime
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    arv: Decimal
    arv_source: str  # given | comps
    repairs: Decimal
    fees: Fees
    arv_pct: float
    arv_times_pct: Decimal
    mao: Decimal
    rounding: Decimal
    max_offer: Decimal | None
    opening_ratio: float
    mao_times_opening_ratio: Decimal | None
    opening_offer: Decimal | None
    policy: PolicyView
    liquidity: LiquidityAtTime
    comps: CompsSummary | None
    mode: str  # sandbox | production
    throttled: bool
    outcome: str  # offer | refused
    reason: str | None
    reasons: list[str]
    message: str | None
    warning: str | None = None
    steps: list[Step] = field(default_factory=list)


def _steps(fig: Figures, comps: CompsSummary | None, rounding: Decimal,
           assignment_overridden: bool, refused: bool) -> list[Step]:
    arv_note = (f"median {comps.median_price_per_sqft}/sqft of {comps.count} comps x "
                f"{comps.sqft} sqft, rounded down to the cent" if comps else "given")
    steps = [
        Step("ARV", fig.arv, arv_note),
        Step(f"x arv_pct {fig.arv_pct:g}", fig.arv_times_pct, "rounded down to the cent"),
        Step("- repairs", -fig.repairs),
        Step("- assignment fee", -fig.assignment_fee,
             "from --assignment-fee" if assignment_overridden else "policy"),
        Step("- closing costs", -fig.closing_costs, "policy"),
        Step("- holding costs", -fig.holding_costs, "policy"),
        Step("= MAO", fig.mao, "maximum allowable offer"),
    ]
    if fig.max_offer is not None and not refused:
        steps.append(Step("max offer", fig.max_offer, f"MAO rounded down to a multiple of "
                          f"{format_money(rounding)}"))
        steps.append(Step(f"MAO x opening_ratio {fig.opening_ratio:g}",
                          fig.mao_times_opening_ratio, "rounded down to the cent"))
        steps.append(Step("opening offer", fig.opening_offer, f"rounded down to a multiple of "
                          f"{format_money(rounding)}"))
    return steps


def _refusals(policy: EffectivePolicy, fig: Figures, liq: liquidity.LiquidityScore,
              market: str | None) -> list[tuple[str, str]]:
    found = []
    where = policy.province + (f" {market}" if market else "")
    if not policy.enabled:
        scope = "missing" if policy.source == "missing" else "disabled"
        found.append((POLICY_DISABLED,
                      f"the offer policy for {where} is {scope} (enable it with `valhalla offer "
                      f"policy-set {policy.province} --enable`)"))
    if to_cents(fig.arv) < policy.min_arv_cents:
        found.append((ARV_BELOW_MINIMUM,
                      f"ARV {format_money(fig.arv)} is below the policy minimum "
                      f"{format_money(from_cents(policy.min_arv_cents))}"))
    if fig.mao <= 0 or not fig.max_offer or not fig.opening_offer:
        found.append((NO_VIABLE_OFFER,
                      f"no viable offer: MAO is {format_money(fig.mao)} after repairs and fees"
                      + ("" if fig.mao <= 0 else
                         f", which rounds down to nothing at {format_money(fig.rounding)}")))
    minimum = policy.min_liquidity_score
    if minimum is not None and (liq.score is None or liq.score < minimum):
        node = f"{market or '(no market)'} {liq.property_type}"
        have = ("unknown (fewer than 10 feedback events in 90 days)" if liq.score is None
                else f"{liq.score} ({liq.band})")
        found.append((LIQUIDITY_BELOW_MINIMUM,
                      f"buyer liquidity for {policy.province} {node} is {have}; the policy "
                      f"needs at least {minimum}"))
    return found


def compute(
    session: Session, *, province: str, market: str | None, property_type: str | None,
    repairs: str | Decimal | None, at: datetime, actor: str, business_timezone: str,
    enforce: bool, arv: str | Decimal | None = None, comps: RowSource | None = None,
    sqft: str | Decimal | None = None, assignment_fee: str | Decimal | None = None,
    deal_ref: str | None = None, note: str | None = None, recorded_at: datetime | None = None,
) -> OfferResult:
    """Compute a bounded offer and write its evidence (refusals too); emit `offer_generated`.

    Every input is validated before anything is read or written (bad input: exit 2, nothing
    written). A refusal still computes what it can, writes evidence with its reason, and
    leaves `max_offer` / `opening_offer` empty so that nobody sends a refused figure.
    """
    from valhalla_cli.clock import business_date, utcnow
    from valhalla_cli.models.types import stored_json
    from valhalla_cli.services import golive, kpi, levers

    # 1. Validate every input.
    province = parse_province(province)
    property_type = parse_property_type(property_type)
    market = None if market is None else parse_market(market)
    if repairs is None:
        raise BadInput("--repairs is required (0 when there are none)")
    repairs_d = parse_money(repairs, field="--repairs")
    fee_override = None if assignment_fee is None else parse_money(
        assignment_fee, field="--assignment-fee")
    ref = parse_text(deal_ref, field="--deal-ref")
    note_text = parse_text(note, field="--note", max_length=2000)
    if (arv is None) == (comps is None):
        raise BadInput("give the ARV either as --arv A or as --comps FILE --sqft S (one of them)")
    comps_summary: CompsSummary | None = None
    comps_rows: list[Comp] | None = None
    if arv is not None:
        if sqft is not None:
            raise BadInput("--sqft goes with --comps; with --arv leave it out")
        arv_d = parse_money(arv, field="--arv", allow_zero=False)
    else:
        assert comps is not None
        comps_path = comps.name
        size = parse_sqft(sqft, option="--sqft")
        comps_rows, ratios = read_comps(comps, not_after=business_date(at,
                                                                            business_timezone))
        arv_d = arv_from_comps(ratios, size)
        if arv_d <= 0:
            raise BadInput(f"{comps_path}: the comps give an ARV of {format_money(arv_d)}")
        if arv_d > MAX_MONEY:
            raise BadInput(f"{comps_path}: the comps give an ARV above {MAX_MONEY:,.2f} "
                           f"for --sqft {size} (check the size)")
        comps_summary = CompsSummary(file=comps_path, count=len(comps_rows),
                                     median_price_per_sqft=_fraction_text(median(ratios)),
                                     sqft=size, arv=arv_d)

    # 2. Read the policy, the market's liquidity and the control plane.
    policy = effective_policy(session, province=province, market=market)
    liq = liquidity.score(session, province=province, market=market,
                          property_type=property_type, at=at,
                          business_timezone=business_timezone)
    live = golive.live_status(session, enforce=enforce)
    throttle = levers.throttled_lever(session, "offers")

    # 3. The arithmetic.
    fig = offer_figures(
        arv=arv_d, repairs=repairs_d,
        assignment_fee=fee_override if fee_override is not None
        else from_cents(policy.assignment_fee_cents),
        closing_costs=from_cents(policy.closing_costs_cents),
        holding_costs=from_cents(policy.holding_costs_cents),
        arv_pct_bps=policy.arv_pct_bps, rounding=from_cents(policy.rounding_cents),
        opening_ratio_bps=policy.opening_ratio_bps,
    )
    refusals = _refusals(policy, fig, liq, market)
    refused = bool(refusals)
    reasons = [code for code, _ in refusals]
    message = refusals[0][1] if refusals else None
    if throttle is not None:
        reasons.append(OFFERS_THROTTLED)
        if not refused:
            message = "do not send: " + throttle.message
    result = OfferResult(
        evidence_id=None, at=at, province=province, market=market,
        property_type=property_type, deal_ref=ref, arv=fig.arv,
        arv_source="comps" if comps_summary else "given", repairs=fig.repairs,
        fees=Fees(fig.assignment_fee, fig.closing_costs, fig.holding_costs, fig.fees,
                  fee_override is not None),
        arv_pct=fig.arv_pct, arv_times_pct=fig.arv_times_pct, mao=fig.mao,
        rounding=fig.rounding,
        max_offer=None if refused else fig.max_offer, opening_ratio=fig.opening_ratio,
        mao_times_opening_ratio=None if refused else fig.mao_times_opening_ratio,
        opening_offer=None if refused else fig.opening_offer,
        policy=_view(policy, market=policy.market or PROVINCE_WIDE),
        liquidity=LiquidityAtTime(liq.score, liq.band, liq.sent, liq.responded, liq.closed,
                                  liq.window_start, liq.window_end, policy.min_liquidity_score),
        comps=comps_summary, mode="production" if live.live else "sandbox",
        throttled=throttle is not None, outcome="refused" if refused else "offer",
        reason=reasons[0] if reasons else None, reasons=reasons, message=message,
        warning=live.warning,
        steps=_steps(fig, comps_summary, fig.rounding, fee_override is not None, refused),
    )

    # 4. The evidence (immutable) and the KPI.
    inputs = {"province": province, "market": market, "property_type": property_type,
              "arv": arv_d if arv is not None else None,
              "comps_file": comps.name if comps is not None else None,
              "sqft": comps_summary.sqft if comps_summary else None, "repairs": repairs_d,
              "assignment_fee": fee_override, "deal_ref": ref, "note": note_text,
              "at": at}
    evidence = OfferEvidence(
        at=at, recorded_at=recorded_at or utcnow(), actor=actor, province=province,
        market=market, property_type=property_type, deal_ref=ref, note=note_text,
        mode=result.mode, throttled=result.throttled, outcome=result.outcome,
        reason=result.reason, arv_cents=to_cents(fig.arv), repairs_cents=to_cents(fig.repairs),
        fees_cents=to_cents(fig.fees), mao_cents=to_cents(fig.mao),
        max_offer_cents=None if result.max_offer is None else to_cents(result.max_offer),
        opening_offer_cents=(None if result.opening_offer is None
                             else to_cents(result.opening_offer)),
        liquidity_score=liq.score, liquidity_band=liq.band,
        inputs=stored_json(inputs), policy=stored_json(result.policy),
        comps=stored_json(comps_rows) if comps_rows is not None else None,
        liquidity=stored_json(result.liquidity), result=stored_json(result),
    )
    session.add(evidence)
    session.flush()
    if not refused:
        kpi.emit(session, metric="offer_generated", value=1.0, at=at, province=province,
                 market=market, ref=ref or f"offer_evidence:{evidence.id}", source="offer")
    return OfferResult(**{**result.__dict__, "evidence_id": evidence.id})


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceSummary:
    id: int
    at: datetime
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    outcome: str
    reason: str | None
    mode: str
    throttled: bool
    arv: Decimal
    mao: Decimal
    max_offer: Decimal | None
    opening_offer: Decimal | None
    liquidity_score: int | None
    liquidity_band: str
    actor: str


@dataclass(frozen=True)
class EvidenceDetail:
    id: int
    at: datetime
    recorded_at: datetime
    actor: str
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    note: str | None
    mode: str
    throttled: bool
    outcome: str
    reason: str | None
    arv: Decimal
    repairs: Decimal
    fees: Decimal
    mao: Decimal
    max_offer: Decimal | None
    opening_offer: Decimal | None
    liquidity_score: int | None
    liquidity_band: str
    inputs: dict[str, Any]
    policy: dict[str, Any]
    comps: list[Any] | None
    liquidity: dict[str, Any]
    result: dict[str, Any]


def _money(cents: int | None) -> Decimal | None:
    return None if cents is None else from_cents(cents)


def list_evidence(session: Session, *, province: str | None = None, deal_ref: str | None = None,
                  limit: int = 50) -> list[EvidenceSummary]:
    """Newest first (served by the primary key, or (province, id), or deal_ref)."""
    if limit < 1 or limit > 10_000:
        raise BadInput("--limit must be between 1 and 10000")
    query = select(OfferEvidence)
    if province is not None:
        query = query.where(col(OfferEvidence.province) == parse_province(province))
    if deal_ref is not None:
        query = query.where(col(OfferEvidence.deal_ref) == deal_ref.strip())
    query = query.order_by(col(OfferEvidence.id).desc()).limit(limit)
    return [
        EvidenceSummary(
            id=pk(r.id), at=r.at, province=r.province, market=r.market,
            property_type=r.property_type, deal_ref=r.deal_ref, outcome=r.outcome,
            reason=r.reason, mode=r.mode, throttled=r.throttled, arv=from_cents(r.arv_cents),
            mao=from_cents(r.mao_cents), max_offer=_money(r.max_offer_cents),
            opening_offer=_money(r.opening_offer_cents), liquidity_score=r.liquidity_score,
            liquidity_band=r.liquidity_band, actor=r.actor,
        )
        for r in session.scalars(query)
    ]


def show_evidence(session: Session, *, evidence_id: int) -> EvidenceDetail:
    if evidence_id < 1:
        raise BadInput(f"evidence id {evidence_id} must be a positive whole number")
    r = session.get(OfferEvidence, evidence_id)
    if r is None:
        raise NotFound(f"no offer evidence {evidence_id} (see `valhalla offer evidence list`)")
    return EvidenceDetail(
        id=pk(r.id), at=r.at, recorded_at=r.recorded_at, actor=r.actor, province=r.province,
        market=r.market, property_type=r.property_type, deal_ref=r.deal_ref, note=r.note,
        mode=r.mode, throttled=r.throttled, outcome=r.outcome, reason=r.reason,
        arv=from_cents(r.arv_cents), repairs=from_cents(r.repairs_cents),
        fees=from_cents(r.fees_cents), mao=from_cents(r.mao_cents),
        max_offer=_money(r.max_offer_cents), opening_offer=_money(r.opening_offer_cents),
        liquidity_score=r.liquidity_score, liquidity_band=r.liquidity_band, inputs=r.inputs,
        policy=r.policy, comps=r.comps, liquidity=r.liquidity, result=r.result,
    )


# ---------------------------------------------------------------------------------------------
# Runbook
# ---------------------------------------------------------------------------------------------


def runbook_check(session: Session, settings: Any, at: datetime) -> Any:
    """`offers`: fail when an enabled policy is out of bounds; warn when none is enabled."""
    from valhalla_cli.services.runbook import FAIL, OK, WARN, CheckResult

    rows = list(session.scalars(select(OfferPolicy)))
    bases = {r.province: r for r in rows if r.market == PROVINCE_WIDE}
    enabled, broken = [], []
    for row in rows:
        merged = _merge(row, None) if row.market == PROVINCE_WIDE else _merge(
            bases.get(row.province), row)
        if not merged.enabled:
            continue
        label = row.province + ("" if row.market == PROVINCE_WIDE else f"/{row.market}")
        enabled.append(label)
        problems = merged.problems()
        if problems:
            broken.append(f"{label}: {'; '.join(problems)}")
    if broken:
        first = broken[0].split(":")[0]
        province, _, market = first.partition("/")
        fix = (f"valhalla offer policy-set {province}" + (f" --market {market!r}" if market
                                                          else "") + " --disable")
        return CheckResult("offers", FAIL, "enabled offer policies out of bounds: "
                           + " | ".join(broken), fix)
    if not enabled:
        return CheckResult("offers", WARN, "no offer policy is enabled (offers are refused "
                           "everywhere)", "valhalla offer policy-set ON --enable")
    return CheckResult("offers", OK, f"{len(enabled)} enabled offer policies within bounds: "
                       + ", ".join(enabled))
