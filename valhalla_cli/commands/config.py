"""`valhalla config` and `valhalla init`: the configuration file and first-run set-up."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    FormatOpt,
    JsonOpt,
    database,
    emit,
    fmt_of,
    options,
    say,
    settings,
)

app = typer.Typer(help="Configuration: write, show and locate the config file.",
                  no_args_is_help=True)


@app.command("init")
def config_init(
    ctx: typer.Context,
    path: Annotated[Optional[str], typer.Option("--path", metavar="PATH",
                                                help="Where to write (default: in use).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starting config file and print its path.

    \b
    Example:
      valhalla config init --path ./valhalla.toml
    """
    from pathlib import Path

    from valhalla_cli.services.config import write_config

    target = Path(path) if path else _config_path(ctx)
    written = write_config(target, force=force)
    typer.echo(str(written))


def _config_path(ctx: typer.Context):
    """The config path in use, without requiring the file to exist yet."""
    import os

    from valhalla_cli.settings import config_location

    return config_location(options(ctx).config, os.environ)[0]


@app.command("show")
def config_show(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Show the resolved settings and where each came from (passwords masked).

    \b
    Example:
      valhalla config show --json
    """
    from valhalla_cli.services.config import describe

    output = fmt_of(fmt, as_json)
    emit(describe(settings(ctx)), output, columns=("setting", "value", "source"))


@app.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print the path of the config file in use, and nothing else.

    \b
    Example:
      valhalla config path
    """
    typer.echo(str(_config_path(ctx)))


def init_command(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")
                     ] = False,
) -> None:
    """Set up a new installation: write the config file and create the database at head.

    An existing config file is kept (unless --force); an existing database is migrated to the
    latest schema. Prints the config path.

    \b
    Example:
      valhalla init && valhalla runbook status
    """
    from valhalla_cli.errors import path_error
    from valhalla_cli.services.config import write_config

    target = _config_path(ctx)
    try:
        exists = target.exists()
    except OSError as exc:
        raise path_error(exc, target, doing="write") from None
    with database(ctx, check_schema=False, create=True) as db:
        from valhalla_cli.migrate import ensure_migratable, upgrade

        # A database no migration can run on is refused before the config file is written.
        ensure_migratable(db)
        if force or not exists:
            write_config(target, force=force)
            say(ctx, f"wrote {target}")
        else:
            say(ctx, f"kept existing {target}")
        upgrade(db, "head")
    say(ctx, f"database ready at {_masked(ctx)}")
    typer.echo(str(target))


def _masked(ctx: typer.Context) -> str:
    from valhalla_cli.settings import mask_url_password

    return mask_url_password(settings(ctx).database_url)
