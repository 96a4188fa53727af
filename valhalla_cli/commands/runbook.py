"""`valhalla runbook`: the pre-go-live checklist that every pack contributes a check to."""


import typer

from valhalla_cli.commands._common import (
    AtOpt,
    JsonOpt,
    ReportFormatOpt,
    at_instant,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
)

app = typer.Typer(help="Pre-go-live runbook: is it OK to enable go-live?", no_args_is_help=True)



def render_report(report, output: str) -> None:
    """Print a runbook report; `status` and `markdown` share this."""
    if output == "markdown":
        from valhalla_cli.renderers import runbook_markdown

        typer.echo(runbook_markdown(report), nl=False)
    elif output in ("json",):
        emit(report, output)
    else:
        from valhalla_cli.services.runbook import CheckLine

        emit(report.checks, output, columns=columns_of(CheckLine))
        if output == "table":  # a person reads it: the verdict in one line under the checks
            typer.echo(report.verdict)


def _status(ctx: typer.Context, output: str, at: str | None) -> None:
    from valhalla_cli.services import runbook

    cfg = settings(ctx)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        report = runbook.run_checks(session, cfg, at=when)
    render_report(report, output)
    if report.refusal:
        refuse(report.refusal)


@app.command("status")
def status(ctx: typer.Context, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
           at: AtOpt = None) -> None:
    """Run the local checks; exit 0 when it is OK to enable go-live, 1 otherwise.

    \b
    Example:
      valhalla runbook status --json
    """
    _status(ctx, fmt_of(fmt, as_json, markdown=True), at)


@app.command("markdown")
def markdown(ctx: typer.Context, at: AtOpt = None) -> None:
    """The runbook as Markdown, for pasting into a ticket (same as status --format markdown).

    \b
    Example:
      valhalla runbook markdown > runbook.md
    """
    _status(ctx, "markdown", at)
