"""`valhalla ladder` (alias `valhalla followups`): the six-step follow-up ladder and its SLA."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    DryRunOpt,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    ReasonOpt,
    ReportFormatOpt,
    SinceOpt,
    UntilOpt,
    WideOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    import_file,
    refuse,
    report_period,
    say,
    settings,
    warn,
    write,
)
from valhalla_cli.vocabulary import (
    CONSENT_KINDS,
    CONTACT_CHANNELS,
    LADDER_CONTINUE_OUTCOMES,
    LADDER_GROUPS,
    LADDER_OPT_OUT,
    LADDER_STOP_OUTCOMES,
    LANGUAGES,
    words,
)

app = typer.Typer(help="Follow-up ladder: six contact attempts per lead, dispatched exactly "
                  "once, with SLA reporting.", no_args_is_help=True)

OUTCOMES_HELP = (f"{', '.join(LADDER_CONTINUE_OUTCOMES)} (continue); "
                 f"{', '.join(LADDER_STOP_OUTCOMES)} (stop); {LADDER_OPT_OUT}")

# What a terminal shows by default (--wide: every column); the message is `ladder due --json`'s.
CLAIM_COMPACT = ("task_id", "lead_id", "step", "channel", "to", "due_at", "lease_expires_at")
DUE_COMPACT = ("task_id", "lead_id", "step", "channel", "owner", "due_at", "status_reason")
# An SLA row's figures first and its period last; a grouped table puts the group first.
SLA_COLUMNS = ("completed", "within_30m_pct", "within_2h_pct", "median_response_minutes",
               "p90_response_minutes", "overdue_now", "target_within_2h_pct", "meets_target",
               "since", "until")

LeadArg = Annotated[str, typer.Argument(help="The lead id.")]


def _config(ctx: typer.Context):
    from valhalla_cli.services.ladder import ladder_config

    return ladder_config(settings(ctx).ladder)


@app.command("create")
def create(
    ctx: typer.Context,
    lead: LeadArg,
    province: Annotated[str, typer.Option("--province", "-p", help="Province code, e.g. ON.")],
    market_name: Annotated[Optional[str], typer.Option("--market", "-m",
                                                       help="Market, e.g. TORONTO.")] = None,
    owner: Annotated[Optional[str], typer.Option("--owner", help="Who works the lead.")] = None,
    lead_score: Annotated[Optional[int], typer.Option(
        "--lead-score", metavar="N", help="Lead score 0-100 (required when the policy has a "
        "minimum).")] = None,
    phone: Annotated[Optional[str], typer.Option("--phone", metavar="N",
                                                 help="The lead's phone number.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="The lead's name.")] = None,
    language: Annotated[Optional[str], typer.Option(
        "--language",
        help=f"{words(LANGUAGES)} (default: fr for QC, en elsewhere).")] = None,
    consent: Annotated[Optional[str], typer.Option(
        "--consent", metavar="KIND", help=f"Record consent: {words(CONSENT_KINDS)}.")
    ] = None,
    consent_at: Annotated[Optional[str], typer.Option(
        "--consent-at", metavar="DATETIME", help="When the consent was given (default: "
        "--at).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create the lead's six follow-up tasks (or return its active ladder); upserts the lead.

    \b
    Example:
      valhalla ladder create lead-4411 --province ON --market TORONTO --owner alice \\
        --phone "(416) 555-0199" --consent inquiry
    """
    from valhalla_cli.inputs import parse_instant
    from valhalla_cli.services import ladder

    config = _config(ctx)
    given = (parse_instant(consent_at, settings(ctx).business_timezone, field="--consent-at")
             if consent_at is not None else None)
    result = write(
        ctx, lambda session, cfg, when: ladder.create(
            session, lead_id=lead, province=province, market=market_name, owner=owner,
            lead_score=lead_score, at=when, actor=cfg.actor, config=config,
            business_timezone=cfg.business_timezone, phone=phone, name=name,
            language=language, consent=consent, consent_at=given),
        fmt, as_json, at=at, columns=("ladder_id", "lead_id", "created", "tasks", "reason"))
    if result.refusal:
        refuse(result.refusal)
    if not result.created:
        say(ctx, f"lead {result.lead_id} already has an active ladder {result.ladder_id}")


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A .csv (with header) or .jsonl file.")],
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
    encoding: EncodingOpt = None,
) -> None:
    """Create ladders in bulk (columns: lead_id, province, market, owner, lead_score, start_at,
    phone, name, language, consent, consent_at; the first two are required).

    A malformed row rejects the whole file, naming its line; nothing is imported. Valid rows
    refused by a rule (suppressed, disabled policy, low score) are reported with their reason.

    \b
    Example:
      valhalla ladder import leads.csv --json
    """
    from valhalla_cli.services import ladder_import

    cfg = settings(ctx)
    config = _config(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    result = import_file(
        ctx, path, label="ladder import", encoding=encoding, required=ladder_import.REQUIRED,
        optional=ladder_import.OPTIONAL, non_text=ladder_import.NON_TEXT,
        precheck=lambda rows: ladder_import.check_rows(
            rows, at=when, business_timezone=cfg.business_timezone),
        run=lambda session, rows, progress: ladder_import.import_rows(
            session, rows, config=config, at=when, actor=cfg.actor,
            business_timezone=cfg.business_timezone, progress=progress))
    say(ctx, f"{path}: {result.created} ladders created, {result.existing} already active, "
        f"{result.refused} refused")
    emit(result, output)


@app.command("show")
def show(ctx: typer.Context, lead: LeadArg, fmt: FormatOpt = None,
         as_json: JsonOpt = False) -> None:
    """The lead's ladders and their tasks.

    \b
    Example:
      valhalla ladder show lead-4411 --json
    """
    from valhalla_cli.services import ladder

    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction() as session:
        ladders = ladder.show(session, lead_id=lead)
    if output in ("json",):
        emit(ladders, output)
    else:
        rows = [{"ladder_id": lad.ladder_id, "lead_id": lad.lead_id, "active": lad.active,
                 **{k: v for k, v in task.__dict__.items()}} for lad in ladders
                for task in lad.tasks]
        emit(rows, output)


@app.command("due")
def due(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False, wide: WideOpt = False,
) -> None:
    """Tasks that could be dispatched now, without claiming them.

    \b
    Example:
      valhalla ladder due --limit 20
    """
    from valhalla_cli.services import ladder, template

    cfg = settings(ctx)
    config = _config(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        tasks = ladder.due(session, at=when, limit=limit, config=config,
                           business_timezone=cfg.business_timezone,
                           identification=template.identification_of(cfg))
    emit(tasks, output, columns=columns_of(ladder.DueTask), compact=DUE_COMPACT, wide=wide)


@app.command("overdue")
def overdue(
    ctx: typer.Context,
    owner: Annotated[Optional[str], typer.Option("--owner", help="Only this owner's tasks.")
                     ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Tasks more than the SLA ([ladder] sla_minutes) past due and not done, oldest first.

    The list `valhalla status` shows under "Overdue tasks", whole: lead, owner, step, channel,
    when it was due and how long ago (age_minutes). When more tasks are overdue than --limit,
    standard error says how many more.

    \b
    Example:
      valhalla ladder overdue --owner alice
    """
    from valhalla_cli.services import worklists

    config = _config(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        work = worklists.overdue(session, at=when, sla_minutes=config.sla_minutes, owner=owner,
                                 limit=limit)
    emit(work.rows, output, columns=columns_of(worklists.TaskItem))
    if work.more:
        say(ctx, f"… and {work.more} more overdue (of {work.total}; raise --limit)")


@app.command("dispatch")
def dispatch(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Claim at most this many.")
                     ] = 100,
    lease: Annotated[Optional[str], typer.Option(
        "--lease", metavar="DURATION", help="Lease per claim, e.g. 15m (default from "
        "the [ladder] config).")] = None,
    worker: Annotated[Optional[str], typer.Option(
        "--worker", metavar="NAME", help="Who claims (default: actor@host:pid).")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", metavar="|".join(CONTACT_CHANNELS),
        help="Hand out this channel's tasks only (default: both, or CALL only while [sender] "
        "provider sends the texts).")] = None,
    at: AtOpt = None, dry_run: DryRunOpt = False, fmt: FormatOpt = None,
    as_json: JsonOpt = False, wide: WideOpt = False,
) -> None:
    """Claim due tasks for the sender (the cron job); one line per task with --format jsonl.

    Each task carries `to` (E.164), `language` and, for SMS, the `message` to send. Tasks whose
    lead has no phone, no SMS consent or a DNCL-listed number are skipped with the reason;
    calls without a fresh DNCL check and texts without [business] identification are held
    for an hour (status_reason says why).

    Refused (exit 1, nothing claimed, nothing on standard output) when not live or when the
    followups lever is throttled. A summary goes to standard error.

    \b
    Example:
      valhalla followups dispatch --limit 500 --format jsonl | sender
    """
    from valhalla_cli.clock import parse_duration
    from valhalla_cli.services import ladder, template

    cfg = settings(ctx)
    config = _config(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    lease_for = parse_duration(lease, option="--lease") if lease is not None else config.lease
    handed = ladder.dispatch_channel(channel, provider=cfg.sender.provider)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = ladder.dispatch(
            session, at=when, limit=limit, lease=lease_for,
            worker=worker if worker is not None else ladder.default_worker(cfg.actor),
            config=config, dry_run=dry_run, enforce=cfg.golive_enforce, actor=cfg.actor,
            business_timezone=cfg.business_timezone,
            identification=template.identification_of(cfg), channel=handed)
    if result.refusal:
        refuse(result.refusal)
    if result.warning:
        warn(ctx, result.warning)
    if result.tasks:  # nothing to dispatch: no output at all
        emit(result.tasks, output, columns=columns_of(ladder.Claim), compact=CLAIM_COMPACT,
             wide=wide)
    say(ctx, result.summary)


@app.command("complete")
def complete(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(callback=bigint, help="The task id.")],
    outcome: Annotated[str, typer.Option(
        "--outcome", "-o", help=f"{OUTCOMES_HELP} (stop and suppress).")],
    claim_token: Annotated[Optional[str], typer.Option(
        "--claim-token", metavar="TOKEN", help="The token from dispatch: a stale one is "
        "refused.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="Free text.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record a task's outcome (exit 1 when the lease was lost or the task is finished).

    \b
    Example:
      valhalla ladder complete 1042 --outcome voicemail --claim-token 3f9c...
    """
    from valhalla_cli.services import ladder

    config = _config(ctx)
    result = write(
        ctx, lambda session, cfg, when: ladder.complete(
            session, task_id=task, outcome=outcome, claim_token=claim_token, note=note, at=when,
            actor=cfg.actor, config=config),
        fmt, as_json, at=at)
    if result.refusal:
        refuse(result.refusal)


@app.command("release")
def release(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(callback=bigint, help="The task id.")],
    reason: ReasonOpt,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Put a claimed task back to pending: its claim is void and the next dispatch hands it
    out again (audited). For a claim nobody will report: no outcome is invented.

    \b
    Example:
      valhalla ladder release 26 --reason "sender crashed before sending"
    """
    from valhalla_cli.services import ladder

    result = write(
        ctx, lambda session, cfg, when: ladder.release(
            session, task_id=task, reason=reason, at=when, actor=cfg.actor),
        fmt, as_json, at=at)
    if result.refusal:
        refuse(result.refusal)
    say(ctx, result.message or "")


@app.command("amend")
def amend(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(callback=bigint, help="The task id.")],
    outcome: Annotated[str, typer.Option(
        "--outcome", "-o", help=f"The correct outcome: {OUTCOMES_HELP}.")],
    reason: ReasonOpt,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Correct a finished task's outcome (audited; the first answer stays in the history) and
    apply the ladder's rule again: a stop cancels the rest, a continue reopens it.

    \b
    Example:
      valhalla ladder amend 8 --outcome contacted --reason "the seller called back"
    """
    from valhalla_cli.services import ladder

    result = write(
        ctx, lambda session, cfg, when: ladder.amend(
            session, task_id=task, outcome=outcome, reason=reason, at=when, actor=cfg.actor),
        fmt, as_json, at=at)
    if result.refusal:
        refuse(result.refusal)
    say(ctx, result.message or "")


@app.command("stop")
def stop(ctx: typer.Context, lead: LeadArg, reason: ReasonOpt, at: AtOpt = None,
         fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel the lead's remaining tasks.

    \b
    Example:
      valhalla ladder stop lead-4411 --reason "deal closed"
    """
    from valhalla_cli.services import ladder

    write(
        ctx, lambda session, cfg, when: ladder.stop(
            session, lead_id=lead, reason=reason, at=when, actor=cfg.actor),
        fmt, as_json, at=at)


@app.command("sla")
def sla(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[Optional[str], typer.Option("--by", help=f"Group by {words(LADDER_GROUPS)}.")
                  ] = None,
    at: AtOpt = None, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Response times of completed tasks against the SLA (target: 90 % within 2 h).

    \b
    Example:
      valhalla ladder sla --since 2027-01-01 --until 2027-01-31 --by owner
    """
    from valhalla_cli.services import ladder

    cfg = settings(ctx)
    config = _config(ctx)
    output = fmt_of(fmt, as_json, markdown=True)
    when = at_instant(ctx, at)
    first, last = report_period(since, until)
    with database(ctx) as db, db.transaction() as session:
        rows = ladder.sla(session, at=when, since=first, until=last, by=by,
                          business_timezone=cfg.business_timezone, config=config)
    if by is None:
        data = {k: v for k, v in rows[0].__dict__.items() if k != "group"}
        emit(data, output, columns=SLA_COLUMNS, title="Follow-up SLA")
    else:
        grouped = [{by: r.group, **{k: v for k, v in r.__dict__.items() if k != "group"}}
                   for r in rows]
        emit(grouped, output, columns=(by, *SLA_COLUMNS), title=f"Follow-up SLA by {by}")


def _register_breaches() -> None:
    from valhalla_cli.commands import ladder_breaches

    ladder_breaches.register(app)


_register_breaches()
