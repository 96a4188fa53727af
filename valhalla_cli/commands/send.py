"""`valhalla send`: send the ladder's texts through the SMS provider, and keep the truth about
every message (show, status, reconcile, report)."""

from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    DryRunOpt,
    FormatOpt,
    JsonOpt,
    ReportFormatOpt,
    SinceOpt,
    UntilOpt,
    at_instant,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    report_period,
    say,
    settings,
    show,
    write,
)
from valhalla_cli.vocabulary import SEND_REPORT_GROUPS, words

app = typer.Typer(invoke_without_command=True)

# Selections: a handled task's line (its reason only when a rule stopped it, its message only on
# a dry run); a delivery row without its group, which a grouped table puts first.
HANDLED_COLUMNS = ("task_id", "lead_id", "to", "message_id", "sid", "state", "error_code",
                   "reason")
REPORT_COLUMNS = ("accepted", "delivered", "undelivered", "failed", "awaiting", "not_sent",
                  "unknown", "delivery_rate", "segments", "top_errors", "since", "until")


@app.callback()
def send(
    ctx: typer.Context,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", min=1, max=100_000, help="Send at most this many messages.")] = None,
    max_seconds: Annotated[Optional[float], typer.Option(
        "--max-seconds", metavar="S", help="Claim nothing new after S seconds (default "
        "[sender] max_run_seconds).")] = None,
    worker: Annotated[Optional[str], typer.Option(
        "--worker", metavar="NAME", help="Who claims (default: actor@host:pid).")] = None,
    at: AtOpt = None, dry_run: DryRunOpt = False,
) -> None:
    """Send the ladder's due texts through the SMS provider (the cron job); learn their fate.

    Without a subcommand: claim due SMS tasks and send them, one JSON line per message.

    Before each message the kill switch is read and the contact decision made again; the
    message is recorded as `sending` before the request leaves, so a task's attempt is never
    sent twice. A summary line goes to standard error. Exit 0 when the run ended normally
    (failed messages are recorded); 1 kill switch or not live; 3 no provider, or the provider
    refused the account or the sender; 4 the provider could not be reached.

    \b
    Example:
      valhalla send --limit 60 >> /var/log/valhalla-send.jsonl
    """
    if ctx.invoked_subcommand is not None:
        return
    import sys

    from valhalla_cli.output import render
    from valhalla_cli.services import ladder
    from valhalla_cli.services.sending import run

    cfg = settings(ctx)
    config = ladder.ladder_config(cfg.ladder)
    when = at_instant(ctx, at) if at is not None else None

    def printed(handled: run.Handled) -> None:
        line = {k: getattr(handled, k) for k in HANDLED_COLUMNS[:-1]}
        if handled.reason is not None:  # a contact rule stopped it: say which
            line["reason"] = handled.reason
        if dry_run:
            line["message"] = handled.message
        render([line], "jsonl")
        sys.stdout.flush()

    with database(ctx) as db:
        result = run.send(db.transaction, cfg, config, at=when, limit=limit,
                          max_seconds=max_seconds,
                          worker=worker if worker is not None else ladder.default_worker(
                              cfg.actor),
                          dry_run=dry_run, actor=cfg.actor, on_handled=printed)
    if result.refusal:  # one line: why the run stopped, with what it did
        refuse(result.refusal)
    say(ctx, result.summary)


@app.command("show")
def show_message(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="MESSAGE_ID|SID",
                                       help="The message id or the provider's sid.")],
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """One message with every status the provider reported.

    \b
    Example:
      valhalla send show SM0123456789abcdef0123456789abcdef --format json
    """
    from valhalla_cli.services.sending import ledger

    show(ctx, lambda session: ledger.show(session, key=key), fmt, as_json,
         columns=columns_of(ledger.MessageView))


@app.command("status")
def status(
    ctx: typer.Context,
    sid: Annotated[str, typer.Argument(help="The provider's message sid.")],
    status_name: Annotated[str, typer.Option(
        "--status", metavar="S", help="The provider's status: queued, sent, delivered, "
        "undelivered, failed, ...")],
    error_code: Annotated[Optional[str], typer.Option(
        "--error-code", metavar="C", help="The provider's error code, e.g. 30006.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record a provider's status for a message exactly as the status webhook does (audited).

    For replaying a provider's log: a repeated (sid, status) changes nothing.

    \b
    Example:
      valhalla send status SM0123456789abcdef0123456789abcdef --status delivered
    """
    from valhalla_cli.services.sending import events, ledger

    write(ctx, lambda session, cfg, when: events.record_status(
        session, sid=sid, status=status_name, error_code=error_code, at=when, actor=cfg.actor,
        audited=True), fmt, as_json, at=at, columns=columns_of(ledger.EventResult))


@app.command("reconcile")
def reconcile(ctx: typer.Context, at: AtOpt = None) -> None:
    """Settle messages whose fate is unknown by asking the provider (cron, every 10 minutes).

    A message `sending` for more than 2 minutes is looked up among the provider's messages to
    its number (found: completed; not found after 10 minutes: not_sent and its task returns);
    one accepted 24 hours ago with no final state is fetched again. One JSON line per message
    changed; counts on standard error; exit 4 when the provider cannot be reached.

    \b
    Example:
      valhalla send reconcile >> /var/log/valhalla-reconcile.jsonl
    """
    import sys

    from valhalla_cli.output import render
    from valhalla_cli.services import ladder
    from valhalla_cli.services.sending import reconciling

    cfg = settings(ctx)
    when = at_instant(ctx, at)

    def printed(change: reconciling.Change) -> None:
        render([change], "jsonl")
        sys.stdout.flush()

    with database(ctx) as db:
        result = reconciling.reconcile(db.transaction, cfg, ladder.ladder_config(cfg.ladder),
                                       at=when, actor=cfg.actor, on_change=printed)
    if result.refusal:
        refuse(result.refusal)
    say(ctx, result.summary)


@app.command("report")
def report(
    ctx: typer.Context,
    since: SinceOpt = None, until: UntilOpt = None,
    by: Annotated[Optional[str], typer.Option(
        "--by", help=f"Group by {words(SEND_REPORT_GROUPS)}.")] = None,
    fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Delivery of the texts sent in a period: accepted, delivered, failed, the delivery rate,
    segments and the commonest error codes (`log` messages left out).

    \b
    Example:
      valhalla send report --since 2027-01-04 --until 2027-01-10 --by sender --format json
    """
    from valhalla_cli.services.sending import report as delivery

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json, markdown=True)
    first, last = report_period(since, until)
    when = at_instant(ctx, None)
    with database(ctx) as db, db.transaction() as session:
        rows = delivery.report(session, since=first, until=last, by=by, at=when,
                               business_timezone=cfg.business_timezone)
    if by is None:
        emit({k: v for k, v in rows[0].__dict__.items() if k != "group"}, output,
             columns=REPORT_COLUMNS, title="Delivery of texts")
    else:
        key = by.strip().lower()
        emit([{key: r.group, **{k: v for k, v in r.__dict__.items() if k != "group"}}
              for r in rows], output, columns=(key, *REPORT_COLUMNS),
             title=f"Delivery of texts by {key}")
