"""Offer strategy: bounded offers, their policies and their immutable evidence.

All money arithmetic is done in whole cents with integers (exact) and shown as Decimal; ratios
are exact basis points. Nothing passes through float except ratios rendered for display.

    fees          = assignment fee + closing costs + holding costs
    ARV x arv_pct   rounded down to the cent
    mao           = ARV x arv_pct - repairs - fees
    max_offer     = mao rounded down to a multiple of `rounding`
    opening_offer = mao x opening_ratio, rounded down to a multiple of `rounding`

The package, one module per responsibility (`from valhalla_cli.services import offer` re-exports
them all): `mao` (the pure arithmetic, the policy defaults and the refusal codes: no database),
`parsing` (ratios, sizes and scores as the offer pack takes them), `policies` (the
province-wide and market policies, audited), `computing` (comparable sales and computing an
offer, with its evidence), `evidence` (reading the evidence back), `check` (the runbook check).
"""

from valhalla_cli.services.offer.check import (
    runbook_check,
)
from valhalla_cli.services.offer.computing import (
    COMPS_COLUMNS,
    COMPS_NON_TEXT,
    MAX_COMPS,
    Comp,
    CompsSummary,
    Fees,
    LiquidityAtTime,
    OfferResult,
    Step,
    compute,
    read_comps,
)
from valhalla_cli.services.offer.evidence import (
    EvidenceDetail,
    EvidenceSummary,
    list_evidence,
    show_evidence,
)
from valhalla_cli.services.offer.mao import (
    ARV_BELOW_MINIMUM,
    ARV_PCT_BOUNDS_BPS,
    BPS,
    DEFAULTS,
    FIELDS,
    LIQUIDITY_BELOW_MINIMUM,
    NO_VIABLE_OFFER,
    OFFERS_THROTTLED,
    PACK,
    PROVINCE_WIDE,
    Figures,
    apply_ratio_down,
    arv_from_comps,
    floor_to_multiple,
    median,
    offer_figures,
)
from valhalla_cli.services.offer.parsing import (
    parse_min_liquidity_score,
    parse_ratio,
    parse_sqft,
)
from valhalla_cli.services.offer.policies import (
    EffectivePolicy,
    PolicySetResult,
    PolicyView,
    effective_policy,
    list_policies,
    set_policy,
)

__all__ = [
    "ARV_BELOW_MINIMUM",
    "ARV_PCT_BOUNDS_BPS",
    "BPS",
    "COMPS_COLUMNS",
    "COMPS_NON_TEXT",
    "DEFAULTS",
    "FIELDS",
    "LIQUIDITY_BELOW_MINIMUM",
    "MAX_COMPS",
    "NO_VIABLE_OFFER",
    "OFFERS_THROTTLED",
    "PACK",
    "PROVINCE_WIDE",
    "Comp",
    "CompsSummary",
    "EffectivePolicy",
    "EvidenceDetail",
    "EvidenceSummary",
    "Fees",
    "Figures",
    "LiquidityAtTime",
    "OfferResult",
    "PolicySetResult",
    "PolicyView",
    "Step",
    "apply_ratio_down",
    "arv_from_comps",
    "compute",
    "effective_policy",
    "floor_to_multiple",
    "list_evidence",
    "list_policies",
    "median",
    "offer_figures",
    "parse_min_liquidity_score",
    "parse_ratio",
    "parse_sqft",
    "read_comps",
    "runbook_check",
    "set_policy",
    "show_evidence",
]
