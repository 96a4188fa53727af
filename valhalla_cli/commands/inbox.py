"""`valhalla inbox`: replies that reach a person — open items, the conversation, answering,
closing, and how fast answers come."""

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
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
    refuse,
    report_period,
    settings,
    show,
    write,
)
from valhalla_cli.vocabulary import INBOX_KINDS, INBOX_OUTCOMES, words

app = typer.Typer(invoke_without_command=True)

# Selections: an open item's figures a person acts on (the JSON has its timestamps and outcome);
# the SLA figures without the owner, which `--by owner` puts first.
ITEM_COLUMNS = ("lead_id", "name", "owner", "kind", "waiting_minutes", "last_text", "deadline")
SLA_COLUMNS = ("opened", "answered", "median_minutes_to_answer", "within_5m_pct",
               "open_refusals", "since", "until")
LeadArg = Annotated[str, typer.Argument(help="The lead id.")]


def _or_no(act: Callable[[], Any], lead: str, done: str, output: str) -> Any:
    """Run the service; a rule's "no" prints the answer (with its reason) and exits 1."""
    from valhalla_cli.errors import Refused
    from valhalla_cli.services import inbox as service

    try:
        return act()
    except Refused as no:
        answer = service.not_done(lead, done, no)
        emit(answer.data, output)
        if answer.refusal:
            refuse(answer.refusal)
        return None


@app.callback()
def inbox(
    ctx: typer.Context,
    owner: Annotated[Optional[str], typer.Option("--owner", metavar="O",
                                                 help="Only this owner's items.")] = None,
    kind: Annotated[Optional[str], typer.Option(
        "--kind", metavar="K", help=f"Only {words(INBOX_KINDS)}.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Closed items too.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, callback=bigint,
                                       help="At most this many.")] = 100,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Leads who answered and wait for a person: open items, oldest wait first.

    A lead's text (not a keyword) opens its item and pauses its ladder; refusals carry the
    legal deadline (10 business days of the lead's province).

    \b
    Example:
      valhalla inbox --kind refusal --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from valhalla_cli.services import inbox as service

    when = at_instant(ctx, at)
    show(ctx, lambda session: service.list_items(session, owner=owner, kind=kind,
                                                 all_items=all_items, limit=limit, at=when),
         fmt, as_json, columns=ITEM_COLUMNS)


@app.command("show")
def show_command(ctx: typer.Context, lead: LeadArg, at: AtOpt = None, fmt: FormatOpt = None,
                 as_json: JsonOpt = False) -> None:
    """A lead's conversation (inbound and outbound texts in time order) and its inbox item.

    \b
    Example:
      valhalla inbox show lead-4411 --json
    """
    from valhalla_cli.services import inbox as service

    when = at_instant(ctx, at)
    show(ctx, lambda session: service.show(session, lead_id=lead, at=when), fmt, as_json,
         columns=("lead_id", "name", "phone", "item", "conversation"))


@app.command("reply")
def reply(
    ctx: typer.Context,
    lead: LeadArg,
    text: Annotated[str, typer.Option("--text", metavar="TEXT",
                                      help="1 to 1600 characters, identification included.")],
    record_inquiry: Annotated[bool, typer.Option(
        "--record-inquiry", help="First record an inquiry consent whose evidence is the lead's "
        "last message (they asked about selling).")] = False,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Answer a lead through the SMS provider, with the gates of a ladder text.

    The identification is appended when the text does not name the business. Exit 1 when a
    rule says no (kill switch, suppressed, no consent, outside the window...): nothing sent.

    \b
    Example:
      valhalla inbox reply lead-4411 --text "Thanks Sam, can I call you at 10?"
    """
    from valhalla_cli.services import inbox as service

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db:
        result = _or_no(lambda: service.reply(
            db.transaction, cfg, lead_id=lead, text=text, record_inquiry=record_inquiry,
            at=when, actor=cfg.actor), lead, "sent", output)
    emit(result, output, columns=columns_of(service.ReplyResult))
    if result.refusal:
        refuse(result.refusal)


@app.command("close")
def close(
    ctx: typer.Context,
    lead: LeadArg,
    outcome: Annotated[str, typer.Option(
        "--outcome", metavar="OUTCOME", help=f"{words(INBOX_OUTCOMES)}.")],
    note: Annotated[Optional[str], typer.Option("--note", help="Why (audited).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Close a lead's item: resume its ladder (gaps kept, inside windows) or stop it.

    \b
    Example:
      valhalla inbox close lead-4411 --outcome appointment --note "Tuesday 10:00"
    """
    from valhalla_cli.services import inbox as service

    output = fmt_of(fmt, as_json)
    _or_no(lambda: write(ctx, lambda session, cfg, when: service.close(
        session, lead_id=lead, outcome=outcome, note=note, at=when, actor=cfg.actor),
        fmt, as_json, at=at, columns=columns_of(service.CloseResult)), lead, "closed", output)


@app.command("sla")
def sla(
    ctx: typer.Context,
    since: SinceOpt = None, until: UntilOpt = None,
    by: Annotated[Optional[str], typer.Option("--by", metavar="owner",
                                              help="One line per owner.")] = None,
    at: AtOpt = None, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """How fast replies are answered: opened, answered, median minutes, share within 5 minutes.

    \b
    Example:
      valhalla inbox sla --since 2027-01-01 --by owner --json
    """
    from valhalla_cli.services import inbox as service

    cfg = settings(ctx)
    when = at_instant(ctx, at)
    first, last = report_period(since, until)
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction() as session:
        result = service.sla_report(session, since=first, until=last, by=by, at=when,
                                    business_timezone=cfg.business_timezone)
    emit(result, output, columns=(("owner",) if by else ()) + SLA_COLUMNS)
