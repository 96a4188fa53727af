"""The offer pack's own inputs: ratios in basis points, a property's size, a liquidity
minimum."""

from __future__ import annotations

from decimal import Decimal

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_decimal, parse_int
from valhalla_cli.services.offer.mao import BPS

__all__ = ["parse_min_liquidity_score", "parse_ratio", "parse_sqft"]


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
