"""`valhalla ladder breaches`: completed contacts outside the lead's contact window.

Registered on the `ladder` sub-app by `register(app)` (called from commands/ladder.py).
"""


from typing import Annotated

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    JsonOpt,
    ReportFormatOpt,
    SinceOpt,
    UntilOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    report_period,
    say,
    settings,
)


def breaches(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", callback=bigint,
                                       help="List at most this many (all are counted).")
                     ] = 1000,
    at: AtOpt = None, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Completed CALL/SMS tasks outside their lead's contact window or on a holiday.

    Judged by the calculus of `market can-contact`: every zone of the lead at the instant the
    contact was completed, and the province's statutory holidays while the policy is quiet on
    them. The list goes to standard output; completed contacts, breaches and the compliance
    figure (1 - breaches / completed) to standard error.

    \b
    Example:
      valhalla ladder breaches --since 2027-01-01 --until 2027-01-31 --format tsv
    """
    from valhalla_cli.services import ladder_breaches

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json, markdown=True)
    when = at_instant(ctx, at)
    first, last = report_period(since, until)
    with database(ctx) as db, db.transaction() as session:
        result = ladder_breaches.report(session, at=when, since=first, until=last,
                                        business_timezone=cfg.business_timezone, limit=limit)
    emit(result.items, output, columns=columns_of(ladder_breaches.Breach),
         title="Contact-window breaches")
    compliance = "n/a" if result.compliance is None else f"{result.compliance:.6g}"
    shown = (f"; listing the first {len(result.items)}" if result.truncated else "")
    say(ctx, f"{result.since}..{result.until}: {result.breaches} breaches in "
             f"{result.completed} completed contacts, compliance {compliance}{shown}")


def register(app: typer.Typer) -> None:
    app.command("breaches")(breaches)
