"""The `valhalla` command: the root Typer app, global options, the error boundary, and the one
visible list of the command modules it mounts.

Importing this module must stay cheap (it runs on every Tab press of shell completion): it
imports Typer and the command modules, which import only Typer. A test asserts that SQLAlchemy,
SQLModel and Alembic stay out of `sys.modules`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from valhalla_cli import __version__
from valhalla_cli.commands import (
    api,
    audit,
    config,
    db,
    desk,
    dncl,
    golive,
    heimdall,
    inbox,
    kpi,
    ladder,
    lead,
    liquidity,
    market,
    offer,
    regression,
    risk,
    runbook,
    scorecard,
    send,
    serve,
    status,
    template,
)
from valhalla_cli.commands._common import GlobalOptions
from valhalla_cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    ValhallaError,
)
from valhalla_cli.typer_internals import (
    NoArgsIsHelpError,
    UsageError,
    skip_pydantic_for_group_options,
    whole_numbers_in_ascii_digits,
)

HELP_OPTION_NAMES = ["-h", "--help"]


def _refuse_blank_values(group: Any) -> None:
    """Wrap every leaf command so that an option or argument given as an empty (or only white
    space) value is bad input before the command runs: an empty `--market` must not mean the
    whole province, nor an empty `--at` now (`inputs.check_not_blank`)."""
    for sub in getattr(group, "commands", {}).values():
        if getattr(sub, "commands", None) is not None:
            _refuse_blank_values(sub)
        elif sub.callback is not None and not getattr(sub.callback, "_blank_checked", False):
            sub.callback = _checking_blanks(sub, sub.callback)


def _checking_blanks(command: Any, callback: Any) -> Any:
    import functools

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from valhalla_cli.inputs import check_not_blank
        from valhalla_cli.typer_internals import get_current_context

        ctx = get_current_context()
        for param in command.params:
            given = ctx.get_parameter_source(param.name)
            if given is None or given.name not in ("COMMANDLINE", "ENVIRONMENT"):
                continue
            value = ctx.params.get(param.name)
            label = param.opts[0] if param.opts and param.opts[0].startswith("-") else (
                (param.metavar or param.name or "value").upper())
            for item in value if isinstance(value, (tuple, list)) else (value,):
                check_not_blank(item, field=label)
        return callback(*args, **kwargs)

    checked._blank_checked = True  # type: ignore[attr-defined]
    return checked


class ValhallaGroup(TyperGroup):
    """Turns every error into one line on standard error and an exit code (see the README,
    'Exit codes')."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        skip_pydantic_for_group_options(self, HELP_OPTION_NAMES)
        _refuse_blank_values(self)
        whole_numbers_in_ascii_digits(self)
        code = run_guarded(lambda: super(ValhallaGroup, self).main(
            args=args, prog_name=prog_name or "valhalla", complete_var=complete_var,
            standalone_mode=False, windows_expand_args=windows_expand_args, **extra))
        sys.exit(code)


def run_guarded(invoke: Any) -> int:
    from valhalla_cli.output import error_line
    from valhalla_cli.settings import debug_enabled

    try:
        result = invoke()
        return result if isinstance(result, int) else 0
    except NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message() + "\n")
        return 0
    except UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        error_line(exc.format_message() + where)
        return EXIT_BAD_INPUT
    except typer.Abort:
        error_line("aborted")
        return 130
    except ValhallaError as exc:
        if debug_enabled():
            import traceback

            traceback.print_exc()
        error_line(exc.message)
        return exc.exit_code
    except BrokenPipeError:
        # The reader (head, a sender) went away: not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if debug_enabled():
            import traceback

            traceback.print_exc()
        translated = _database_error(exc)
        if translated is not None:
            error_line(translated.message)
            return translated.exit_code
        # Only the first line: driver errors go on to print the SQL and its parameters.
        lines = str(exc).strip().splitlines()
        summary = lines[0][:300] if lines else ""
        error_line(f"internal error ({type(exc).__name__}: {summary}); "
                   "run again with VALHALLA_DEBUG=1 for the traceback")
        return EXIT_INTERNAL


def _database_error(exc: Exception) -> ValhallaError | None:
    if "sqlalchemy" not in sys.modules:
        return None
    from valhalla_cli.db import describe_db_error

    return describe_db_error(exc)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"valhalla {__version__}\n")
        raise typer.Exit(0)


def root(
    ctx: typer.Context,
    config_path: Annotated[Optional[str], typer.Option(
        "--config", metavar="PATH", help="Config file (default: the XDG config directory).")
    ] = None,
    db_url: Annotated[Optional[str], typer.Option(
        "--db", metavar="URL", help="Database URL (sqlite:///PATH or postgresql+psycopg://...).")
    ] = None,
    actor: Annotated[Optional[str], typer.Option(
        "--actor", metavar="NAME", help="Who is acting, for the audit log (default: OS user).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Silence messages (not errors).")
                     ] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Valhalla: operations toolkit for a Canada-wide real-estate wholesaling business."""
    ctx.obj = GlobalOptions(config=config_path, db=db_url, actor=actor, quiet=quiet)


# What `valhalla` mounts, in the order of `valhalla --help`: the operations packs, the control
# plane, then housekeeping. Each is a command module's sub-app (a group) or its one command. A new
# pack adds its command module here.
MOUNTED: tuple[tuple[str, typer.Typer | Callable[..., None]], ...] = (
    ("lead", lead.app),
    ("market", market.app),
    ("dncl", dncl.app),
    ("template", template.app),
    ("ladder", ladder.app),
    ("send", send.app),
    ("inbox", inbox.app),
    ("desk", desk.desk_command),
    ("liquidity", liquidity.app),
    ("offer", offer.app),
    ("golive", golive.app),
    ("risk", risk.app),
    ("heimdall", heimdall.app),
    ("regression", regression.app),
    ("kpi", kpi.app),
    ("runbook", runbook.app),
    ("status", status.status_command),
    ("scorecard", scorecard.scorecard_command),
    ("audit", audit.audit_command),
    ("api", api.app),
    ("serve", serve.serve_command),
    ("config", config.app),
    ("db", db.app),
    ("init", config.init_command),
)
# Hidden second names of a group: (alias, the name it repeats, the group).
ALIASES: tuple[tuple[str, str, typer.Typer], ...] = (("followups", "ladder", ladder.app),)


def build_app(only: str | None = None) -> typer.Typer:
    """The root app with every command module mounted, in `--help` order (with `only`, the
    one module mounted under that name or alias)."""
    root_app = typer.Typer(
        name="valhalla",
        cls=ValhallaGroup,
        help="Valhalla: operations toolkit for a Canada-wide real-estate wholesaling business.",
        epilog=EXIT_CODES_HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": HELP_OPTION_NAMES},
    )
    root_app.callback()(root)
    for name, mounted in MOUNTED:
        if only is not None and name != only:
            continue
        if isinstance(mounted, typer.Typer):
            root_app.add_typer(mounted, name=name)
        else:
            root_app.command(name)(mounted)
    for alias, name, group in ALIASES:
        if only is None or alias == only:
            root_app.add_typer(group, name=alias, hidden=True, help=f"Alias of '{name}'.")
    return root_app


# The root options a command line may give before its command: those that take a value, and
# the flags. Any other word starting with a dash (help, version, a typo) needs the whole tree.
_VALUED_OPTIONS = ("--config", "--db", "--actor")
_FLAGS = ("--quiet", "-q")


def command_named(args: Sequence[str]) -> str | None:
    """The command module a command line runs (`ladder` for `valhalla --db URL ladder
    dispatch`), or None when it names none that is mounted, or asks the root for help."""
    words = iter(args)
    for word in words:
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif word in _FLAGS or word.startswith(tuple(f"{o}=" for o in _VALUED_OPTIONS)):
            continue
        elif word.startswith("-"):
            return None
        else:
            names = {name for name, _ in MOUNTED} | {alias for alias, _, _ in ALIASES}
            return word if word in names else None
    return None


app = build_app()


def main() -> None:
    """Console-script entry point.

    Starting a command allocates a few hundred thousand long-lived objects (the command tree,
    SQLAlchemy, pydantic, the mapped tables) and makes almost no garbage: the cyclic garbage
    collector would walk them over and over while they load, and once more at exit, for
    nothing (a third of a short command's CPU). So it is off while the command starts; the
    command turns it back on when its work begins (`commands._common.begin_work`, over the
    objects made from then on), and what start-up made is set aside before exit."""
    gc.disable()
    # Building the click command of every option of every command costs more than a short
    # command's own work: a command line that names its module gets a root holding that module
    # alone (the same commands, options, help and errors); help at the root, a misspelt
    # command and shell completion get the whole tree.
    named = None if "_VALHALLA_COMPLETE" in os.environ else command_named(sys.argv[1:])
    try:
        (app if named is None else build_app(only=named))(prog_name="valhalla")
    finally:
        gc.freeze()
