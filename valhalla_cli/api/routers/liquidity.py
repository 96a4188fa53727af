"""Buyer liquidity: `/api/buyers/liquidity/*`, mirroring `valhalla liquidity`."""

from valhalla_cli.api.routers._params import AT, PROVINCE, PROVINCE_FILTER
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("liquidity", "/api/buyers/liquidity")

MARKET = Param("market", required=True, help="Market name, e.g. TORONTO.")
TYPE = Param("type", help="Property type: SFR, CONDO, TOWNHOUSE, MULTI or LAND (default SFR).")


@router.get("/nodes", cli="valhalla liquidity nodes", params=(PROVINCE_FILTER, AT))
def nodes(call: Call) -> Answer:
    """Every market with buyer feedback in the 90 business dates ending at `at`, scored."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.nodes(call.session, province=call["province"], at=call.instant(),
                                  business_timezone=call.settings.business_timezone))


@router.get("/score", cli="valhalla liquidity score", params=(PROVINCE, MARKET, TYPE, AT))
def score(call: Call) -> Answer:
    """A market's liquidity score over the 90 business dates ending at `at`."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.score(call.session, province=call["province"],
                                  market=call["market"], property_type=call["type"],
                                  at=call.instant(),
                                  business_timezone=call.settings.business_timezone))


@router.post("/feedback", cli="valhalla liquidity feedback", scope="operate", params=(
    PROVINCE, MARKET,
    Param("buyer", required=True, help="The cash buyer (name or id)."),
    Param("responded", "bool", help="Whether the buyer responded to the deal (required)."),
    Param("closed", "bool", default=False, help="The buyer went to contract."),
    TYPE, Param("deal_ref", help="The deal sent; with it a repeat is a no-op."), AT))
def feedback(call: Call) -> Answer:
    """Record a buyer's reaction to a deal sent to them (emits the buyer_feedback KPI)."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.record_feedback(
        call.session, province=call["province"], market=call["market"], buyer=call["buyer"],
        property_type=call["type"], responded=call["responded"], closed=call["closed"],
        deal_ref=call["deal_ref"], at=call.instant(), actor=call.actor,
        business_timezone=call.settings.business_timezone))
