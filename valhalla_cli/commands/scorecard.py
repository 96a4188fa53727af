"""`valhalla scorecard`: the seed's eight success metrics for a period."""


from typing import Any

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    JsonOpt,
    ReportFormatOpt,
    SinceOpt,
    UntilOpt,
    at_instant,
    database,
    emit,
    fmt_of,
    refuse,
    report_period,
    say,
    settings,
)

METRIC_COLUMNS = ("metric", "value", "target", "met", "detail", "state")


def scorecard_command(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    at: AtOpt = None, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """The seed's eight success metrics for a period, each with its target and whether met.

    Runbook gate, contact-window compliance, ladder SLA within 2 h, buyer response rate, offer
    accept and contract rates, daily cap overages, regression throttles; default period: the
    30 business days ending today. A metric without data has value and met null; a contract
    rate below target while its offers are younger than the 30-day contract window is
    `pending` (met null). Exit 0 when every metric with data is met or pending, 1 otherwise
    (the missed ones named on standard error).

    \b
    Example:
      valhalla scorecard
      valhalla scorecard --since 2027-01-01 --until 2027-01-31 --format markdown
    """
    from valhalla_cli.services import scorecard

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json, markdown=True)
    when = at_instant(ctx, at)
    first, last = report_period(since, until)
    with database(ctx) as db, db.transaction() as session:
        card = scorecard.compute(session, cfg, at=when, since=first, until=last)
    render(card, output)
    for metric in card.metrics:
        if metric.note:
            say(ctx, f"{metric.metric}: {metric.note}")
    if card.refusal:
        refuse(card.refusal)


def verdict(card: Any) -> str:
    if card.ok:
        return "every target with data met"
    return "missed: " + ", ".join(card.missed)


def render(card: Any, output: str) -> None:
    if output == "json":
        emit(card, output)
    elif output == "markdown":
        from valhalla_cli.output import markdown_table
        from valhalla_cli.wire import jsonable

        data = jsonable(card)
        typer.echo(f"# Scorecard {data['since']} to {data['until']}: {verdict(card)}\n\n"
                   + markdown_table(data["metrics"], METRIC_COLUMNS), nl=False)
    else:
        emit(card.metrics, output, columns=METRIC_COLUMNS,
             title=f"Scorecard {card.since} to {card.until}: {verdict(card)}")
