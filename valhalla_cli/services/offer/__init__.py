"""Offer strategy: bounded offers, their policies and their immutable evidence.

All money arithmetic is done in whole cents with integers (exact) and shown as Decimal; ratios
are exact basis points. Nothing passes through float except ratios rendered for display.

    fees          = assignment fee + closing costs + holding costs
    ARV x arv_pct   rounded down to the cent
    mao           = ARV x arv_pct - repairs - fees
    max_offer     = mao rounded down to a multiple of `rounding`
    opening_offer = mao x opening_ratio, rounded down to a multiple of `rounding`

The package, one module per responsibility, offers the names each module lists in its
`__all__`: `mao` (the pure arithmetic, the policy defaults and the refusal codes: no database),
`parsing` (ratios, sizes and scores as the offer pack takes them), `policies` (the
province-wide and market policies, audited), `computing` (comparable sales and computing an
offer, with its evidence), `evidence` (reading the evidence back), `check` (the runbook check).
"""

from valhalla_cli.services.offer.check import *
from valhalla_cli.services.offer.computing import *
from valhalla_cli.services.offer.evidence import *
from valhalla_cli.services.offer.mao import *
from valhalla_cli.services.offer.parsing import *
from valhalla_cli.services.offer.policies import *
