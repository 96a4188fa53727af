"""Money is Decimal at the edges and whole cents in the database; never float."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from valhalla_cli.errors import BadInput

CENT = Decimal("0.01")
# The largest amount whose cents fit a BIGINT column.
MAX_MONEY = Decimal(2**63 - 1) / 100


def parse_money(
    value: str | int | Decimal,
    *,
    field: str,
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> Decimal:
    """Parse an amount in dollars. More than two decimals, NaN or a sign not allowed: bad input."""
    if isinstance(value, float):  # a float has already lost the cents
        raise BadInput(f"{field}: amounts must be given as text or Decimal, not float")
    text = str(value).strip().replace("_", "")
    if not text.isascii():  # Decimal() would read Arabic-Indic or full-width digits
        raise BadInput(f"{field}: {value!r} is not an amount (e.g. 1250.50)")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadInput(f"{field}: {value!r} is not an amount (e.g. 1250.50)") from None
    if not amount.is_finite():
        raise BadInput(f"{field}: {value!r} is not an amount (e.g. 1250.50)")
    if abs(amount) > MAX_MONEY:  # beyond it, quantize() raises or the cents overflow BIGINT
        raise BadInput(f"{field}: {value!r} is too large (at most {MAX_MONEY:,.2f})")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise BadInput(f"{field}: {value!r} has more than two decimal places")
    if amount < 0 and not allow_negative:
        raise BadInput(f"{field}: {value!r} must not be negative")
    if amount == 0 and not allow_zero:
        raise BadInput(f"{field}: {value!r} must be greater than zero")
    return amount.quantize(CENT)


def to_cents(amount: Decimal) -> int:
    """Dollars (already exact to the cent) to whole cents."""
    quantized = amount.quantize(CENT)
    if quantized != amount:
        raise ValueError(f"{amount} has a fraction of a cent")
    return int(quantized * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def round_down_to_cent(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_DOWN)


def format_money(amount: Decimal | None) -> str | None:
    """Money as a string with two decimals: '255000.00'."""
    if amount is None:
        return None
    return f"{amount.quantize(CENT):f}"
