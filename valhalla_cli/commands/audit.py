"""`valhalla audit`: the append-only audit log."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    FormatOpt,
    JsonOpt,
    bigint,
    database,
    emit,
    fmt_of,
    settings,
)

COLUMNS = ("id", "at", "actor", "pack", "action", "subject", "before", "after", "reason")


def _audited_packs() -> list[str]:
    from valhalla_cli.services.audit import Pack

    return [pack.value for pack in Pack]


def audit_command(
    ctx: typer.Context,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="DATETIME", help="Only events at or after this instant (ISO 8601).")
    ] = None,
    pack: Annotated[Optional[str], typer.Option(
        "--pack", help="Only this pack's events (a pack that writes audit events: Tab completes "
        "them, and a name that is not one is refused with the list).",
        autocompletion=_audited_packs)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the audit log, newest first: who changed what, when and why.

    \b
    Example:
      valhalla audit --pack golive --since 2027-01-01
    """
    from valhalla_cli.inputs import parse_instant
    from valhalla_cli.services import audit

    output = fmt_of(fmt, as_json)
    pack = audit.parse_pack(pack)
    since_at = (parse_instant(since, settings(ctx).business_timezone, field="--since")
                if since else None)
    with database(ctx) as db, db.transaction() as session:
        events = audit.list_events(session, since=since_at, pack=pack, limit=limit)
    emit(events, output, columns=COLUMNS)
