"""Computing an offer: comparable sales, the arithmetic, the refusals, and the immutable
evidence written for every computation (refusals too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput
from valhalla_cli.importing import RowSource
from valhalla_cli.inputs import (
    MAX_MONEY,
    parse_market,
    parse_money,
    parse_property_type,
    parse_province,
    parse_text,
)
from valhalla_cli.models import OfferEvidence
from valhalla_cli.money import format_money, from_cents, to_cents
from valhalla_cli.services import liquidity
from valhalla_cli.services.contact_rules import Reason
from valhalla_cli.services.offer.mao import (
    ARV_BELOW_MINIMUM,
    KPI_OFFER_GENERATED,
    LIQUIDITY_BELOW_MINIMUM,
    NO_VIABLE_OFFER,
    OFFERS_THROTTLED,
    PROVINCE_WIDE,
    Figures,
    _fraction_text,
    arv_from_comps,
    median,
    offer_figures,
)
from valhalla_cli.services.offer.parsing import parse_sqft
from valhalla_cli.services.offer.policies import (
    EffectivePolicy,
    PolicyView,
    _view,
    effective_policy,
)
from valhalla_cli.services.refusals import Refusal

__all__ = ["COMPS_COLUMNS", "COMPS_NON_TEXT", "MAX_COMPS", "Comp", "CompsSummary", "Fees",
           "LiquidityAtTime", "OfferResult", "Step", "compute", "read_comps"]


@dataclass(frozen=True)
class Comp:
    line: int
    address: str
    sold_price: Decimal
    sqft: Decimal
    sold_on: date
    price_per_sqft: str


@dataclass(frozen=True)
class CompsSummary:
    file: str
    count: int
    median_price_per_sqft: str
    sqft: Decimal
    arv: Decimal


MAX_COMPS = 1000


COMPS_COLUMNS = ("address", "sold_price", "sqft", "sold_on")
COMPS_NON_TEXT = ("sold_price", "sqft")  # JSON numbers allowed; address and sold_on are text


def read_comps(source: RowSource, *, not_after: date) -> tuple[list[Comp], list[Fraction]]:
    """Comparable sales (rows with address, sold_price, sqft, sold_on, which the face read from
    a CSV file); a malformed row is exit 2 naming file:line and field."""
    from valhalla_cli.importing import RowError, validated

    def validate(row: dict[str, Any]) -> tuple[Comp, Fraction]:
        address = " ".join(str(row["address"]).split())
        try:
            price = parse_money(str(row["sold_price"]), field="sold_price",
                                  allow_zero=False)
        except BadInput as exc:
            raise RowError("sold_price", exc.message) from None
        try:
            size = parse_sqft(str(row["sqft"]), option="sqft")
        except BadInput as exc:
            raise RowError("sqft", exc.message) from None
        try:
            sold_on = date.fromisoformat(str(row["sold_on"]).strip())
        except ValueError:
            raise RowError("sold_on", f"{row['sold_on']!r} is not a date (YYYY-MM-DD)") from None
        if sold_on > not_after:
            raise RowError("sold_on", f"{sold_on} is after the offer date {not_after}")
        per_sqft = Fraction(to_cents(price), 100) / Fraction(size)
        return Comp(0, address, price, size, sold_on, _fraction_text(per_sqft)), per_sqft

    comps: list[Comp] = []
    ratios: list[Fraction] = []
    path = source.name
    for line, (comp, ratio) in validated(path, source.rows, validate):
        if len(comps) >= MAX_COMPS:
            raise BadInput(f"{path}: more than {MAX_COMPS} comparable sales; keep the relevant "
                           "ones")
        comps.append(Comp(line, comp.address, comp.sold_price, comp.sqft, comp.sold_on,
                          comp.price_per_sqft))
        ratios.append(ratio)
    if not comps:
        raise BadInput(f"{path}: no comparable sales in the file")
    return comps, ratios


@dataclass(frozen=True)
class Fees:
    assignment_fee: Decimal
    closing_costs: Decimal
    holding_costs: Decimal
    total: Decimal
    assignment_fee_overridden: bool


@dataclass(frozen=True)
class LiquidityAtTime:
    score: int | None
    band: str
    sent: int
    responded: int
    closed: int
    window_start: date
    window_end: date
    min_liquidity_score: int | None


@dataclass(frozen=True)
class Step:
    step: str
    amount: Decimal | None
    note: str = ""


@dataclass(frozen=True)
class OfferResult:
    evidence_id: int | None
    at: datetime
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    arv: Decimal
    arv_source: str  # given | comps
    repairs: Decimal
    fees: Fees
    arv_pct: float
    arv_times_pct: Decimal
    mao: Decimal
    rounding: Decimal
    max_offer: Decimal | None
    opening_ratio: float
    mao_times_opening_ratio: Decimal | None
    opening_offer: Decimal | None
    policy: PolicyView
    liquidity: LiquidityAtTime
    comps: CompsSummary | None
    mode: str  # sandbox | production
    throttled: bool
    outcome: str  # offer | refused
    reason: str | None
    reasons: list[str]
    message: str | None
    warning: str | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def refusal(self) -> Refusal | None:
        """No offer (the policy's refusals), or an offer not to send (offers throttled)."""
        if self.reason is None:
            return None
        text = self.message or self.reason
        # A throttled offer's sentence already says "do not send"; a refusal's says what is wrong.
        return Refusal(self.reason, text if self.outcome == "offer" else f"no offer: {text}")


def _steps(fig: Figures, comps: CompsSummary | None, rounding: Decimal,
           assignment_overridden: bool, refused: bool) -> list[Step]:
    arv_note = (f"median {comps.median_price_per_sqft}/sqft of {comps.count} comps x "
                f"{comps.sqft} sqft, rounded down to the cent" if comps else "given")
    steps = [
        Step("ARV", fig.arv, arv_note),
        Step(f"x arv_pct {fig.arv_pct:g}", fig.arv_times_pct, "rounded down to the cent"),
        Step("- repairs", -fig.repairs),
        Step("- assignment fee", -fig.assignment_fee,
             "from --assignment-fee" if assignment_overridden else "policy"),
        Step("- closing costs", -fig.closing_costs, "policy"),
        Step("- holding costs", -fig.holding_costs, "policy"),
        Step("= MAO", fig.mao, "maximum allowable offer"),
    ]
    if fig.max_offer is not None and not refused:
        steps.append(Step("max offer", fig.max_offer, f"MAO rounded down to a multiple of "
                          f"{format_money(rounding)}"))
        steps.append(Step(f"MAO x opening_ratio {fig.opening_ratio:g}",
                          fig.mao_times_opening_ratio, "rounded down to the cent"))
        steps.append(Step("opening offer", fig.opening_offer, f"rounded down to a multiple of "
                          f"{format_money(rounding)}"))
    return steps


def _refusals(policy: EffectivePolicy, fig: Figures, liq: liquidity.LiquidityScore,
              market: str | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    where = policy.province + (f" {market}" if market else "")
    if not policy.enabled:
        scope = "missing" if policy.source == "missing" else "disabled"
        found.append((Reason.POLICY_DISABLED,
                      f"the offer policy for {where} is {scope} (enable it with `valhalla offer "
                      f"policy-set {policy.province} --enable`)"))
    if to_cents(fig.arv) < policy.min_arv_cents:
        found.append((ARV_BELOW_MINIMUM,
                      f"ARV {format_money(fig.arv)} is below the policy minimum "
                      f"{format_money(from_cents(policy.min_arv_cents))}"))
    if fig.mao <= 0 or not fig.max_offer or not fig.opening_offer:
        found.append((NO_VIABLE_OFFER,
                      f"no viable offer: MAO is {format_money(fig.mao)} after repairs and fees"
                      + ("" if fig.mao <= 0 else
                         f", which rounds down to nothing at {format_money(fig.rounding)}")))
    minimum = policy.min_liquidity_score
    if minimum is not None and (liq.score is None or liq.score < minimum):
        node = f"{market or '(no market)'} {liq.property_type}"
        have = (f"unknown (needs {liquidity.MIN_SENT} buyer sends in 90 days, "
                f"{liq.sent} so far)" if liq.score is None else f"{liq.score} ({liq.band})")
        found.append((LIQUIDITY_BELOW_MINIMUM,
                      f"buyer liquidity for {policy.province} {node} is {have}; the policy "
                      f"needs at least {minimum}"))
    return found


def compute(
    session: Session, *, province: str, market: str | None, property_type: str | None,
    repairs: str | Decimal | None, at: datetime, actor: str, business_timezone: str,
    enforce: bool, arv: str | Decimal | None = None, comps: RowSource | None = None,
    sqft: str | Decimal | None = None, assignment_fee: str | Decimal | None = None,
    deal_ref: str | None = None, note: str | None = None, recorded_at: datetime | None = None,
) -> OfferResult:
    """Compute a bounded offer and write its evidence (refusals too); emit `offer_generated`.

    Every input is validated before anything is read or written (bad input: exit 2, nothing
    written). A refusal still computes what it can, writes evidence with its reason, and
    leaves `max_offer` / `opening_offer` empty so that nobody sends a refused figure.
    """
    from valhalla_cli.clock import business_date, utcnow
    from valhalla_cli.models.types import stored_json
    from valhalla_cli.services import golive, kpi, levers

    # 1. Validate every input.
    province = parse_province(province)
    property_type = parse_property_type(property_type)
    market = None if market is None else parse_market(market)
    if repairs is None:
        raise BadInput("--repairs is required (0 when there are none)")
    repairs_d = parse_money(repairs, field="--repairs")
    fee_override = None if assignment_fee is None else parse_money(
        assignment_fee, field="--assignment-fee")
    ref = parse_text(deal_ref, field="--deal-ref")
    note_text = parse_text(note, field="--note", max_length=2000)
    if (arv is None) == (comps is None):
        raise BadInput("give the ARV either as --arv A or as --comps FILE --sqft S (one of them)")
    comps_summary: CompsSummary | None = None
    comps_rows: list[Comp] | None = None
    if arv is not None:
        if sqft is not None:
            raise BadInput("--sqft goes with --comps; with --arv leave it out")
        arv_d = parse_money(arv, field="--arv", allow_zero=False)
    else:
        assert comps is not None
        comps_path = comps.name
        size = parse_sqft(sqft, option="--sqft")
        comps_rows, ratios = read_comps(comps, not_after=business_date(at,
                                                                            business_timezone))
        arv_d = arv_from_comps(ratios, size)
        if arv_d <= 0:
            raise BadInput(f"{comps_path}: the comps give an ARV of {format_money(arv_d)}")
        if arv_d > MAX_MONEY:
            raise BadInput(f"{comps_path}: the comps give an ARV above {MAX_MONEY:,.2f} "
                           f"for --sqft {size} (check the size)")
        comps_summary = CompsSummary(file=comps_path, count=len(comps_rows),
                                     median_price_per_sqft=_fraction_text(median(ratios)),
                                     sqft=size, arv=arv_d)

    # 2. Read the policy, the market's liquidity and the control plane.
    policy = effective_policy(session, province=province, market=market)
    liq = liquidity.score(session, province=province, market=market,
                          property_type=property_type, at=at,
                          business_timezone=business_timezone)
    live = golive.live_status(session, enforce=enforce)
    throttle = levers.throttled_lever(session, levers.OFFERS)

    # 3. The arithmetic.
    fig = offer_figures(
        arv=arv_d, repairs=repairs_d,
        assignment_fee=fee_override if fee_override is not None
        else from_cents(policy.assignment_fee_cents),
        closing_costs=from_cents(policy.closing_costs_cents),
        holding_costs=from_cents(policy.holding_costs_cents),
        arv_pct_bps=policy.arv_pct_bps, rounding=from_cents(policy.rounding_cents),
        opening_ratio_bps=policy.opening_ratio_bps,
    )
    refusals = _refusals(policy, fig, liq, market)
    refused = bool(refusals)
    reasons = [code for code, _ in refusals]
    message = refusals[0][1] if refusals else None
    if throttle is not None:
        reasons.append(OFFERS_THROTTLED)
        if not refused:
            message = "do not send: " + throttle.message
    result = OfferResult(
        evidence_id=None, at=at, province=province, market=market,
        property_type=property_type, deal_ref=ref, arv=fig.arv,
        arv_source="comps" if comps_summary else "given", repairs=fig.repairs,
        fees=Fees(fig.assignment_fee, fig.closing_costs, fig.holding_costs, fig.fees,
                  fee_override is not None),
        arv_pct=fig.arv_pct, arv_times_pct=fig.arv_times_pct, mao=fig.mao,
        rounding=fig.rounding,
        max_offer=None if refused else fig.max_offer, opening_ratio=fig.opening_ratio,
        mao_times_opening_ratio=None if refused else fig.mao_times_opening_ratio,
        opening_offer=None if refused else fig.opening_offer,
        policy=_view(policy, market=policy.market or PROVINCE_WIDE),
        liquidity=LiquidityAtTime(liq.score, liq.band, liq.sent, liq.responded, liq.closed,
                                  liq.window_start, liq.window_end, policy.min_liquidity_score),
        comps=comps_summary, mode="production" if live.live else "sandbox",
        throttled=throttle is not None, outcome="refused" if refused else "offer",
        reason=reasons[0] if reasons else None, reasons=reasons, message=message,
        warning=live.warning,
        steps=_steps(fig, comps_summary, fig.rounding, fee_override is not None, refused),
    )

    # 4. The evidence (immutable) and the KPI.
    inputs = {"province": province, "market": market, "property_type": property_type,
              "arv": arv_d if arv is not None else None,
              "comps_file": comps.name if comps is not None else None,
              "sqft": comps_summary.sqft if comps_summary else None, "repairs": repairs_d,
              "assignment_fee": fee_override, "deal_ref": ref, "note": note_text,
              "at": at}
    evidence = OfferEvidence(
        at=at, recorded_at=recorded_at or utcnow(), actor=actor, province=province,
        market=market, property_type=property_type, deal_ref=ref, note=note_text,
        mode=result.mode, throttled=result.throttled, outcome=result.outcome,
        reason=result.reason, arv_cents=to_cents(fig.arv), repairs_cents=to_cents(fig.repairs),
        fees_cents=to_cents(fig.fees), mao_cents=to_cents(fig.mao),
        max_offer_cents=None if result.max_offer is None else to_cents(result.max_offer),
        opening_offer_cents=(None if result.opening_offer is None
                             else to_cents(result.opening_offer)),
        liquidity_score=liq.score, liquidity_band=liq.band,
        inputs=stored_json(inputs), policy=stored_json(result.policy),
        comps=stored_json(comps_rows) if comps_rows is not None else None,
        liquidity=stored_json(result.liquidity), result=stored_json(result),
    )
    session.add(evidence)
    session.flush()
    if not refused:
        kpi.emit(session, metric=KPI_OFFER_GENERATED, value=1.0, at=at, province=province,
                 market=market, ref=ref or f"offer_evidence:{evidence.id}", source="offer")
    return OfferResult(**{**result.__dict__, "evidence_id": evidence.id})
