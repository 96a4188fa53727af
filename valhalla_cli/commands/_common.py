"""What every command module shares: the global options, opening the database, rendering.

Only Typer is imported here: services and the data layer are imported inside command bodies so
that `--help` and shell completion stay fast (SPEC section 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from valhalla_cli.db import Database
    from valhalla_cli.settings import Settings


@dataclass
class GlobalOptions:
    """The root options, stored on the Typer context; settings resolve on first use."""

    config: str | None = None
    db: str | None = None
    actor: str | None = None
    quiet: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from valhalla_cli.settings import resolve_settings

            self._settings = resolve_settings(config=self.config, db=self.db, actor=self.actor,
                                              quiet=self.quiet)
        return self._settings


def options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def settings(ctx: typer.Context) -> Settings:
    return options(ctx).settings()


@contextmanager
def database(ctx: typer.Context, *, check_schema: bool = True) -> Iterator[Database]:
    """Open the configured database (creating a new default SQLite file at head)."""
    from valhalla_cli.db import open_database

    db = open_database(settings(ctx).database_url, check_schema=check_schema)
    try:
        yield db
    finally:
        db.dispose()


def at_instant(ctx: typer.Context, at: str | None) -> datetime:
    from valhalla_cli.inputs import parse_instant

    return parse_instant(at, settings(ctx).business_timezone)


def fmt_of(fmt: str | None, as_json: bool, *, markdown: bool = False) -> str:
    from valhalla_cli.output import FORMATS, resolve_format

    allowed = FORMATS if markdown else FORMATS[:4]
    return resolve_format(fmt, as_json, allowed=allowed)


def emit(data: Any, fmt: str, *, columns: Sequence[str] | None = None,
         title: str | None = None) -> None:
    from valhalla_cli.output import render

    render(data, fmt, columns=columns, title=title)


def say(ctx: typer.Context, text: str) -> None:
    """A message on standard error, silenced by -q."""
    from valhalla_cli.output import message

    message(text, quiet=options(ctx).quiet)


def warn(ctx: typer.Context, text: str) -> None:
    from valhalla_cli.output import warning

    warning(text, quiet=options(ctx).quiet)


def refuse(text: str, *, code: int = 1) -> NoReturn:
    """A "no": the answer has been printed on stdout; say why on stderr and exit 1."""
    import sys

    sys.stderr.write(f"valhalla: {text}\n")
    raise typer.Exit(code)


BIGINT_MAX = 2**63 - 1


def bigint(value: int | None) -> int | None:
    """Callback for integer ids and limits: a value no BIGINT column can hold is bad input
    (exit 2), not a driver overflow (exit 5). A callback rather than `max=` keeps help clean."""
    if value is not None and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
        raise typer.BadParameter(f"is out of range (at most {BIGINT_MAX})")
    return value

# Reusable option declarations (Annotated aliases keep every command's signature short).
FormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", metavar="FORMAT",
                 help="Output format: table, json, jsonl or tsv (default: table on a terminal, "
                 "tsv otherwise)."),
]
ReportFormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", metavar="FORMAT",
                 help="Output format: table, json, jsonl, tsv or markdown."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
AtOpt = Annotated[
    Optional[str],
    typer.Option("--at", metavar="DATETIME",
                 help="Evaluate at this instant (ISO 8601; without an offset it is business "
                 "local time). Default: now."),
]
EncodingOpt = Annotated[
    Optional[str],
    typer.Option("--encoding", metavar="ENCODING",
                 help="The file's text encoding (default utf-8; Excel's plain CSV is cp1252)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would change; "
                                         "change nothing.")]
ReasonOpt = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded in the audit log).")
]


def show(ctx: typer.Context, fetch: Callable[[Any], Any], fmt: str | None, as_json: bool,
         *, columns: Sequence[str] | None = None) -> None:
    """The read-only command: check the format, fetch in one read transaction, render."""
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction() as session:
        result = fetch(session)
    emit(result, output, columns=columns)
