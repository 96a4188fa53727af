"""`valhalla desk`: a caller's queue at the call desk, as the page `/desk` shows it."""

from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import AtOpt, FormatOpt, JsonOpt, at_instant, show

# The queue's counts reordered: what is due before the calls and the inbox.
QUEUE_COLUMNS = ("owner", "due", "overdue", "calls", "inbox")


def desk_command(
    ctx: typer.Context,
    owner: Annotated[Optional[str], typer.Option(
        "--owner", metavar="O", help="Whose desk (default: the unowned calls only).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """The call desk's queue: the calls dispatch would hand this owner now, then unowned ones.

    Also `due`, `overdue` (more than 2 h past due) and the owner's open inbox items with
    their conversations. Callers work from the page `valhalla serve` shows at /desk.

    \b
    Example:
      valhalla desk --owner va1 --json
    """
    from valhalla_cli.commands._common import settings
    from valhalla_cli.services import desk

    when = at_instant(ctx, at)
    cfg = settings(ctx)
    show(ctx, lambda session: desk.queue(session, owner=owner, at=when, settings=cfg),
         fmt, as_json, columns=QUEUE_COLUMNS)
