"""Offer rules: the MAO arithmetic to the cent, rounding properties, comps, policy merge,
and the immutability of offer_evidence on both engines."""

import math
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import parse_money
from valhalla_cli.services import offer

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)
TZ = "America/Toronto"


def figures(arv: str, repairs: str, *, fee="10000", closing="0", holding="0", pct=7000,
            rounding="500", opening=9000) -> offer.Figures:
    return offer.offer_figures(
        arv=Decimal(arv), repairs=Decimal(repairs), assignment_fee=Decimal(fee),
        closing_costs=Decimal(closing), holding_costs=Decimal(holding), arv_pct_bps=pct,
        rounding=Decimal(rounding), opening_ratio_bps=opening)


def test_seed_example_to_the_cent():
    fig = figures("450000", "50000")
    assert fig.arv_times_pct == Decimal("315000.00")
    assert fig.fees == Decimal("10000.00")
    assert fig.mao == Decimal("255000.00")
    assert fig.max_offer == Decimal("255000.00")
    assert fig.opening_offer == Decimal("229500.00")


def test_awkward_example_to_the_cent_where_float_would_lose_a_cent():
    # In float, 147333 * 0.70 is 103133.09999999999: rounding that down loses a cent.
    as_float = Decimal(147333 * 0.7).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    assert as_float == Decimal("103133.09")
    fig = figures("147333", "20000")
    assert fig.arv_times_pct == Decimal("103133.10")
    assert fig.mao == Decimal("73133.10")
    assert fig.max_offer == Decimal("73000.00")
    assert fig.mao_times_opening_ratio == Decimal("65819.79")
    assert fig.opening_offer == Decimal("65500.00")


def test_tenths_and_fifths_of_a_dollar_add_exactly():
    assert 0.10 + 0.20 != 0.30  # what float would do to the fees
    fig = figures("100000.10", "0.20", fee="0.10", closing="0.20", holding="0.30",
                  rounding="0.10", opening=10000)
    assert fig.fees == Decimal("0.60")
    assert fig.arv_times_pct == Decimal("70000.07")  # 70000.07 exactly (0.10 x 0.70 = 0.07)
    assert fig.mao == Decimal("69999.27")
    assert fig.max_offer == Decimal("69999.20")
    assert fig.opening_offer == Decimal("69999.20")


def test_amounts_given_as_float_are_refused():
    with pytest.raises(BadInput):
        parse_money(0.1 + 0.2, field="--arv")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        offer.parse_ratio(0.7, option="--arv-pct", low_bps=6000, high_bps=8000)  # type: ignore


def test_no_offer_when_mao_is_not_positive():
    fig = figures("60000", "40000")  # 42000 - 40000 - 10000 = -8000
    assert fig.mao == Decimal("-8000.00")
    assert fig.max_offer is None and fig.opening_offer is None


cents = st.integers(min_value=0, max_value=10**11)


@settings(max_examples=300, deadline=None)
@given(arv=st.integers(min_value=1, max_value=10**11), repairs=cents,
       fee=st.integers(min_value=0, max_value=10**8), closing=st.integers(0, 10**8),
       holding=st.integers(0, 10**8), pct=st.integers(6000, 8000),
       rounding=st.integers(min_value=1, max_value=10**7), opening=st.integers(1, 10_000))
def test_rounding_rules_hold_for_any_amounts(arv, repairs, fee, closing, holding, pct, rounding,
                                             opening):
    def dollars(c: int) -> Decimal:
        return Decimal(c).scaleb(-2)

    fig = offer.offer_figures(
        arv=dollars(arv), repairs=dollars(repairs), assignment_fee=dollars(fee),
        closing_costs=dollars(closing), holding_costs=dollars(holding), arv_pct_bps=pct,
        rounding=dollars(rounding), opening_ratio_bps=opening)
    # An independent reference in exact rationals.
    gross = math.floor(Fraction(arv) * Fraction(pct, 10_000))
    mao = gross - repairs - fee - closing - holding
    assert fig.mao == dollars(mao)
    for amount in (fig.mao, fig.max_offer, fig.opening_offer, fig.arv_times_pct):
        assert amount is None or amount == amount.quantize(Decimal("0.01"))
    if mao <= 0:
        assert fig.max_offer is None and fig.opening_offer is None
        return
    step = dollars(rounding)
    assert fig.max_offer <= fig.mao
    assert fig.mao - fig.max_offer < step
    assert fig.max_offer % step == 0
    assert fig.opening_offer <= fig.max_offer <= fig.mao
    assert fig.opening_offer % step == 0
    exact_opening = Fraction(mao) * Fraction(opening, 10_000)
    assert Fraction(fig.opening_offer * 100) <= exact_opening
    assert exact_opening - Fraction(fig.opening_offer * 100) < rounding + 1


def test_median_and_comps_arv_round_down_to_the_cent():
    per_sqft = [Fraction(400000_00, 1300 * 100), Fraction(390000_00, 1200 * 100),
                Fraction(455000_50, 1450 * 100)]
    assert offer.median(per_sqft) == Fraction(455000_50, 1450 * 100)
    assert offer.arv_from_comps(per_sqft, Decimal("1450")) == Decimal("455000.50")
    # Even count: the mean of the middle two; 1000 sqft x 333.33... is 333333.33 (down).
    pair = [Fraction(1000, 3), Fraction(1000, 3), Fraction(100), Fraction(1000)]
    assert offer.median(pair) == Fraction(1000, 3)
    assert offer.arv_from_comps(pair, Decimal("1000")) == Decimal("333333.33")


def _comps(path):
    from valhalla_cli.importing import read_rows

    return read_rows(path, required=offer.COMPS_COLUMNS)


def test_read_comps_names_the_line_and_field(tmp_path):
    good = tmp_path / "comps.csv"
    good.write_text("address,sold_price,sqft,sold_on\n1 A St,400000,1300,2026-10-01\n")
    comps, ratios = offer.read_comps(_comps(good), not_after=date(2027, 1, 15))
    assert len(comps) == 1 and comps[0].line == 2 and ratios == [Fraction(4000, 13)]
    bad = tmp_path / "bad.csv"
    bad.write_text("address,sold_price,sqft,sold_on\n1 A St,400000,1300,2026-10-01\n"
                   "2 B St,12.345,1300,2026-10-01\n")
    with pytest.raises(BadInput, match=r"bad.csv:3: field 'sold_price'"):
        offer.read_comps(_comps(bad), not_after=date(2027, 1, 15))
    future = tmp_path / "future.csv"
    future.write_text("address,sold_price,sqft,sold_on\n1 A St,400000,1300,2027-02-01\n")
    with pytest.raises(BadInput, match="sold_on"):
        offer.read_comps(_comps(future), not_after=date(2027, 1, 15))
    empty = tmp_path / "empty.csv"
    empty.write_text("address,sold_price,sqft,sold_on\n")
    with pytest.raises(BadInput, match="no comparable sales"):
        offer.read_comps(_comps(empty), not_after=date(2027, 1, 15))


def test_ratios_are_exact_and_bounded():
    assert offer.parse_ratio("0.7", option="x", low_bps=6000, high_bps=8000) == 7000
    assert offer.parse_ratio("0.6125", option="x", low_bps=6000, high_bps=8000) == 6125
    for bad in ("0.59", "0.81", "70", "0.70001", "abc", "NaN"):
        with pytest.raises(BadInput):
            offer.parse_ratio(bad, option="x", low_bps=6000, high_bps=8000)


def test_market_override_applies_field_by_field(db):
    with db.transaction(write=True) as session:
        offer.set_policy(session, province="ON", market=None, actor="t", at=AT, enabled=True,
                         min_liquidity_score="40")
        offer.set_policy(session, province="ON", market="toronto", actor="t", at=AT,
                         arv_pct="0.75", rounding="1000")
    with db.transaction() as session:
        toronto = offer.effective_policy(session, province="ON", market="TORONTO")
        ottawa = offer.effective_policy(session, province="ON", market="OTTAWA")
    assert (toronto.arv_pct_bps, toronto.rounding_cents) == (7500, 100000)
    assert toronto.assignment_fee_cents == 1_000_000 and toronto.enabled
    assert toronto.min_liquidity_score == 40  # inherited
    assert toronto.overrides == ("arv_pct", "rounding")
    assert (ottawa.source, ottawa.arv_pct_bps, ottawa.rounding_cents) == ("province", 7000, 50000)
    with db.transaction(write=True) as session:
        offer.set_policy(session, province="ON", market="TORONTO", actor="t", at=AT,
                         no_min_liquidity_score=True)
        offer.set_policy(session, province="ON", market=None, actor="t", at=AT,
                         arv_pct="0.65")
    with db.transaction() as session:
        toronto = offer.effective_policy(session, province="ON", market="TORONTO")
    assert toronto.min_liquidity_score is None  # an explicit "none" overrides the province
    assert toronto.arv_pct_bps == 7500  # still its own


def _evidence_id(db) -> int:
    with db.transaction(write=True) as session:
        result = offer.compute(session, province="ON", market="TORONTO", property_type=None,
                               arv="450000", repairs="50000", at=AT, actor="t",
                               business_timezone=TZ, enforce=True)
    return result.evidence_id


def test_offer_evidence_rejects_update_and_delete(db):
    evidence_id = _evidence_id(db)
    for statement in ("UPDATE offer_evidence SET mao_cents = 1 WHERE id = :id",
                      "DELETE FROM offer_evidence WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement), {"id": evidence_id})
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT mao_cents, outcome FROM offer_evidence WHERE id = :id"),
                           {"id": evidence_id}).one()
    assert tuple(row) == (25_500_000, "refused")  # policy disabled: still evidence, unchanged
