"""The offer arithmetic as pure functions over whole cents, with the policy defaults
and the refusal codes; no database."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from valhalla_cli.money import from_cents, to_cents
from valhalla_cli.services.audit import Pack

__all__ = ["ARV_BELOW_MINIMUM", "ARV_PCT_BOUNDS_BPS", "BPS", "DEFAULTS", "FIELDS",
           "KPI_OFFER_GENERATED", "LIQUIDITY_BELOW_MINIMUM", "NO_VIABLE_OFFER", "OFFERS_THROTTLED",
           "PACK", "PROVINCE_WIDE", "Figures", "apply_ratio_down", "arv_from_comps",
           "floor_to_multiple", "median", "offer_figures"]

PACK = Pack.OFFER
KPI_OFFER_GENERATED = "offer_generated"  # KPI: 1 per offer computed and not refused
PROVINCE_WIDE = "*"
BPS = 10_000
ARV_PCT_BOUNDS_BPS = (6000, 8000)  # 0.60 - 0.80
# The offer policy's defaults (migration 0004 seeds the same values).
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

ARV_BELOW_MINIMUM = "arv_below_minimum"
NO_VIABLE_OFFER = "no_viable_offer"
LIQUIDITY_BELOW_MINIMUM = "liquidity_below_minimum"
OFFERS_THROTTLED = "offers_throttled"



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
