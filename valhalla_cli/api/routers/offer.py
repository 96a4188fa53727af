"""Offer strategy: `/api/deals/offers/*`, mirroring `valhalla offer`."""

from valhalla_cli.api.routers._params import (
    AT,
    DRY_RUN,
    ENABLED,
    OPTIONAL_REASON,
    PROVINCE,
    PROVINCE_FILTER,
)
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("offer", "/api/deals/offers")


@router.get("/policies", cli="valhalla offer policies", params=(PROVINCE_FILTER,))
def policies(call: Call) -> Answer:
    """Offer policies as applied (market rows show the merged values and their overrides)."""
    from valhalla_cli.services import offer

    return Answer(offer.list_policies(call.session, province=call["province"]))


@router.post("/policies/upsert", cli="valhalla offer policy-set", scope="admin", params=(
    PROVINCE,
    Param("market", help="Set a market override instead of the province-wide policy."),
    Param("arv_pct", help="Share of ARV, 0.60 to 0.80 (default 0.70)."),
    Param("assignment_fee", help="Amount in CAD."),
    Param("closing_costs", help="Amount in CAD."),
    Param("holding_costs", help="Amount in CAD."),
    Param("rounding", help="Offers round down to a multiple of this (> 0)."),
    Param("opening_ratio", help="Opening offer as a share of MAO, above 0 up to 1."),
    Param("min_arv", help="Amount in CAD."),
    Param("min_liquidity_score", help="Refuse below this liquidity score (0-100)."),
    Param("no_min_liquidity_score", "bool", default=False, help="No liquidity minimum."),
    ENABLED, OPTIONAL_REASON, DRY_RUN, AT))
def policy_set(call: Call) -> Answer:
    """Change a province's offer policy, or a market override of it (audited)."""
    from valhalla_cli.services import offer

    p = call.params
    return Answer(offer.set_policy(
        call.session, province=p["province"], market=p["market"], actor=call.actor,
        at=call.instant(), arv_pct=p["arv_pct"], assignment_fee=p["assignment_fee"],
        closing_costs=p["closing_costs"], holding_costs=p["holding_costs"],
        rounding=p["rounding"], opening_ratio=p["opening_ratio"], min_arv=p["min_arv"],
        min_liquidity_score=p["min_liquidity_score"],
        no_min_liquidity_score=p["no_min_liquidity_score"], enabled=p["enabled"],
        reason=p["reason"], dry_run=p["dry_run"]))


@router.post("/compute", cli="valhalla offer compute", scope="operate",
             returns="valhalla_cli.services.offer.computing:OfferResult", params=(
    PROVINCE,
    Param("market", help="Market name (its policy override and liquidity apply)."),
    Param("arv", help="After-repair value, e.g. 450000."),
    Param("comps", "rows", help="Comparable sales instead of arv: a list of objects with "
          "address, sold_price, sqft and sold_on (the rows of the CLI's --comps file)."),
    Param("sqft", help="The subject property's size, with comps."),
    Param("repairs", help="Repair estimate (required; 0 for none)."),
    Param("type", help="SFR, CONDO, TOWNHOUSE, MULTI or LAND (default SFR)."),
    Param("assignment_fee", help="Override the policy's assignment fee."),
    Param("deal_ref", help="The deal's reference."),
    Param("note", help="Kept with the evidence."), AT))
def compute(call: Call) -> Answer:
    """Compute the maximum and opening offers and keep the evidence; 409 refused/throttled."""
    from valhalla_cli.importing import given_rows
    from valhalla_cli.services import offer

    p = call.params
    comps = (None if p["comps"] is None
             else given_rows("comps", p["comps"], required=offer.COMPS_COLUMNS))
    result = offer.compute(
        call.session, province=p["province"], market=p["market"], property_type=p["type"],
        arv=p["arv"], comps=comps, sqft=p["sqft"], repairs=p["repairs"],
        assignment_fee=p["assignment_fee"], deal_ref=p["deal_ref"], note=p["note"],
        at=call.instant(), actor=call.actor,
        business_timezone=call.settings.business_timezone,
        enforce=call.settings.golive_enforce)
    return Answer(result, refusal=result.refusal)


@router.get("/evidence", cli="valhalla offer evidence list", params=(
    PROVINCE_FILTER, Param("deal_ref", help="Only this deal."),
    Param("limit", "int", default=50, help="At most this many.")))
def evidence(call: Call) -> Answer:
    """Offer evidence, newest first."""
    from valhalla_cli.services import offer

    return Answer(offer.list_evidence(call.session, province=call["province"],
                                      deal_ref=call["deal_ref"], limit=call["limit"]))


@router.get("/evidence/{evidence_id}", cli="valhalla offer evidence show", params=(
    Param("evidence_id", "int", required=True, in_path=True, help="The evidence id."),))
def evidence_show(call: Call) -> Answer:
    """One offer's evidence in full: inputs, policy, comps, liquidity and result."""
    from valhalla_cli.services import offer

    return Answer(offer.show_evidence(call.session, evidence_id=call["evidence_id"]))


@router.post("/{evidence_id}/outcome", cli="valhalla offer outcome", scope="operate", params=(
    Param("evidence_id", "int", required=True, in_path=True, help="The offer's evidence id."),
    Param("status", required=True, help="sent, accepted, countered, rejected, contracted, "
          "closed or withdrawn."),
    Param("amount", help="The price at this stage (countered, accepted, contracted, closed)."),
    Param("note", help="Kept with the stage."),
    Param("over_max_reason", help="Accept above the offer's max_offer anyway, and why "
          "(audited; counted as over_max in the funnel)."), AT))
def outcome(call: Call) -> Answer:
    """Record the stage an offer reached (409 out of order, or above max_offer unexplained)."""
    from valhalla_cli.services import offer_outcome

    result = offer_outcome.record(call.session, evidence_id=call["evidence_id"],
                                  status=call["status"], amount=call["amount"],
                                  note=call["note"], at=call.instant(), actor=call.actor,
                                  over_max_reason=call["over_max_reason"])
    return Answer(result, refusal=result.refusal)
