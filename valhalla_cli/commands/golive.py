"""`valhalla golive`: the production switch, the kill switch and the sign-off checklist."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
    JsonOpt,
    ReasonOpt,
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

app = typer.Typer(help="Go-live (Prime Law): enable production, kill switch, checklist.",
                  no_args_is_help=True)
kill_switch_app = typer.Typer(help="Engage or release the emergency stop.", no_args_is_help=True)
checklist_app = typer.Typer(help="Manual sign-off items that must be signed before go-live.",
                            invoke_without_command=True)
app.add_typer(kill_switch_app, name="kill-switch")
app.add_typer(checklist_app, name="checklist")



def _state_row(view) -> dict:
    from valhalla_cli.wire import jsonable

    return jsonable(view)


@app.command("state")
def state(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Show the go-live state: enabled, kill switch, live, enforcement and the last change.

    \b
    Example:
      valhalla golive state --json
    """
    from valhalla_cli.services import golive

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction() as session:
        view = golive.get_state(session, enforce=cfg.golive_enforce)
    if not cfg.golive_enforce:
        warn(ctx, "go-live enforcement is off (development only)")
    emit(_state_row(view), output)


def _switch(ctx: typer.Context, action: str, reason: str, at: str | None, fmt: str | None,
            as_json: bool) -> None:
    from valhalla_cli.services import golive, golive_gate

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        if action == "enable":
            result = golive_gate.enable(session, actor=cfg.actor, at=when, reason=reason,
                                        settings=cfg)
        else:
            result = getattr(golive, action)(session, actor=cfg.actor, at=when, reason=reason,
                                             enforce=cfg.golive_enforce)
    emit(result, output)
    if result.refusal:
        refuse(result.refusal)


@app.command("enable")
def enable(ctx: typer.Context, reason: ReasonOpt, at: AtOpt = None, fmt: FormatOpt = None,
           as_json: JsonOpt = False) -> None:
    """Enable production execution (refused unless `runbook status` is OK).

    \b
    Example:
      valhalla golive enable --reason "runbook green, DNCL signed"
    """
    _switch(ctx, "enable", reason, at, fmt, as_json)


@app.command("disable")
def disable(ctx: typer.Context, reason: ReasonOpt, at: AtOpt = None, fmt: FormatOpt = None,
            as_json: JsonOpt = False) -> None:
    """Disable production execution.

    \b
    Example:
      valhalla golive disable --reason "end of pilot"
    """
    _switch(ctx, "disable", reason, at, fmt, as_json)


@kill_switch_app.command("engage")
def engage(ctx: typer.Context, reason: ReasonOpt, at: AtOpt = None, fmt: FormatOpt = None,
           as_json: JsonOpt = False) -> None:
    """Engage the kill switch: stop all production execution at once. Never blocked.

    \b
    Example:
      valhalla golive kill-switch engage --reason "sender sending duplicates"
    """
    _switch(ctx, "engage_kill_switch", reason, at, fmt, as_json)


@kill_switch_app.command("release")
def release(ctx: typer.Context, reason: ReasonOpt, at: AtOpt = None, fmt: FormatOpt = None,
            as_json: JsonOpt = False) -> None:
    """Release the kill switch.

    \b
    Example:
      valhalla golive kill-switch release --reason "sender fixed and verified"
    """
    _switch(ctx, "release_kill_switch", reason, at, fmt, as_json)




@checklist_app.callback()
def checklist(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Manual sign-off items (listed when no subcommand is given).

    \b
    Example:
      valhalla golive checklist
    """
    if ctx.invoked_subcommand is None:
        _list_checklist(ctx, fmt, as_json)


@checklist_app.command("list")
def checklist_list(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the checklist items with who signed them and when.

    \b
    Example:
      valhalla golive checklist list --json
    """
    _list_checklist(ctx, fmt, as_json)


def _list_checklist(ctx: typer.Context, fmt: str | None, as_json: bool) -> None:
    from valhalla_cli.services import golive

    show(ctx, lambda session: golive.list_checklist(session), fmt, as_json,
         columns=columns_of(golive.ChecklistItem))


@checklist_app.command("add")
def checklist_add(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Short key, e.g. dncl-subscription.")],
    title: Annotated[str, typer.Option("--title", "-t", help="What must be true.")],
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Add a sign-off item (unsigned until someone signs it).

    \b
    Example:
      valhalla golive checklist add dncl --title "DNCL subscription active"
    """
    from valhalla_cli.services import golive

    write(
        ctx, lambda session, cfg, when: golive.add_checklist_item(
            session, key=key, title=title, actor=cfg.actor, at=when),
        fmt, as_json, at=at)


@checklist_app.command("sign")
def checklist_sign(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The item's key.")],
    note: Annotated[Optional[str], typer.Option("--note", help="Evidence or remark.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Sign an item off as the acting operator.

    \b
    Example:
      valhalla golive checklist sign dncl --note "account 4411, renewed 2026-11-01"
    """
    from valhalla_cli.services import golive

    write(
        ctx, lambda session, cfg, when: golive.sign_checklist_item(
            session, key=key, note=note, actor=cfg.actor, at=when),
        fmt, as_json, at=at)


@checklist_app.command("unsign")
def checklist_unsign(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The item's key.")],
    reason: ReasonOpt,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Withdraw a sign-off (the runbook fails again until it is re-signed).

    \b
    Example:
      valhalla golive checklist unsign dncl --reason "subscription lapsed"
    """
    from valhalla_cli.services import golive

    write(
        ctx, lambda session, cfg, when: golive.unsign_checklist_item(
            session, key=key, reason=reason, actor=cfg.actor, at=when),
        fmt, as_json, at=at)


# An audit entry without its pack: the history shows only go-live's own events.
AUDIT_COLUMNS = ("id", "at", "actor", "action", "subject", "before", "after", "reason")


@app.command("history")
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """The go-live audit events, newest first.

    \b
    Example:
      valhalla golive history --limit 10
    """
    from valhalla_cli.services import golive

    show(ctx, lambda session: golive.history(session, limit=limit), fmt, as_json,
         columns=AUDIT_COLUMNS)
