"""`valhalla offer`: bounded offers (MAO), their policies and their immutable evidence."""


from typing import Annotated, Any, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    DryRunOpt,
    FormatOpt,
    JsonOpt,
    WideOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    say,
    settings,
    show,
    warn,
)
from valhalla_cli.vocabulary import DEFAULT_PROPERTY_TYPE, PROPERTY_TYPES, words

app = typer.Typer(help="Offer strategy: compute bounded offers, manage offer policies.",
                  no_args_is_help=True)
evidence_app = typer.Typer(help="The immutable record of every computed offer.",
                           invoke_without_command=True)
app.add_typer(evidence_app, name="evidence")

ProvinceArg = Annotated[str, typer.Argument(help="Province code, e.g. ON.", show_default=False)]
Money = Optional[str]

# An offer policy's fields reordered: `enabled` beside the scope it switches.
POLICY_COLUMNS = ("province", "market", "scope", "enabled", "arv_pct", "assignment_fee",
                  "closing_costs", "holding_costs", "rounding", "opening_ratio", "min_arv",
                  "min_liquidity_score", "overrides", "updated_at", "updated_by")
# An offer's figures without the arithmetic steps, message and warning (in the JSON).
OFFER_COLUMNS = ("evidence_id", "at", "province", "market", "property_type", "deal_ref", "arv",
                 "arv_source", "repairs", "fees", "mao", "max_offer", "opening_offer",
                 "policy", "liquidity", "comps", "mode", "throttled", "outcome", "reason",
                 "reasons")
EVIDENCE_COMPACT = ("id", "at", "province", "market", "deal_ref", "outcome", "max_offer",
                    "opening_offer")


@app.command("compute")
def compute(
    ctx: typer.Context,
    province: ProvinceArg,
    market: Annotated[Optional[str], typer.Option(
        "--market", "-m", help="Market name, e.g. TORONTO (its policy override and liquidity "
        "apply).")] = None,
    arv: Annotated[Money, typer.Option("--arv", metavar="AMOUNT",
                                       help="After-repair value, e.g. 450000.")] = None,
    comps: Annotated[Optional[str], typer.Option(
        "--comps", metavar="FILE", help="Comparable sales CSV (address, sold_price, sqft, "
        "sold_on): ARV = median price per sqft x --sqft.")] = None,
    sqft: Annotated[Optional[str], typer.Option(
        "--sqft", metavar="SQFT", help="The subject property's size, with --comps.")] = None,
    repairs: Annotated[Money, typer.Option("--repairs", metavar="AMOUNT",
                                           help="Repair estimate (required; 0 for none).")
                       ] = None,
    property_type: Annotated[Optional[str], typer.Option(
        "--type", "-t",
        help=f"{words(PROPERTY_TYPES)} (default {DEFAULT_PROPERTY_TYPE}).")] = None,
    assignment_fee: Annotated[Money, typer.Option(
        "--assignment-fee", metavar="AMOUNT", help="Override the policy's assignment fee.")
    ] = None,
    deal_ref: Annotated[Optional[str], typer.Option("--deal-ref", help="The deal's reference.")
                        ] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="Kept with the evidence.")
                    ] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Compute the maximum and opening offers for a deal, explain them and keep the evidence.

    Exit 0: an offer. Exit 1: refused (policy_disabled, arv_below_minimum, no_viable_offer,
    liquidity_below_minimum) or the offers lever is throttled (do not send). Exit 2: bad input.

    \b
    Example:
      valhalla offer compute ON --market TORONTO --arv 450000 --repairs 50000
      valhalla offer compute ON --market TORONTO --comps comps.csv --sqft 1450 --repairs 50000
    """
    from pathlib import Path

    from valhalla_cli.importing import read_rows
    from valhalla_cli.services import offer

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    comp_rows = (None if comps is None
                 else read_rows(Path(comps), required=offer.COMPS_COLUMNS,
                                non_text=offer.COMPS_NON_TEXT))
    with database(ctx) as db, db.transaction(write=True) as session:
        result = offer.compute(
            session, province=province, market=market, property_type=property_type,
            arv=arv, comps=comp_rows, sqft=sqft,
            repairs=repairs, assignment_fee=assignment_fee, deal_ref=deal_ref, note=note,
            at=when, actor=cfg.actor, business_timezone=cfg.business_timezone,
            enforce=cfg.golive_enforce)
    if result.warning:
        warn(ctx, result.warning)
    if output == "table":
        _explain(result)
    else:
        emit(result, output, columns=OFFER_COLUMNS)
    if result.refusal:
        refuse(result.refusal)
    say(ctx, f"offer evidence {result.evidence_id} recorded ({result.mode})")


def _explain(result: Any) -> None:
    """The arithmetic as a person follows it on a terminal, then the context."""
    from valhalla_cli.money import format_money
    from valhalla_cli.output import Grid, render_blocks
    from valhalla_cli.wire import jsonable

    where = " ".join(p for p in (result.province, result.market, result.property_type) if p)
    head = "REFUSED" if result.outcome == "refused" else (
        "DO NOT SEND (throttled)" if result.throttled else "OFFER")
    steps = [{"step": step.step,
              "amount": format_money(step.amount) if step.amount is not None else "",
              "how": step.note} for step in result.steps]
    liq = result.liquidity
    policy = result.policy
    lines = [
        ("policy", f"{policy.province}/{policy.market} "
                   f"{'enabled' if policy.enabled else 'disabled'}"
                   + (f", overrides {', '.join(policy.overrides)}" if policy.overrides else "")
                   + f"; min ARV {format_money(policy.min_arv)}"),
        ("liquidity", f"{liq.band}" + (f" (score {liq.score})" if liq.score is not None else "")
         + f", {liq.sent} sent {jsonable(liq.window_start)}..{jsonable(liq.window_end)}"
         + (f"; minimum {liq.min_liquidity_score}" if liq.min_liquidity_score is not None
            else "")),
        ("mode", result.mode),
        ("throttled", "yes" if result.throttled else "no"),
        ("reason", ", ".join(result.reasons) if result.reasons else "-"),
        ("evidence", str(result.evidence_id)),
    ]
    render_blocks([
        Grid(f"{head}: {where} ({result.mode})", steps, ("step", "amount", "how"),
             right=("amount",)),
        Grid(None, [{"key": k, "value": v} for k, v in lines], ("key", "value"), plain=True),
    ], "table")


@app.command("policies")
def policies(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """List offer policies as applied (market rows show the merged values and their overrides).

    \b
    Example:
      valhalla offer policies --province ON
    """
    from valhalla_cli.services import offer

    show(ctx, lambda session: offer.list_policies(session, province=province), fmt, as_json,
         columns=POLICY_COLUMNS)


@app.command("policy-set")
def policy_set(
    ctx: typer.Context,
    province: ProvinceArg,
    market: Annotated[Optional[str], typer.Option(
        "--market", "-m", help="Set a market override instead of the province-wide policy.")
    ] = None,
    arv_pct: Annotated[Optional[str], typer.Option(
        "--arv-pct", metavar="X", help="Share of ARV, 0.60 to 0.80 (default 0.70).")] = None,
    assignment_fee: Annotated[Money, typer.Option("--assignment-fee", metavar="AMOUNT")] = None,
    closing_costs: Annotated[Money, typer.Option("--closing-costs", metavar="AMOUNT")] = None,
    holding_costs: Annotated[Money, typer.Option("--holding-costs", metavar="AMOUNT")] = None,
    rounding: Annotated[Money, typer.Option(
        "--rounding", metavar="AMOUNT", help="Offers round down to a multiple of this (> 0).")
    ] = None,
    opening_ratio: Annotated[Optional[str], typer.Option(
        "--opening-ratio", metavar="X", help="Opening offer as a share of MAO, above 0 up to 1.")
    ] = None,
    min_arv: Annotated[Money, typer.Option("--min-arv", metavar="AMOUNT")] = None,
    min_liquidity_score: Annotated[Optional[str], typer.Option(
        "--min-liquidity-score", metavar="N", help="Refuse below this liquidity score (0-100).")
    ] = None,
    no_min_liquidity_score: Annotated[bool, typer.Option(
        "--no-min-liquidity-score", help="No liquidity minimum.")] = False,
    enabled: Annotated[Optional[bool], typer.Option(
        "--enable/--disable", help="Allow or refuse offers under this policy.",
        show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", "-r", help="Why (recorded in the audit log).")] = None,
    dry_run: DryRunOpt = False,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change a province's offer policy, or a market override of it (audited).

    \b
    Example:
      valhalla offer policy-set ON --enable --reason "pilot in Ontario"
      valhalla offer policy-set ON --market TORONTO --arv-pct 0.72 --min-liquidity-score 50
    """
    from valhalla_cli.services import offer

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=not dry_run) as session:
        result = offer.set_policy(
            session, province=province, market=market, actor=cfg.actor, at=when,
            arv_pct=arv_pct, assignment_fee=assignment_fee, closing_costs=closing_costs,
            holding_costs=holding_costs, rounding=rounding, opening_ratio=opening_ratio,
            min_arv=min_arv, min_liquidity_score=min_liquidity_score,
            no_min_liquidity_score=no_min_liquidity_score, enabled=enabled, reason=reason,
            dry_run=dry_run)
    if dry_run:
        say(ctx, "dry run: nothing changed")
    elif not result.changed:
        say(ctx, "the policy already has these values: nothing changed")
    emit(result, output)


@evidence_app.callback()
def evidence(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    deal_ref: Annotated[Optional[str], typer.Option("--deal-ref", help="Only this deal.")
                        ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    fmt: FormatOpt = None, as_json: JsonOpt = False, wide: WideOpt = False,
) -> None:
    """Offer evidence, newest first (listed when no subcommand is given).

    \b
    Example:
      valhalla offer evidence --province ON --limit 20
    """
    if ctx.invoked_subcommand is None:
        _list_evidence(ctx, province, deal_ref, limit, fmt, as_json, wide)


@evidence_app.command("list")
def evidence_list(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    deal_ref: Annotated[Optional[str], typer.Option("--deal-ref", help="Only this deal.")
                        ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    fmt: FormatOpt = None, as_json: JsonOpt = False, wide: WideOpt = False,
) -> None:
    """List offer evidence, newest first (on a terminal the compact columns; --wide for all).

    \b
    Example:
      valhalla offer evidence list --deal-ref D-1042 --json
    """
    _list_evidence(ctx, province, deal_ref, limit, fmt, as_json, wide)


def _list_evidence(ctx: typer.Context, province: str | None, deal_ref: str | None, limit: int,
                   fmt: str | None, as_json: bool, wide: bool = False) -> None:
    from valhalla_cli.services import offer

    show(ctx,
         lambda session: offer.list_evidence(session, province=province, deal_ref=deal_ref,
                                             limit=limit),
         fmt, as_json, columns=columns_of(offer.EvidenceSummary), compact=EVIDENCE_COMPACT,
         wide=wide)


@evidence_app.command("show")
def evidence_show(
    ctx: typer.Context,
    evidence_id: Annotated[int, typer.Argument(metavar="ID", callback=bigint,
                                               help="The evidence id.")],
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show one offer's evidence in full: inputs, policy, comps, liquidity and result.

    \b
    Example:
      valhalla offer evidence show 42 --json
    """
    from valhalla_cli.services import offer

    show(ctx, lambda session: offer.show_evidence(session, evidence_id=evidence_id), fmt, as_json)


def _register_outcomes() -> None:
    from valhalla_cli.commands import offer_outcome

    offer_outcome.register(app)


_register_outcomes()
