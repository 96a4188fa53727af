"""`valhalla kpi`: business metrics that packs emit and the regression tripwire watches."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    at_instant,
    bigint,
    database,
    emit,
    fmt_of,
    import_file,
    say,
    settings,
    write,
)

app = typer.Typer(help="KPI events: emit, import, list and summarise metrics.",
                  no_args_is_help=True)

COLUMNS = ("id", "metric", "value", "occurred_at", "province", "market", "ref", "source")


@app.command("emit")
def emit_command(
    ctx: typer.Context,
    metric: Annotated[str, typer.Argument(help="snake_case metric name, e.g. ladder_created.")],
    value: Annotated[float, typer.Option("--value", help="The observed value.")] = 1.0,
    province: Annotated[Optional[str], typer.Option("--province", help="Province code.")] = None,
    market: Annotated[Optional[str], typer.Option("--market", help="Market name.")] = None,
    ref: Annotated[Optional[str], typer.Option("--ref", help="What it refers to.")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Who emitted it.")] = "cli",
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record one KPI event.

    \b
    Example:
      valhalla kpi emit buyer_feedback --value 1 --province ON --market TORONTO
    """
    from valhalla_cli.services import kpi

    write(
        ctx, lambda session, cfg, when: kpi.emit(
            session, metric=metric, value=value, province=province, market=market, ref=ref,
            source=source, at=when),
        fmt, as_json, at=at, columns=COLUMNS)


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A .csv (with header) or .jsonl file.")],
    fmt: FormatOpt = None, as_json: JsonOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Import KPI events in bulk (columns: metric, value, occurred_at, province, market, ref,
    source; the first three are required).

    A malformed row rejects the whole file, naming its line; nothing is imported.

    \b
    Example:
      valhalla kpi import events.csv
    """
    from valhalla_cli.services import kpi_import

    output = fmt_of(fmt, as_json)
    cfg = settings(ctx)
    result = import_file(
        ctx, path, label="kpi import", encoding=encoding, required=kpi_import.REQUIRED,
        optional=kpi_import.OPTIONAL, non_text=kpi_import.NON_TEXT,
        run=lambda session, rows, progress: kpi_import.import_rows(
            session, rows, business_timezone=cfg.business_timezone, progress=progress))
    from valhalla_cli.wording import plural

    say(ctx, f"imported {plural(result.imported, 'KPI event')} from {path}")
    emit(result, output)


@app.command("list")
def list_command(
    ctx: typer.Context,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Only this metric.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", metavar="DATETIME",
                                                 help="At or after this instant.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="DATETIME",
                                                 help="At or before this instant.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """List KPI events, newest first.

    \b
    Example:
      valhalla kpi list --metric offer_generated --limit 20
    """
    from valhalla_cli.inputs import parse_instant
    from valhalla_cli.services import kpi

    output = fmt_of(fmt, as_json)
    tz = settings(ctx).business_timezone
    since_at = parse_instant(since, tz, field="--since") if since else None
    until_at = parse_instant(until, tz, field="--until") if until else None
    with database(ctx) as db, db.transaction() as session:
        events = kpi.list_events(session, metric=metric, since=since_at, until=until_at,
                                 limit=limit)
    emit(events, output, columns=COLUMNS)


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """One block character per day, scaled to the busiest day."""
    top = max(counts) if counts else 0
    if top == 0:
        return SPARK[0] * len(counts)
    return "".join(SPARK[min(len(SPARK) - 1, (c * (len(SPARK) - 1) + top - 1) // top)]
                   for c in counts)


@app.command("summary")
def summary(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="How many business days, ending today.")
                    ] = 7,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Counts and means per metric per business day, with a sparkline on a terminal.

    \b
    Example:
      valhalla kpi summary --days 14
    """
    from valhalla_cli.services import kpi

    output = fmt_of(fmt, as_json)
    cfg = settings(ctx)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        metrics = kpi.summary(session, at=when, days=days, business_timezone=cfg.business_timezone)
    if output == "table":
        rows = [{"metric": m.metric, "count": m.count,
                 "mean": None if m.mean is None else round(m.mean, 4),
                 "per_day": sparkline([d.count for d in m.days]),
                 "first_day": m.days[0].day, "last_day": m.days[-1].day} for m in metrics]
        # Columns named so that a period with no events still prints the table's header.
        emit(rows, output, columns=("metric", "count", "mean", "per_day", "first_day",
                                    "last_day"))
    elif output in ("json",):
        emit(metrics, output)
    else:
        emit([d for m in metrics for d in m.days], output,
             columns=("metric", "day", "count", "mean"))
