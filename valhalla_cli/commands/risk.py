"""`valhalla risk`: daily loss caps per engine and GLOBAL; reserve, settle, release, snapshot."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
    JsonOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
    show,
    warn,
    write,
)

app = typer.Typer(help="Risk guard: daily loss caps per engine and GLOBAL.", no_args_is_help=True)

RESERVE_COLUMNS = ("reservation_id", "engine", "amount", "ref", "day", "status", "reason",
                   "binding_cap", "replayed", "engine_headroom", "global_headroom")
CLOSE_COLUMNS = ("reservation_id", "engine", "amount", "ref", "day", "status", "refused",
                 "reason", "closed_day", "pnl", "realized_loss", "realized_profit")

RefOpt = Annotated[Optional[str], typer.Option("--ref", metavar="REF",
                                               help="The reservation's idempotency key.")]
ReservationIdArg = Annotated[Optional[int], typer.Argument(
    metavar="RESERVATION_ID", callback=bigint, help="The reservation's id (or give --ref).")]


@app.command("reserve")
def reserve(
    ctx: typer.Context,
    engine: Annotated[str, typer.Argument(help="Engine, e.g. acquisitions.")],
    amount: Annotated[str, typer.Argument(help="Amount in CAD, greater than zero, e.g. 2500.00.")],
    ref: Annotated[str, typer.Option("--ref", metavar="REF",
                                     help="Idempotency key: the same ref reserves once.")],
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Reserve against an engine's and GLOBAL's cap.

    Exits 0 when reserved (or when --ref already holds this reservation), 1 when denied.

    \b
    Example:
      valhalla risk reserve acquisitions 2500 --ref emd-123-main-st
    """
    from valhalla_cli.services import risk

    outcome = write(
        ctx, lambda session, cfg, when: risk.reserve(
            session, engine=engine, amount=amount, ref=ref, at=when, actor=cfg.actor,
            business_timezone=cfg.business_timezone, enforce=cfg.golive_enforce),
        fmt, as_json, at=at, shown=lambda r: r.result, columns=RESERVE_COLUMNS)
    if outcome.refusal:
        refuse(outcome.refusal)


def _close(ctx: typer.Context, action: str, reservation_id: int | None, ref: str | None,
           pnl: str | None, at: str | None, fmt: str | None, as_json: bool) -> None:
    from valhalla_cli.services import risk

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    extra = {"pnl": pnl} if action == "settle" else {}
    with database(ctx) as db, db.transaction(write=True) as session:
        outcome = getattr(risk, action)(
            session, reservation_id=reservation_id, ref=ref, at=when, actor=cfg.actor,
            business_timezone=cfg.business_timezone, **extra)
    emit(outcome.result, output, columns=CLOSE_COLUMNS)
    if outcome.refusal:
        refuse(outcome.refusal)


@app.command("settle")
def settle(
    ctx: typer.Context,
    reservation_id: ReservationIdArg = None,
    pnl: Annotated[Optional[str], typer.Option(
        "--pnl", metavar="AMOUNT", help="Profit (positive) or loss (negative) in CAD.")] = None,
    ref: RefOpt = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Close a reservation with its profit or loss.

    Its amount leaves the exposure of the day it was reserved; a loss counts on the
    settlement day and may breach a cap (never refused for headroom).

    \b
    Example:
      valhalla risk settle --ref emd-123-main-st --pnl -500
    """
    _close(ctx, "settle", reservation_id, ref, pnl, at, fmt, as_json)


@app.command("release")
def release(
    ctx: typer.Context,
    reservation_id: ReservationIdArg = None,
    ref: RefOpt = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Cancel an open reservation with no P&L.

    \b
    Example:
      valhalla risk release --ref emd-123-main-st
    """
    _close(ctx, "release", reservation_id, ref, None, at, fmt, as_json)


@app.command("snapshot")
def snapshot(
    ctx: typer.Context,
    day: Annotated[Optional[str], typer.Option(
        "--day", metavar="YYYY-MM-DD", help="Business day (default: today).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Exposure, headroom and breaches of a day.

    Per engine: cap, reserved, realized loss and profit, exposure, headroom, utilization.

    \b
    Example:
      valhalla risk snapshot --day 2027-01-15 --json
    """
    from valhalla_cli.inputs import parse_business_day
    from valhalla_cli.services import risk
    from valhalla_cli.wire import jsonable

    output = fmt_of(fmt, as_json)
    the_day = parse_business_day(day, at, settings(ctx).business_timezone)
    with database(ctx) as db, db.transaction() as session:
        result = risk.snapshot(session, day=the_day)
    if output in ("json", "jsonl"):
        emit(result, output)
    else:
        emit(result.engines, output, columns=columns_of(risk.EngineSnapshot),
             title=f"Risk on {the_day}")
    for breach in jsonable(result.breaches):
        warn(ctx, f"breach on {result.day}: {breach['engine']} over its cap of {breach['cap']} "
             f"by {breach['over']}")


@app.command("policies")
def policies(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the daily caps, GLOBAL first.

    \b
    Example:
      valhalla risk policies --json
    """
    from valhalla_cli.services import risk

    show(ctx, lambda session: risk.policies(session), fmt, as_json, columns=columns_of(risk.Policy))


@app.command("policy-set")
def policy_set(
    ctx: typer.Context,
    engine: Annotated[str, typer.Argument(help="Engine name (a new name creates the engine).")],
    daily_cap: Annotated[Optional[str], typer.Option(
        "--daily-cap", metavar="AMOUNT", help="Daily cap in CAD (required for a new engine).")
    ] = None,
    enabled: Annotated[Optional[bool], typer.Option(
        "--enable/--disable", help="Enable or disable the engine (disabled refuses every "
        "reservation).", show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", "-r", help="Why (recorded in the audit log).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set or create an engine's cap (audited).

    A new engine name creates the engine. An engine cap above GLOBAL's, or a GLOBAL cap below
    an engine's, is refused. Lowering a cap never cancels reservations.

    \b
    Example:
      valhalla risk policy-set marketing --daily-cap 12000 --reason "Q1 budget"
    """
    from valhalla_cli.services import risk

    write(
        ctx, lambda session, cfg, when: risk.policy_set(
            session, engine=engine, daily_cap=daily_cap, enabled=enabled, reason=reason, at=when,
            actor=cfg.actor, business_timezone=cfg.business_timezone),
        fmt, as_json, at=at)


@app.command("events")
def events(
    ctx: typer.Context,
    day: Annotated[Optional[str], typer.Option(
        "--day", metavar="YYYY-MM-DD", help="Business day (default: today).")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", metavar="ENGINE",
                                                  help="Only this engine.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """The money journal of a day.

    Reservations, denials, settlements, releases and cap changes, oldest first.

    \b
    Example:
      valhalla risk events --day 2027-01-15 --engine acquisitions
    """
    from valhalla_cli.inputs import parse_business_day
    from valhalla_cli.services import risk

    output = fmt_of(fmt, as_json)
    the_day = parse_business_day(day, at, settings(ctx).business_timezone)
    with database(ctx) as db, db.transaction() as session:
        rows = risk.events(session, day=the_day, engine=engine)
    emit(rows, output, columns=columns_of(risk.EventView))
