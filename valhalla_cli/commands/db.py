"""`valhalla db`: schema migrations (Alembic, run from code)."""


from typing import Annotated

import typer

from valhalla_cli.commands._common import FormatOpt, JsonOpt, database, emit, fmt_of, say

app = typer.Typer(help="Database schema: upgrade, downgrade, current revision, history.",
                  no_args_is_help=True)


def _check_revision(revision: str) -> None:
    from valhalla_cli.errors import BadInput
    from valhalla_cli.migrate import known_revision

    if not known_revision(revision):
        raise BadInput(f"unknown revision {revision!r} (see `valhalla db history`)")


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
) -> None:
    """Migrate the database up to a revision (default: the latest), seeding defaults.

    \b
    Example:
      valhalla db upgrade
    """
    from valhalla_cli import migrate

    _check_revision(revision)
    with database(ctx, check_schema=False) as db:
        migrate.upgrade(db, revision)
        from valhalla_cli.db import current_revision

        now = current_revision(db.engine)
    say(ctx, f"database at revision {now}")


@app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base' for empty.")],
) -> None:
    """Migrate the database down to a revision ('base' removes every table and seed).

    \b
    Example:
      valhalla db downgrade base
    """
    from valhalla_cli import migrate

    _check_revision(revision)
    with database(ctx, check_schema=False) as db:
        migrate.downgrade(db, revision)
        from valhalla_cli.db import current_revision

        now = current_revision(db.engine)
    say(ctx, f"database at revision {now or 'base'}")


@app.command("current")
def current(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's revision and the package's head.

    \b
    Example:
      valhalla db current --json
    """
    from valhalla_cli.db import current_revision
    from valhalla_cli.schema import known_head_revision

    output = fmt_of(fmt, as_json)
    with database(ctx, check_schema=False) as db:
        found = current_revision(db.engine)
    head = known_head_revision()
    emit({"current": found, "head": head, "at_head": found == head}, output)


@app.command("history")
def history(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the migrations, newest first, marking the current one and the head.

    \b
    Example:
      valhalla db history
    """
    from valhalla_cli import migrate

    output = fmt_of(fmt, as_json)
    with database(ctx, check_schema=False) as db:
        revisions = migrate.history(db)
    emit(revisions, output,
         columns=("revision", "down_revision", "description", "is_current", "is_head"))
