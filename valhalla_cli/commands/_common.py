"""What every command module shares: the global options, opening the database, rendering.

Only Typer is imported here: services and the data layer are imported inside command bodies so
that `--help` and shell completion stay fast.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

from valhalla_cli.output import DATA_FORMATS, REPORT_FORMATS, STATUS_FORMATS, format_help

if TYPE_CHECKING:
    from valhalla_cli.db import Database
    from valhalla_cli.services.refusals import Refusal
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
            from valhalla_cli.output import set_display_zone
            from valhalla_cli.settings import resolve_settings

            self._settings = resolve_settings(config=self.config, db=self.db, actor=self.actor,
                                              quiet=self.quiet)
            set_display_zone(self._settings.business_timezone)  # tables show local times
        return self._settings


def options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def settings(ctx: typer.Context) -> Settings:
    return options(ctx).settings()


def begin_work() -> None:
    """Turn the garbage collector back on once a command has loaded what it runs (`app.main`
    keeps it off during start-up); the objects start-up made are set aside, never collected."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def database(ctx: typer.Context, *, check_schema: bool = True,
             create: bool = False) -> Iterator[Database]:
    """Open the configured database.

    A missing SQLite file at the default location (the user data directory) is created at
    head by any command, folders and all, as the quick start needs. One named by --db,
    VALHALLA_DATABASE_URL or the config file is created only by the commands that pass
    `create` (`init`, `db upgrade`), and only in a folder that exists: elsewhere a missing
    file is exit 3 naming the path, so a typo never becomes a fresh, empty database.
    """
    from valhalla_cli.bootstrap import open_database

    begin_work()
    cfg = settings(ctx)
    default = cfg.is_default_database
    db = open_database(cfg.database_url, check_schema=check_schema,
                       create_missing=default or create, create_folders=default)
    try:
        yield db
    finally:
        db.dispose()


def at_instant(ctx: typer.Context, at: str | None) -> datetime:
    from valhalla_cli.inputs import parse_instant

    return parse_instant(at, settings(ctx).business_timezone)


def fmt_of(fmt: str | None, as_json: bool, *, markdown: bool = False,
           formats: Sequence[str] | None = None) -> str:
    """The output format asked for: a data format, with `markdown` any report format, or one of
    `formats` (the status overview's, with html)."""
    from valhalla_cli.output import DATA_FORMATS, REPORT_FORMATS, resolve_format

    allowed = formats or (REPORT_FORMATS if markdown else DATA_FORMATS)
    return resolve_format(fmt, as_json, allowed=allowed)


def emit(data: Any, fmt: str, *, columns: Sequence[str] | None = None,
         title: str | None = None, compact: Sequence[str] | None = None,
         wide: bool = False) -> None:
    """Render `data`; a terminal table shows the `compact` columns unless --wide."""
    from valhalla_cli.output import render

    if fmt == "table" and compact and not wide:
        columns = compact
    render(data, fmt, columns=columns, title=title)


def columns_of(view: Any) -> tuple[str, ...]:
    """A table's columns when they are a result's fields, in order: read from its dataclass
    rather than written again."""
    import dataclasses

    return tuple(field.name for field in dataclasses.fields(view))


def say(ctx: typer.Context, text: str) -> None:
    """A message on standard error, silenced by -q."""
    from valhalla_cli.output import message

    message(text, quiet=options(ctx).quiet)


def warn(ctx: typer.Context, text: str) -> None:
    from valhalla_cli.output import warning

    warning(text, quiet=options(ctx).quiet)


def refuse(refusal: Refusal) -> NoReturn:
    """A "no": the answer has been printed on stdout; say why on stderr (the service's sentence,
    in the one line the HTTP face's 409 says it too) and exit with its code (1)."""
    import sys

    from valhalla_cli.refusal_line import refusal_line

    sys.stderr.write(f"valhalla: {refusal_line(refusal.message)}\n")
    raise typer.Exit(refusal.code)


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
    typer.Option("--format", "-f", metavar="FORMAT", help=format_help(DATA_FORMATS)),
]
StatusFormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", metavar="FORMAT", help=format_help(STATUS_FORMATS)
                 + " html is the review page: one self-contained HTML document."),
]
ReportFormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", metavar="FORMAT", help=format_help(REPORT_FORMATS)),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="On a terminal (--format table), every column; by default a listing shows "
    "its compact set. Other formats always have every column.")]
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
# The period of a report: business dates, both inclusive (ladder sla, breaches, funnel, scorecard).
SinceOpt = Annotated[
    Optional[str],
    typer.Option("--since", metavar="DATE", help="First business date, inclusive (default: 29 "
                 "days before --until)."),
]
UntilOpt = Annotated[
    Optional[str],
    typer.Option("--until", metavar="DATE", help="Last business date, inclusive (default: "
                 "today)."),
]


def report_period(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """`--since` and `--until` as business dates (None: the report's default)."""
    from valhalla_cli.clock import parse_date

    return (parse_date(since, option="--since") if since else None,
            parse_date(until, option="--until") if until else None)


DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would change; "
                                         "change nothing.")]
ReasonOpt = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded in the audit log).")
]


def import_file(ctx: typer.Context, path: str, *, label: str, run: Callable[..., Any],
                required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
                non_text: tuple[str, ...] = (), encoding: str | None = None,
                read: Callable[[Path, Callable[[], None]], Any] | None = None,
                size: Callable[[Path], int] | None = None,
                precheck: Callable[[Any], object] | None = None) -> Any:
    """The face's half of every bulk import: read the file (a progress bar on a terminal) and
    hand its rows to `run(session, rows, progress)`.

    All or nothing as every reader sees it, without holding the write lock: the import commits
    after each batch, its rows invisible until the last transaction flips it done
    (`staging.StagedImport`); a malformed row anywhere, an error or a kill leaves nothing
    visible, and its rows are deleted. A CSV / JSON-lines import names its columns; another
    format passes `read(path, after_batch)` (and `size(path)`, the progress bar's total in the
    units its progress reports). `non_text`: the columns a JSON-lines file may give as numbers
    or true/false (every other column is text). `precheck(rows)`, when given, reads the whole
    file once before anything is written: for an import whose rows also write tables no batch
    id hides."""
    import sys

    from valhalla_cli.commands._progress import FileProgress, count_lines
    from valhalla_cli.importing import read_rows, require_regular_file
    from valhalla_cli.staging import StagedImport

    file = Path(path)
    require_regular_file(file)  # before any open: a named pipe with no writer never answers
    if precheck is not None:
        precheck(read_rows(file, required=required, optional=optional, encoding=encoding,
                           non_text=non_text))
    show_progress = sys.stderr.isatty() and not options(ctx).quiet
    total_lines = (size or count_lines)(file) if show_progress else 0
    with FileProgress(file, label, enabled=show_progress) as bar, database(ctx) as db, \
            StagedImport(db, label, actor=settings(ctx).actor, path=file) as staged, \
            db.transaction(write=True) as session:
        staged.bind(session)

        def after_batch() -> None:
            staged.checkpoint(session)

        rows = (read(file, after_batch) if read is not None else
                read_rows(file, required=required, optional=optional, encoding=encoding,
                          after_batch=after_batch, non_text=non_text))
        result = run(session, rows, lambda done, line: bar.update(
            done, line / total_lines if total_lines else 0.0))
        staged.flip(session)
    return result


def write(ctx: typer.Context, act: Callable[[Any, Settings, datetime], Any], fmt: str | None,
          as_json: bool, *, at: str | None = None, columns: Sequence[str] | None = None,
          shown: Callable[[Any], Any] | None = None) -> Any:
    """The write command: check the format, resolve `--at`, run `act(session, settings, at)`
    (one service call) in one write transaction, print its warning, render `shown(result)`
    (default: the result) and return the result, for the command to say "no" when it is one."""
    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = act(session, cfg, when)
    warning = getattr(result, "warning", None)
    if isinstance(warning, str) and warning:
        warn(ctx, warning)
    emit(shown(result) if shown is not None else result, output, columns=columns)
    return result


def show(ctx: typer.Context, fetch: Callable[[Any], Any], fmt: str | None, as_json: bool,
         *, columns: Sequence[str] | None = None, compact: Sequence[str] | None = None,
         wide: bool = False) -> None:
    """The read-only command: check the format, fetch in one read transaction, render."""
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction() as session:
        result = fetch(session)
    emit(result, output, columns=columns, compact=compact, wide=wide)
