"""Offer strategy: `/api/deals/offers/*`, mirroring `valhalla offer`."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from valhalla_cli.api.routers._params import (
    At,
    DryRun,
    Enabled,
    Nothing,
    OptionalReason,
    Province,
    ProvinceFilter,
)
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Rows, Text
from valhalla_cli.vocabulary import (
    DEFAULT_PROPERTY_TYPE,
    OFFER_PRICED_STAGES,
    OFFER_STAGES,
    PROPERTY_TYPES,
    words,
)

router = PackRouter("offer", "/api/deals/offers")

Cad = Annotated[Text | None, Field(description="Amount in CAD.")]
EvidencePath = Annotated[Int, Path(description="The offer's evidence id.")]


class PoliciesQuery(Params):
    province: ProvinceFilter = None


@router.get("/policies", cli="valhalla offer policies")
def policies(p: Annotated[PoliciesQuery, Query()], call: Call) -> Answer:
    """Offer policies as applied (market rows show the merged values and their overrides)."""
    from valhalla_cli.services import offer

    return Answer(offer.list_policies(call.session, province=p.province))


class PolicySet(Params):
    province: Province
    market: Annotated[Text | None, Field(description="Set a market override instead of the "
                                         "province-wide policy.")] = None
    arv_pct: Annotated[Text | None, Field(description="Share of ARV, 0.60 to 0.80 (default "
                                          "0.70).")] = None
    assignment_fee: Cad = None
    closing_costs: Cad = None
    holding_costs: Cad = None
    rounding: Annotated[Text | None, Field(description="Offers round down to a multiple of "
                                           "this (> 0).")] = None
    opening_ratio: Annotated[Text | None, Field(description="Opening offer as a share of MAO, "
                                                "above 0 up to 1.")] = None
    min_arv: Cad = None
    min_liquidity_score: Annotated[Text | None, Field(description="Refuse below this liquidity "
                                                      "score (0-100).")] = None
    no_min_liquidity_score: Annotated[bool, Field(description="No liquidity minimum.")] = False
    enabled: Enabled = None
    reason: OptionalReason = None
    dry_run: DryRun = False
    at: At = None


@router.post("/policies/upsert", cli="valhalla offer policy-set", scope="admin")
def policy_set(p: PolicySet, call: Call) -> Answer:
    """Change a province's offer policy, or a market override of it (audited)."""
    from valhalla_cli.services import offer

    return Answer(offer.set_policy(
        call.session, province=p.province, market=p.market, actor=call.actor,
        at=call.instant(p.at), arv_pct=p.arv_pct, assignment_fee=p.assignment_fee,
        closing_costs=p.closing_costs, holding_costs=p.holding_costs, rounding=p.rounding,
        opening_ratio=p.opening_ratio, min_arv=p.min_arv,
        min_liquidity_score=p.min_liquidity_score,
        no_min_liquidity_score=p.no_min_liquidity_score, enabled=p.enabled, reason=p.reason,
        dry_run=p.dry_run))


class Compute(Params):
    province: Province
    market: Annotated[Text | None, Field(description="Market name (its policy override and "
                                         "liquidity apply).")] = None
    arv: Annotated[Text | None, Field(description="After-repair value, e.g. 450000.")] = None
    comps: Annotated[Rows | None, Field(description="Comparable sales instead of arv: a list of "
                                        "objects with address, sold_price, sqft and sold_on "
                                        "(the rows of the CLI's --comps file).")] = None
    sqft: Annotated[Text | None, Field(description="The subject property's size, with "
                                       "comps.")] = None
    repairs: Annotated[Text | None, Field(description="Repair estimate (required; 0 for "
                                          "none).")] = None
    type: Annotated[Text | None, Field(description=f"{words(PROPERTY_TYPES)} "
                                       f"(default {DEFAULT_PROPERTY_TYPE}).")] = None
    assignment_fee: Annotated[Text | None, Field(description="Override the policy's assignment "
                                                 "fee.")] = None
    deal_ref: Annotated[Text | None, Field(description="The deal's reference.")] = None
    note: Annotated[Text | None, Field(description="Kept with the evidence.")] = None
    at: At = None


@router.post("/compute", cli="valhalla offer compute", scope="operate",
             returns="valhalla_cli.services.offer.computing:OfferResult")
def compute(p: Compute, call: Call) -> Answer:
    """Compute the maximum and opening offers and keep the evidence; 409 refused/throttled."""
    from valhalla_cli.importing import given_rows
    from valhalla_cli.services import offer

    comps = (None if p.comps is None
             else given_rows("comps", p.comps, required=offer.COMPS_COLUMNS))
    result = offer.compute(
        call.session, province=p.province, market=p.market, property_type=p.type, arv=p.arv,
        comps=comps, sqft=p.sqft, repairs=p.repairs, assignment_fee=p.assignment_fee,
        deal_ref=p.deal_ref, note=p.note, at=call.instant(p.at), actor=call.actor,
        business_timezone=call.settings.business_timezone,
        enforce=call.settings.golive_enforce)
    return Answer(result, refusal=result.refusal)


class EvidenceQuery(Params):
    province: ProvinceFilter = None
    deal_ref: Annotated[Text | None, Field(description="Only this deal.")] = None
    limit: Annotated[Int, Field(description="At most this many.")] = 50


@router.get("/evidence", cli="valhalla offer evidence list")
def evidence(p: Annotated[EvidenceQuery, Query()], call: Call) -> Answer:
    """Offer evidence, newest first."""
    from valhalla_cli.services import offer

    return Answer(offer.list_evidence(call.session, province=p.province, deal_ref=p.deal_ref,
                                      limit=p.limit))


@router.get("/evidence/{evidence_id}", cli="valhalla offer evidence show")
def evidence_show(evidence_id: EvidencePath, p: Annotated[Nothing, Query()],
                  call: Call) -> Answer:
    """One offer's evidence in full: inputs, policy, comps, liquidity and result."""
    from valhalla_cli.services import offer

    return Answer(offer.show_evidence(call.session, evidence_id=evidence_id))


class Outcome(Params):
    status: Annotated[Text, Field(description=f"{words(OFFER_STAGES)}.")]
    amount: Annotated[Text | None, Field(
        description=f"The price at this stage ({', '.join(OFFER_PRICED_STAGES)}).")] = None
    note: Annotated[Text | None, Field(description="Kept with the stage.")] = None
    over_max_reason: Annotated[Text | None, Field(
        description="Accept above the offer's max_offer anyway, and why (audited; counted as "
        "over_max in the funnel).")] = None
    at: At = None


@router.post("/{evidence_id}/outcome", cli="valhalla offer outcome", scope="operate")
def outcome(evidence_id: EvidencePath, p: Outcome, call: Call) -> Answer:
    """Record the stage an offer reached (409 out of order, or above max_offer unexplained)."""
    from valhalla_cli.services import offer_outcome

    result = offer_outcome.record(call.session, evidence_id=evidence_id, status=p.status,
                                  amount=p.amount, note=p.note, at=call.instant(p.at),
                                  actor=call.actor, over_max_reason=p.over_max_reason)
    return Answer(result, refusal=result.refusal)
