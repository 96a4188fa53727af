"""Buyer liquidity: `/api/buyers/liquidity/*`, mirroring `valhalla liquidity`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Province, ProvinceFilter
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text
from valhalla_cli.vocabulary import DEFAULT_PROPERTY_TYPE, PROPERTY_TYPES, words

router = PackRouter("liquidity", "/api/buyers/liquidity")

Market = Annotated[Text, Field(description="Market name, e.g. TORONTO.")]
Type = Annotated[Text | None, Field(description=f"Property type: {words(PROPERTY_TYPES)} "
                                    f"(default {DEFAULT_PROPERTY_TYPE}).")]


class NodesQuery(Params):
    province: ProvinceFilter = None
    at: At = None


@router.get("/nodes", cli="valhalla liquidity nodes")
def nodes(p: Annotated[NodesQuery, Query()], call: Call) -> Answer:
    """Every market with buyer feedback in the 90 business dates ending at `at`, scored."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.nodes(call.session, province=p.province, at=call.instant(p.at),
                                  business_timezone=call.settings.business_timezone))


class ScoreQuery(Params):
    province: Province
    market: Market
    type: Type = None
    at: At = None


@router.get("/score", cli="valhalla liquidity score")
def score(p: Annotated[ScoreQuery, Query()], call: Call) -> Answer:
    """A market's liquidity score over the 90 business dates ending at `at`."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.score(call.session, province=p.province, market=p.market,
                                  property_type=p.type, at=call.instant(p.at),
                                  business_timezone=call.settings.business_timezone))


class Feedback(Params):
    province: Province
    market: Market
    buyer: Annotated[Text, Field(description="The cash buyer (name or id).")]
    responded: Annotated[bool | None, Field(description="Whether the buyer responded to the "
                                            "deal (required).")] = None
    closed: Annotated[bool, Field(description="The buyer went to contract.")] = False
    type: Type = None
    deal_ref: Annotated[Text | None, Field(description="The deal sent; with it a repeat is a "
                                           "no-op.")] = None
    at: At = None


@router.post("/feedback", cli="valhalla liquidity feedback", scope="operate")
def feedback(p: Feedback, call: Call) -> Answer:
    """Record a buyer's reaction to a deal sent to them (emits the buyer_feedback KPI)."""
    from valhalla_cli.services import liquidity

    return Answer(liquidity.record_feedback(
        call.session, province=p.province, market=p.market, buyer=p.buyer,
        property_type=p.type, responded=p.responded, closed=p.closed, deal_ref=p.deal_ref,
        at=call.instant(p.at), actor=call.actor,
        business_timezone=call.settings.business_timezone))
