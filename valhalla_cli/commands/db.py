"""`valhalla db`: schema migrations (Alembic, run from code)."""


from typing import Annotated

import typer

from valhalla_cli.commands._common import (
    FormatOpt,
    JsonOpt,
    database,
    emit,
    fmt_of,
    refuse,
    say,
    settings,
)

app = typer.Typer(help="Database: schema migrations, integrity check and backup.",
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
    with database(ctx, check_schema=False, create=True) as db:
        migrate.upgrade(db, revision)
        from valhalla_cli.schema import current_revision

        now = current_revision(db.engine)
    say(ctx, f"database at revision {now}")


@app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base' for empty.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete the rows it names without "
                                      "asking (required when not on a terminal).")] = False,
) -> None:
    """Migrate the database down to a revision ('base' removes every table and seed).

    A downgrade that deletes rows names them and asks first; without a terminal it needs --yes.

    \b
    Example:
      valhalla db downgrade base --yes
    """
    import sys

    from valhalla_cli import migrate
    from valhalla_cli.errors import BadInput

    _check_revision(revision)
    with database(ctx, check_schema=False) as db:
        losses = migrate.downgrade_losses(db, revision)
        if losses:
            what = ", ".join(f"{loss.table} ({loss.rows} row{'s' if loss.rows != 1 else ''}"
                             f"{', table dropped' if loss.dropped else ''})" for loss in losses)
            if not yes:
                if not sys.stdin.isatty():
                    raise BadInput(f"db downgrade {revision} would delete {what}: run it again "
                                   "with --yes to confirm (nothing was changed)")
                typer.confirm(f"db downgrade {revision} deletes {what}. Go on?", abort=True,
                              err=True)
            say(ctx, f"deleting {what}")
        migrate.downgrade(db, revision)
        from valhalla_cli.schema import current_revision

        now = current_revision(db.engine)
    say(ctx, f"database at revision {now or 'base'}")


@app.command("current")
def current(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's revision and the package's head.

    \b
    Example:
      valhalla db current --json
    """
    from valhalla_cli.schema import known_head_revision, schema_state

    output = fmt_of(fmt, as_json)
    with database(ctx, check_schema=False) as db:
        state = schema_state(db.engine)
    head = known_head_revision()
    emit({"current": state.current, "head": head, "at_head": state.status == "at_head",
          "status": state.status, "problem": state.problem()}, output)


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


@app.command("check")
def check(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Check the database's integrity; exit 1 when it is damaged (then restore a backup).

    \b
    Example:
      valhalla db check
    """
    from valhalla_cli.services import db as db_service

    output = fmt_of(fmt, as_json)
    with database(ctx, check_schema=False) as db:
        report = db_service.check(db)
    emit(report, output)
    if report.refusal:
        refuse(report.refusal)


@app.command("backup")
def backup(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The new backup file (must not exist).")],
) -> None:
    """Copy the SQLite database to PATH, consistently, while other commands keep writing.

    Prints the path written (like `config init`). On PostgreSQL it prints the pg_dump command
    to use instead (exit 2).

    \b
    Example:
      valhalla db backup /var/backups/valhalla-2027-01-15.db
    """
    from pathlib import Path

    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import db as db_service

    # No schema gate: a backup before `db upgrade` is exactly when one is wanted.
    with database(ctx, check_schema=False) as db:
        result = db_service.backup(db, Path(path), actor=settings(ctx).actor, at=utcnow())
    typer.echo(result.path)
    say(ctx, f"backup of {result.pages} pages ({result.bytes} bytes) written")
