"""`valhalla liquidity`: buyer feedback per market and the liquidity score built from it."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    at_instant,
    columns_of,
    database,
    emit,
    fmt_of,
    import_file,
    say,
    settings,
    warn,
)
from valhalla_cli.vocabulary import DEFAULT_PROPERTY_TYPE, PROPERTY_TYPES, words

app = typer.Typer(help="Buyer liquidity: record buyer feedback, score markets.",
                  no_args_is_help=True)

ProvinceArg = Annotated[str, typer.Argument(help="Province code, e.g. ON.", show_default=False)]
MarketOpt = Annotated[str, typer.Option("--market", "-m", help="Market name, e.g. TORONTO.")]
TypeOpt = Annotated[Optional[str], typer.Option(
    "--type", "-t",
    help=f"Property type: {words(PROPERTY_TYPES)} (default {DEFAULT_PROPERTY_TYPE}).")]

# A score's figures without the note (said on standard error); a node adds its last feedback.
SCORE_COLUMNS = ("province", "market", "property_type", "window_start", "window_end", "sent",
                 "responded", "closed", "response_rate", "close_rate", "score", "band")
NODE_COLUMNS = (*SCORE_COLUMNS, "last_feedback_on")


@app.command("feedback")
def feedback(
    ctx: typer.Context,
    province: ProvinceArg,
    market: MarketOpt,
    buyer: Annotated[str, typer.Option("--buyer", "-b", help="The cash buyer (name or id).")],
    responded: Annotated[Optional[bool], typer.Option(
        "--responded/--no-response", help="Whether the buyer responded to the deal (required).",
        show_default=False)] = None,
    closed: Annotated[bool, typer.Option("--closed", help="The buyer went to contract.")
                      ] = False,
    property_type: TypeOpt = None,
    deal_ref: Annotated[Optional[str], typer.Option(
        "--deal-ref", help="The deal sent; with it a repeat of the same feedback is a no-op.")
    ] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record a buyer's reaction to a deal sent to them (emits the buyer_feedback KPI).

    \b
    Example:
      valhalla liquidity feedback ON --market TORONTO --buyer acme --responded --deal-ref D-1042
    """
    from valhalla_cli.services import liquidity

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = liquidity.record_feedback(
            session, province=province, market=market, buyer=buyer,
            property_type=property_type, responded=responded, closed=closed, deal_ref=deal_ref,
            at=when, actor=cfg.actor, business_timezone=cfg.business_timezone)
    if not result.created:
        say(ctx, f"already recorded as event {result.id}: nothing changed")
    emit(result, output, columns=columns_of(liquidity.FeedbackResult))


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A .csv (with header) or .jsonl file.")],
    fmt: FormatOpt = None, as_json: JsonOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Import buyer feedback in bulk (columns: province, market, buyer, responded, at; optional
    property_type, closed, deal_ref).

    A malformed row rejects the whole file, naming its line; nothing is imported. A row whose
    deal_ref and buyer are already recorded is skipped and reported.

    \b
    Example:
      valhalla liquidity import feedback.csv
    """
    from valhalla_cli.services import liquidity

    output = fmt_of(fmt, as_json)
    cfg = settings(ctx)
    result = import_file(
        ctx, path, label="liquidity import", encoding=encoding, required=liquidity.IMPORT_REQUIRED,
        optional=liquidity.IMPORT_OPTIONAL, non_text=liquidity.IMPORT_NON_TEXT,
        run=lambda session, rows, progress: liquidity.import_rows(
            session, rows, business_timezone=cfg.business_timezone, actor=cfg.actor,
            progress=progress))
    say(ctx, f"imported {result.imported} feedback events from {path}")
    if result.skipped:
        warn(ctx, f"skipped {result.skipped} rows already recorded (first: line "
             f"{result.skipped_rows[0].line}: {result.skipped_rows[0].detail})")
    emit(result, output)


@app.command("score")
def score(
    ctx: typer.Context,
    province: ProvinceArg,
    market: MarketOpt,
    property_type: TypeOpt = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """A market's liquidity score over the 90 business dates ending with --at.

    Score 0-100 (100 = 60% of buyers respond and 25% close); hot >= 80, warm >= 50, cold below,
    unknown (no score) with fewer than 10 events.

    \b
    Example:
      valhalla liquidity score ON --market TORONTO --type SFR --json
    """
    from valhalla_cli.services import liquidity

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        result = liquidity.score(session, province=province, market=market,
                                 property_type=property_type, at=when,
                                 business_timezone=cfg.business_timezone)
    emit(result, output, columns=SCORE_COLUMNS)
    if result.note:
        say(ctx, result.note)


@app.command("nodes")
def nodes(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Every market with buyer feedback in the 90 business dates ending with --at, scored.

    \b
    Example:
      valhalla liquidity nodes --province ON
    """
    from valhalla_cli.services import liquidity

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        result = liquidity.nodes(session, province=province, at=when,
                                 business_timezone=cfg.business_timezone)
    emit(result, output, columns=NODE_COLUMNS)
