"""`valhalla template`: the SMS texts, which identify the sender and carry the opt-out word."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
    JsonOpt,
    at_instant,
    database,
    emit,
    fmt_of,
    settings,
    show,
)
from valhalla_cli.vocabulary import LANGUAGES, words

app = typer.Typer(help="SMS templates (English and French) that identify the sender.",
                  no_args_is_help=True)
COLUMNS = ("step", "language", "text", "updated_at", "updated_by")


@app.command("list")
def list_command(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the templates (step 'default' serves every SMS step without its own).

    \b
    Example:
      valhalla template list --json
    """
    from valhalla_cli.services import template

    show(ctx, template.list_templates, fmt, as_json, columns=COLUMNS)


@app.command("set")
def set_command(
    ctx: typer.Context,
    language: Annotated[str, typer.Option("--language", help=f"{words(LANGUAGES)}.")],
    text: Annotated[str, typer.Option(
        "--text", help="The text; placeholders {name} {business} {callback} {market}; must "
        "hold {business} and STOP (en) or ARRÊT (fr).")],
    step: Annotated[Optional[int], typer.Option(
        "--step", metavar="N", help="For this ladder step only (default: every SMS step).")
    ] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create or replace a template (audited).

    \b
    Example:
      valhalla template set --language en --text "{business}: still selling in {market}? \\
        Call {callback}. Reply STOP to opt out."
    """
    from valhalla_cli.services import template

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        view = template.set_template(session, step=step, language=language, text=text,
                                     actor=cfg.actor, at=when)
    emit(view, output, columns=(*COLUMNS, "created"))


@app.command("preview")
def preview_command(
    ctx: typer.Context,
    lead: Annotated[str, typer.Argument(help="The lead id.")],
    step: Annotated[Optional[int], typer.Option(
        "--step", metavar="N", help="This ladder step (default: the lead's next SMS step).")
    ] = None,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Print the exact text the lead would be sent, as dispatch renders it (changes nothing).

    \b
    Example:
      valhalla template preview L-1001 --step 3
    """
    from valhalla_cli.services import template
    from valhalla_cli.services.ladder import ladder_config

    cfg = settings(ctx)
    steps = ladder_config(cfg.ladder).steps
    show(ctx, lambda session: template.preview(session, cfg, lead_id=lead, step=step,
                                               steps=steps),
         fmt, as_json, columns=("lead_id", "step", "template", "language", "to", "market",
                                "text"))
