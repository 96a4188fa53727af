"""Money is Decimal at the edges and whole cents in the database; never float.

Parsing an amount someone typed is `valhalla_cli.inputs.parse_money` (the one definition).
"""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """Dollars (already exact to the cent) to whole cents."""
    quantized = amount.quantize(CENT)
    if quantized != amount:
        raise ValueError(f"{amount} has a fraction of a cent")
    return int(quantized * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def format_money(amount: Decimal | None) -> str | None:
    """Money as a string with two decimals: '255000.00'."""
    if amount is None:
        return None
    return f"{amount.quantize(CENT):f}"
