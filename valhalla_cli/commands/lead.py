"""`valhalla lead`: the lead registry — numbers, consent, opt-outs and replies."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    WideOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    import_file,
    say,
    settings,
    show,
)
from valhalla_cli.vocabulary import CONSENT_CHANNELS, CONSENT_KINDS, LANGUAGES, words

app = typer.Typer(help="Leads: phone numbers, consent evidence, opt-outs and replies.",
                  no_args_is_help=True)

LEAD_COMPACT = ("lead_id", "phone", "name", "province", "market", "language")
LeadArg = Annotated[str, typer.Argument(help="The lead id.")]


def _lead_columns() -> tuple[str, ...]:
    """A lead's fields, read from its dataclass when a command has loaded the service."""
    from valhalla_cli.services.contact_facts import LeadRecord

    return columns_of(LeadRecord)


@app.command("add")
def add(
    ctx: typer.Context,
    lead: LeadArg,
    province: Annotated[Optional[str], typer.Option(
        "--province", "-p", help="Province code, e.g. ON (required to create).")] = None,
    phone: Annotated[Optional[str], typer.Option("--phone", metavar="N",
                                                 help="Phone number, e.g. (416) 555-0199.")
                     ] = None,
    market_name: Annotated[Optional[str], typer.Option("--market", "-m",
                                                       help="Market, e.g. TORONTO.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="The person's name.")] = None,
    language: Annotated[Optional[str], typer.Option(
        "--language",
        help=f"{words(LANGUAGES)} (default: fr for QC, en elsewhere).")] = None,
    source: Annotated[Optional[str], typer.Option(
        "--source", help="Where the lead came from, e.g. ppc, direct_mail.")] = None,
    timezone: Annotated[Optional[str], typer.Option(
        "--timezone", metavar="ZONE", help="A confirmed zone where the person is: it alone "
        "decides calling hours.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create or update a lead; an update changes only the fields given (audited).

    \b
    Example:
      valhalla lead add lead-4411 --province ON --phone "(604) 555-0100" --name "Sam Lee"
    """
    from valhalla_cli.services import lead as service

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    fields = service.validate_fields(lead_id=lead, province=province, phone=phone,
                                     market=market_name, name=name, language=language,
                                     source=source, timezone=timezone)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = service.add(session, fields=fields, at=when, actor=cfg.actor)
    emit(service.upsert_view(result), output,
         columns=(*_lead_columns(), "created", "changed"))


@app.command("show")
def show_command(ctx: typer.Context, lead: LeadArg, at: AtOpt = None, fmt: FormatOpt = None,
                 as_json: JsonOpt = False) -> None:
    """The lead, its consents, DNCL status, suppressions, ladders, replies and contact answer.

    \b
    Example:
      valhalla lead show lead-4411 --json
    """
    from valhalla_cli.services import lead_show

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        view = lead_show.show(session, lead_id=lead, at=when,
                            business_timezone=cfg.business_timezone)
    emit(lead_show.as_data(view), output,
         columns=(*_lead_columns(), "suppressed", "dncl", "contact", "consents", "suppressions",
                  "inbound", "ladders", "messages", "conversation", "inbox", "calls"))


@app.command("list")
def list_command(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    market_name: Annotated[Optional[str], typer.Option("--market", "-m",
                                                       help="Only this market.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    fmt: FormatOpt = None, as_json: JsonOpt = False, wide: WideOpt = False,
) -> None:
    """List leads by id (on a terminal the compact columns; --wide for all).

    \b
    Example:
      valhalla lead list --province QC --json
    """
    from valhalla_cli.services import lead as service

    show(ctx, lambda session: service.list_leads(session, province=province, market=market_name,
                                                 limit=limit),
         fmt, as_json, columns=_lead_columns(), compact=LEAD_COMPACT, wide=wide)


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A .csv (with header) or .jsonl file.")],
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Upsert leads in bulk (columns: lead_id, province, phone, market, name, language, source,
    consent, consent_at; the first two are required).

    A malformed row rejects the whole file, naming its line and field; nothing is imported.

    \b
    Example:
      valhalla lead import leads.csv --json
    """
    from valhalla_cli.services import lead_import

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    result = import_file(
        ctx, path, label="lead import", encoding=encoding, required=lead_import.REQUIRED,
        optional=lead_import.OPTIONAL,
        run=lambda session, rows, progress: lead_import.import_rows(
            session, rows, at=when, actor=cfg.actor, business_timezone=cfg.business_timezone,
            progress=progress))
    say(ctx, f"{path}: {result.created} leads created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.consents} consents recorded")
    emit(result, output)


@app.command("consent")
def consent(
    ctx: typer.Context,
    lead: LeadArg,
    kind: Annotated[Optional[str], typer.Option(
        "--kind", help=f"{words(CONSENT_KINDS)} (inquiry: 6 months; business: 2 years SMS, "
        "18 months call exemption).")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", help=f"{words(CONSENT_CHANNELS)} (default all).")] = None,
    evidence: Annotated[Optional[str], typer.Option(
        "--evidence", help="What proves it, e.g. 'web form 2027-01-03, IP 203.0.113.9'.")
    ] = None,
    withdraw: Annotated[bool, typer.Option(
        "--withdraw", help="The lead withdrew consent: an opt-out (suppresses the lead and its "
        "number).")] = False,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record consent evidence (append-only), or a withdrawal.

    \b
    Example:
      valhalla lead consent lead-4411 --kind inquiry --evidence "called about selling"
    """
    from valhalla_cli.services import lead as service

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        view = service.record_consent(session, lead_id=lead, kind=kind, channel=channel,
                                      evidence=evidence, withdraw=withdraw, at=when,
                                      actor=cfg.actor,
                                      business_timezone=cfg.business_timezone)
    emit(view, output)


@app.command("inbound")
def inbound(
    ctx: typer.Context,
    from_number: Annotated[str, typer.Option("--from", metavar="N",
                                             help="The number that texted.")],
    body: Annotated[str, typer.Option("--body", help="What it said.")],
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Handle a text a lead sent back: STOP/ARRÊT/... opts the number out at once; START
    opts an opted-out number back in; HELP/AIDE answers who we are; any other text opens the
    lead's inbox item and pauses its ladder.

    \b
    Example:
      valhalla lead inbound --from +14165550199 --body "ARRÊT"
    """
    from valhalla_cli.services import lead as service

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = service.inbound(session, phone=from_number, body=body, at=when,
                                 actor=cfg.actor, business_name=cfg.business_name,
                                 business_callback=cfg.business_callback,
                                 business_website=cfg.business_website,
                                 business_timezone=cfg.business_timezone)
    emit(result, output)
