"""Shared money parsing: what an amount may look like, and how large it may be."""

from decimal import Decimal

import pytest

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import MAX_MONEY, parse_money
from valhalla_cli.money import to_cents


@pytest.mark.parametrize("text", ["١٢٣", "１２３", "12\u0663"])
def test_digits_other_than_ascii_are_not_amounts(text):
    # Decimal() reads Arabic-Indic and full-width digits; an amount field must not.
    assert Decimal(text) > 0
    with pytest.raises(BadInput, match="not an amount"):
        parse_money(text, field="--arv")


@pytest.mark.parametrize("text", ["9" * 25, "92233720368547758.08", "-1000000000.01"])
def test_amounts_beyond_one_billion_are_bad_input_not_a_crash(text):
    with pytest.raises(BadInput, match="too large"):
        parse_money(text, field="--arv", allow_negative=True)


def test_the_largest_amount_is_one_billion_and_fits_a_bigint_in_cents():
    assert parse_money(str(MAX_MONEY), field="x") == MAX_MONEY == Decimal("1000000000.00")
    assert to_cents(MAX_MONEY) < 2**63 - 1
    assert parse_money("-" + str(MAX_MONEY), field="x", allow_negative=True) == -MAX_MONEY
    with pytest.raises(BadInput, match="too large"):
        parse_money("1000000000.01", field="x")


@pytest.mark.parametrize("text", ["4.5e5", "1_000", "１５００", "1,000", "1.005", "0x10", "١٢"])
def test_only_plain_ascii_decimals_are_amounts(text):
    with pytest.raises(BadInput):
        parse_money(text, field="--arv")
