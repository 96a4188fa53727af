"""Bulk import files: CSV with a header row or JSON lines, chosen by the extension.

The face reads the file (`read_rows`: a `RowSource` of (line number, row) pairs, streamed, so
memory does not grow with the file); an import service takes a session and a `RowSource` and
runs the one import loop, `import_in_batches`: validate each row, apply it in batches, report
progress. A malformed row raises `BadInput` naming the file, its line number (the header is line
1 of a CSV) and the field; the face writes the import through `StagedImport` (short
transactions, invisible until the last one), so a malformed row anywhere means nothing is
imported.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valhalla_cli.errors import BadInput


@dataclass(frozen=True)
class RowSource:
    """Rows to import: `name` (the file, for messages) and its (line number, row) pairs.

    `after_batch`, when the face sets it, runs after each applied batch: a file import commits
    there (`StagedImport.checkpoint`), so it never holds the write lock for long."""

    name: str
    rows: Iterable[tuple[int, dict[str, Any]]]
    after_batch: Callable[[], None] | None = None


def read_rows(path: Path, *, required: tuple[str, ...], optional: tuple[str, ...] = (),
              encoding: str | None = None, after_batch: Callable[[], None] | None = None,
              non_text: tuple[str, ...] = ()) -> RowSource:
    """The rows of an import file, read lazily as they are consumed."""
    return RowSource(str(path), iter_rows(path, required=required, optional=optional,
                                          encoding=encoding, non_text=non_text), after_batch)


@dataclass(frozen=True)
class RowError(Exception):
    """Raised by a row validator: which field is wrong and why."""

    field: str
    problem: str


MAX_LINE_BYTES = 1 << 20  # a longer line is not a row anybody wrote: memory stays bounded
MAX_JSON_INT = 2**63  # what a BIGINT holds; JSON numbers beyond are refused, not rounded
DEFAULT_ENCODING = "utf-8"


class _NumberOutOfRange(ValueError):
    pass


def check_encoding(name: str | None) -> str:
    """A text encoding Python knows (`utf-8`, `cp1252`, `latin-1`, ...); default UTF-8."""
    import codecs

    if name is None:
        return DEFAULT_ENCODING
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError):
        raise BadInput(f"--encoding: unknown text encoding {name!r} (e.g. utf-8, cp1252)"
                       ) from None
    if not getattr(info, "_is_text_encoding", True):
        raise BadInput(f"--encoding: {name!r} is not a text encoding")
    return info.name


def require_regular_file(path: Path) -> None:
    """Refuse anything but a regular file before it is opened: opening a named pipe with no
    writer would wait forever (a cron job hung, an import batch left running), and a device
    never ends."""
    import stat

    from valhalla_cli.errors import shown_path

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"{shown_path(path)}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{shown_path(path)}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise BadInput(f"{shown_path(path)}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise BadInput(f"{shown_path(path)}: is {kind}; give a regular file")


def _open(path: Path) -> Any:
    require_regular_file(path)
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None


def _ascii_compatible(encoding: str) -> bool:
    """Does the encoding write a newline as the byte 0x0a and ASCII as itself (UTF-8, cp1252,
    Latin-1 ...)? Then lines can be split before decoding; UTF-16 and UTF-32 cannot."""
    try:
        return "\n0aZ,".encode(encoding) == b"\n0aZ,"
    except (UnicodeError, LookupError):
        return False


def _lines(path: Path, handle: Any, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, decoded text) for each physical line, each read with a bounded buffer.

    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped; bytes that are not valid in the
    encoding name their line, since Excel's plain "CSV" is Windows-1252, not UTF-8. An
    encoding that is not ASCII-compatible (UTF-16, UTF-32) is decoded first, then split.
    """
    if not _ascii_compatible(encoding):
        yield from _decoded_lines(path, handle, encoding)
        return
    utf8 = encoding == "utf-8"
    number = 0
    while True:
        try:
            raw = handle.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise BadInput(f"{path}:{number}: the line is longer than {MAX_LINE_BYTES // 1024} "
                           "KiB: not a row of an import file")
        if number == 1 and utf8 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            hint = (" (a file saved by Excel as plain CSV is Windows-1252: try --encoding cp1252)"
                    if utf8 else " (check --encoding)")
            raise BadInput(f"{path}:{number}: byte 0x{raw[exc.start]:02x} at column "
                           f"{exc.start + 1} is not valid {encoding}{hint}") from None
        yield number, text


DECODE_BLOCK = 1 << 16


def _decoded_lines(path: Path, handle: Any, encoding: str) -> Iterator[tuple[int, str]]:
    """`_lines` for an encoding whose newline is not the byte 0x0a (UTF-16, UTF-32): decode
    blocks of 64 KiB incrementally, then split at newlines; a line longer than the bound is
    refused as soon as it passes it, so memory stays bounded whatever the file holds."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)("strict")
    number = 0
    carry = ""
    while True:
        try:
            block = handle.read(DECODE_BLOCK)
        except OSError as exc:
            raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
        state = decoder.getstate()
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError:
            # Where it failed, in lines and columns: the same block decoded from the same
            # state with replacement characters.
            replacing = codecs.getincrementaldecoder(encoding)("replace")
            replacing.setstate(state)
            seen = carry + replacing.decode(block, final=not block)
            bad = seen.find("\ufffd")
            before = seen[:bad] if bad >= 0 else seen
            line = number + 1 + before.count("\n")
            column = len(before) - (before.rfind("\n") + 1) + 1
            raise BadInput(f"{path}:{line}: the text at column {column} is not valid "
                           f"{encoding} (check --encoding)") from None
        if number == 0 and not carry and text.startswith("\ufeff"):
            text = text[1:]
        carry += text
        *complete, carry = carry.split("\n")
        for piece in complete:
            number += 1
            yield number, piece + "\n"
        if len(carry) > MAX_LINE_BYTES:
            raise BadInput(f"{path}:{number + 1}: the line is longer than "
                           f"{MAX_LINE_BYTES // 1024} KiB: not a row of an import file")
        if not block:
            if carry:
                yield number + 1, carry
            return


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(int(text)) >= MAX_JSON_INT:
        raise _NumberOutOfRange(text)
    return int(text)


def _bounded_float(text: str) -> float:
    import math

    value = float(text)
    if not math.isfinite(value):
        raise _NumberOutOfRange(text)
    return value


def _no_constant(text: str) -> Any:
    raise _NumberOutOfRange(text)


def _json_object(path: Path, line: int, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float,
                          parse_constant=_no_constant)
    except _NumberOutOfRange as exc:
        raise BadInput(f"{path}:{line}: the number {str(exc)[:40]} is out of range") from None
    except RecursionError:
        raise BadInput(f"{path}:{line}: the JSON is nested too deeply (each line must be a flat "
                       "object of plain values)") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{line}: not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise BadInput(f"{path}:{line}: not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}:{line}: each line must be a JSON object")
    for name, value in data.items():
        if isinstance(value, (dict, list)):
            kind = "an object" if isinstance(value, dict) else "an array"
            raise BadInput(f"{path}:{line}: field {name!r}: {kind} is not a value (give a "
                           "string, a number, true/false or null)")
    return data


def iter_rows(path: Path, *, required: tuple[str, ...], optional: tuple[str, ...] = (),
              encoding: str | None = None, non_text: tuple[str, ...] = ()
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) pairs; empty strings become None; unknown columns are refused.

    Bad input, naming the line (and field): bytes not valid in `encoding` (default UTF-8, a BOM
    allowed), a line over 1 MiB, a repeated CSV column, a JSON value that is an array or an
    object, a JSON number no BIGINT or float holds, and in JSON lines a number or true/false
    in a text column: every column is text (a JSON string) except `non_text`, the columns the
    import reads as numbers or flags (`{"lead_id": true}` is not lead `True`, nor `1.5e3` lead
    `1500.0`).
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise BadInput(f"{path}: unknown file type {suffix or '(none)'!r}: use .csv or .jsonl")
    encoding = check_encoding(encoding)
    known = set(required) | set(optional)
    with _open(path) as handle:
        lines = _lines(path, handle, encoding)
        if suffix == ".csv":
            physical = {"line": 0}

            def text_lines() -> Iterator[str]:
                for number, text in lines:
                    physical["line"] = number
                    yield text

            reader = csv.reader(text_lines())
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise BadInput(f"{path}: the file is empty (a header row is required)") from None
            except csv.Error as exc:
                raise BadInput(f"{path}:1: unreadable CSV header ({exc})") from None
            seen: set[str] = set()
            for name in header:
                if name in seen:
                    raise BadInput(f"{path}:1: column {name!r} appears twice in the header")
                seen.add(name)
            missing = [c for c in required if c not in header]
            if missing:
                raise BadInput(f"{path}:1: missing required column {missing[0]!r}")
            unknown = [c for c in header if c not in known]
            if unknown:
                raise BadInput(f"{path}:1: unknown column {unknown[0]!r} "
                               f"(known: {', '.join(sorted(known))})")
            width = len(header)
            try:
                for values in reader:
                    if not "".join(values).strip():
                        continue  # a blank line
                    line = physical["line"]
                    if len(values) != width:
                        raise BadInput(f"{path}:{line}: expected {width} fields, "
                                       f"found {len(values)}")
                    row = {k: (v.strip() or None) for k, v in zip(header, values, strict=True)}
                    if "\x00" in "".join(values):
                        _no_nul(path, line, row)
                    for name in required:
                        if row[name] is None:
                            raise BadInput(
                                f"{path}:{line}: field {name!r}: required value is missing")
                    yield line, row
            except csv.Error as exc:
                raise BadInput(f"{path}:{physical['line']}: unreadable CSV ({exc})") from None
        else:
            for line, text in lines:
                if not text.strip():
                    continue
                data = _json_object(path, line, text)
                unknown = [k for k in data if k not in known]
                if unknown:
                    raise BadInput(f"{path}:{line}: unknown field {unknown[0]!r}")
                _text_is_text(path, line, data, non_text)
                row = {k: (None if v == "" else v) for k, v in data.items()}
                _no_nul(path, line, row)
                _require(path, line, row, required)
                yield line, row


def _text_is_text(path: Path, line: int, data: dict[str, Any], non_text: tuple[str, ...]
                  ) -> None:
    for name, value in data.items():
        if value is None or isinstance(value, str) or name in non_text:
            continue
        shown = json.dumps(value)
        raise BadInput(f"{path}:{line}: field {name!r}: {shown[:40]} is not text (write it as "
                       "a JSON string)")


def _no_nul(path: Path, line: int, row: dict[str, Any]) -> None:
    """A NUL character is never valid text; PostgreSQL refuses it (SQLite would store it)."""
    for name, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadInput(f"{path}:{line}: field {name!r}: contains a NUL character")


def _require(path: Path, line: int, row: dict[str, Any], required: tuple[str, ...]) -> None:
    for name in required:
        if row.get(name) is None:
            raise BadInput(f"{path}:{line}: field {name!r}: required value is missing")


def given_rows(name: str, rows: list[dict[str, Any]], *, required: tuple[str, ...],
               optional: tuple[str, ...] = ()) -> RowSource:
    """Rows given as objects (an HTTP body) rather than read from a file, checked as a file's
    header is: a required column missing or an unknown one is bad input naming the row
    (`name:N`, counted from 1); empty strings become None, as in a file."""
    known = set(required) | set(optional)
    checked: list[tuple[int, dict[str, Any]]] = []
    for number, row in enumerate(rows, 1):
        missing = [c for c in required if c not in row]
        if missing:
            raise BadInput(f"{name}:{number}: missing required column {missing[0]!r}")
        unknown = sorted(set(row) - known)
        if unknown:
            raise BadInput(f"{name}:{number}: unknown column {unknown[0]!r} (known: "
                           f"{', '.join(sorted(known))})")
        checked.append((number, {k: (None if v == "" else v) for k, v in row.items()}))
    return RowSource(name, checked)


def validated(path: Path | str, rows: Iterable[tuple[int, dict[str, Any]]],
              validate: Callable[[dict[str, Any]], Any]) -> Iterator[tuple[int, Any]]:
    """Apply a row validator, turning its RowError / BadInput into file:line: field: problem."""
    for line, row in rows:
        try:
            yield line, validate(row)
        except RowError as exc:
            raise BadInput(f"{path}:{line}: field {exc.field!r}: {exc.problem}") from None
        except BadInput as exc:
            raise BadInput(f"{path}:{line}: {exc.message}") from None


Progress = Callable[[int, int], None]  # (rows done, last line read)


def import_in_batches(source: RowSource, *, validate: Callable[[dict[str, Any]], Any],
                      apply: Callable[[list[tuple[int, Any]]], None], chunk: int,
                      progress: Progress | None = None) -> int:
    """The import loop every bulk import shares: validate each row (a malformed one raises
    `BadInput` naming file:line and field), `apply` them in batches of `chunk` (line, value)
    pairs, report progress after each batch. Returns the number of rows."""
    done = 0
    for batch in chunked(validated(source.name, source.rows, validate), chunk):
        apply(batch)
        done += len(batch)
        if progress is not None:
            progress(done, batch[-1][0])
        if source.after_batch is not None:
            source.after_batch()
    return done


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class FileProgress:
    """A Rich progress bar over a file's bytes on a terminal; nothing when not on a terminal."""

    def __init__(self, path: Path, label: str, *, enabled: bool) -> None:
        self.path, self.label, self.enabled = path, label, enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> FileProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TaskProgressColumn(), TextColumn("{task.fields[rows]} rows"),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=100, rows=0)
        return self

    def update(self, rows: int, fraction: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=min(100.0, fraction * 100), rows=rows)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def count_lines(path: Path) -> int:
    """Lines in a file, read in 1 MiB blocks (for the progress bar's total)."""
    total = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                total += block.count(b"\n")
    except OSError:
        return 0
    return total


# --- writing an import in short transactions ---------------------------------------------------

ABANDONED_AFTER_S = 600  # a batch on another host with no heartbeat for this long is dead
# SQLite has no queue for its write lock: a waiting process retries from its busy handler,
# sleeping up to 100 ms between tries, and an import that began its next transaction at once
# would win the lock again every time. Pausing this long between chunks lets every waiter in.
SQLITE_YIELD_S = 0.1
# ...but only once the import has held the lock this long since it last paused: a pause after
# every 0.2 s chunk spent a third of a ladder import asleep, and a waiter still gets in within
# about this long plus one chunk.
SQLITE_YIELD_EVERY_S = 0.25
DISCARD_CHUNK = 5_000


class LockYield:
    """When a committed SQLite import pauses to let waiting writers in: after at least
    `every` seconds of writing since its last pause (`clock` and `sleep` are time's)."""

    def __init__(self, every: float = SQLITE_YIELD_EVERY_S, pause: float = SQLITE_YIELD_S,
                 clock: Any = None, sleep: Any = None) -> None:
        import time

        self.every, self.pause = every, pause
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        self.since = self.clock()

    def after_commit(self) -> None:
        if self.clock() - self.since >= self.every:
            self.sleep(self.pause)
            self.since = self.clock()


class StagedImport:
    """Write one import in short transactions, invisible to readers until `flip()`.

    The face opens one session for the import and `bind`s it here; the import loop calls
    `checkpoint` after each batch (through `RowSource.after_batch`), which commits: each batch
    is its own short write transaction and SQLite's write lock is free between them, so
    `golive kill-switch engage` gets through within a batch. Until the flip nobody sees what
    was written, in one of three ways: new rows carry this import's batch id, which every ORM
    query leaves out until the batch is `done` (`models.importing`: ladder, kpi, liquidity
    imports); changes to existing rows wait in a staging table under the batch id and the
    import's last transaction applies them with set-based SQL (`lead import`); a DNCL import
    writes a new generation of numbers that no area code reads until the last transaction
    points the area codes at it (`dncl import`). `flip` marks the batch done in that last
    transaction, together with the import's own summary writes (audit, aggregates). An import
    that fails, is interrupted or killed never flips: its rows are deleted on the way out, or,
    after a kill -9, by the next import (`discard_abandoned`); a finished import deletes its
    staged rows and the generations it replaced after the flip, in short transactions.
    """

    def __init__(self, db: Any, kind: str, *, actor: str, path: Path | str) -> None:
        self.db, self.kind, self.actor, self.path = db, kind, actor, path
        self.batch_id: int | None = None
        self.finished = False
        self.lock_yield = LockYield()

    def __enter__(self) -> StagedImport:
        import os
        import socket

        from valhalla_cli.clock import utcnow
        from valhalla_cli.models import ImportBatch

        discard_abandoned(self.db)
        now = utcnow()
        with self.db.transaction(write=True) as session:
            batch = ImportBatch(kind=self.kind[:40], status="running",
                                file=str(self.path)[-500:], actor=self.actor[:200],
                                host=socket.gethostname()[:255], pid=os.getpid(),
                                started_at=now, heartbeat_at=now)
            session.add(batch)
            session.flush()
            self.batch_id = batch.id
        return self

    def bind(self, session: Any) -> Any:
        """Make `session` write this import's rows (and see them)."""
        from valhalla_cli.models.importing import IMPORT_BATCH, SEE_UNFINISHED_IMPORTS

        session.info[IMPORT_BATCH] = self.batch_id
        session.info[SEE_UNFINISHED_IMPORTS] = True
        return session

    def _mark(self, session: Any, **values: Any) -> None:
        from sqlalchemy import update

        from valhalla_cli.clock import utcnow
        from valhalla_cli.models import ImportBatch
        from valhalla_cli.models.types import table_of

        batches = table_of(ImportBatch)
        session.execute(update(batches).where(batches.c.id == self.batch_id)
                        .values(heartbeat_at=utcnow(), **values))

    def checkpoint(self, session: Any) -> None:
        """Commit the batch written so far (still invisible) and let waiting writers in."""
        self._mark(session)
        session.commit()
        if self.db.dialect == "sqlite":
            self.lock_yield.after_commit()

    def flip(self, session: Any) -> None:
        """Mark the batch done: its rows appear when the caller's transaction commits."""
        self._mark(session, status="done")

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        import contextlib

        if exc_type is None:
            self.finished = True
            # The import is done and visible; what it left behind (staged rows, the DNCL
            # generations it replaced) goes now, in short transactions. A failure here changes
            # nothing a reader sees, and the next import finishes the job.
            if self.batch_id is not None:
                with contextlib.suppress(Exception):
                    _delete_staged(self.db, self.batch_id)
                    discard_dncl_garbage(self.db)
            return
        if self.batch_id is not None:
            # the original error matters more; if this fails too, the next import cleans up
            with contextlib.suppress(Exception):
                discard(self.db, self.batch_id)


def _imported_tables() -> tuple[Any, ...]:
    """The tables bulk imports write, each with an `import_batch_id` column (its model module
    hides the rows of unfinished imports: `models.importing.hide_unfinished_imports_of`). A
    pack whose import writes another table adds it here (and the column, in a migration)."""
    from valhalla_cli.models.kpi import KpiEvent
    from valhalla_cli.models.ladder import FollowupTask
    from valhalla_cli.models.liquidity import BuyerFeedbackEvent
    from valhalla_cli.models.types import table_of

    return tuple(table_of(model) for model in (FollowupTask, KpiEvent, BuyerFeedbackEvent))


def _staging_tables() -> tuple[Any, ...]:
    """Tables where an import parks validated rows (with `import_batch_id`) until its last
    transaction applies them elsewhere; nothing but that import reads them. Their rows are
    deleted after the flip, or with the batch when it is discarded."""
    from valhalla_cli.models.lead import LeadImportConsent, LeadImportLead
    from valhalla_cli.models.types import table_of

    return tuple(table_of(model) for model in (LeadImportLead, LeadImportConsent))


def _pause(db: Any) -> None:
    """Between two cleanup chunks: let a waiting SQLite writer in (see SQLITE_YIELD_S)."""
    if db.dialect == "sqlite":
        import time

        time.sleep(SQLITE_YIELD_S)


def _delete_batch_rows(db: Any, tables: tuple[Any, ...], batch_id: int,
                       chunk: int = DISCARD_CHUNK) -> None:
    from sqlalchemy import delete, select

    for table in tables:
        while True:
            with db.transaction(write=True) as session:
                ids = select(table.c.id).where(table.c.import_batch_id == batch_id).limit(
                    chunk).scalar_subquery()
                gone = session.execute(delete(table).where(table.c.id.in_(ids))).rowcount
            if gone < chunk:
                break
            _pause(db)


STAGED_DELETE_CHUNK = 25_000  # staging tables have no index but the batch's: cheap to delete


def _delete_staged(db: Any, batch_id: int) -> None:
    _delete_batch_rows(db, _staging_tables(), batch_id, STAGED_DELETE_CHUNK)


def discard(db: Any, batch_id: int) -> None:
    """Delete an unfinished batch's rows, a few thousand per short transaction, then the batch.

    The rows go before the batch: SQLite may hand a deleted batch's id to the next import, which
    must not inherit rows (or a DNCL generation) under it."""
    from sqlalchemy import delete

    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of

    _delete_batch_rows(db, _imported_tables(), batch_id)
    _delete_staged(db, batch_id)
    _discard_dncl_generation(db, batch_id)
    batches = table_of(ImportBatch)
    with db.transaction(write=True) as session:
        session.execute(delete(batches).where(batches.c.id == batch_id,
                                              batches.c.status != "done"))


# --- DNCL generations (models.lead.GENERATION_SPAN) --------------------------------------------

DNCL_DELETE_CHUNK = 50_000


def _generation_is_garbage(session: Any, generation: int, area: int | None) -> bool:
    """Checked in the deleting transaction itself: the generation is no area code's current
    one (or, with `area`, not that area code's) and, unless this is the discard of the batch
    that writes it (`area` None), no running import is writing it."""
    from sqlalchemy import func, select

    from valhalla_cli.models import DnclArea, ImportBatch
    from valhalla_cli.models.types import table_of

    areas, batches = table_of(DnclArea), table_of(ImportBatch)
    read = select(func.count()).select_from(areas).where(areas.c.generation == generation)
    if area is not None:
        read = read.where(areas.c.area_code == area)
    if session.scalar(read):
        return False
    status = session.scalar(select(batches.c.status).where(batches.c.id == generation))
    return status != "running" or area is None


def _delete_key_range(db: Any, low: int, high: int, generation: int, area: int | None) -> None:
    """Delete dncl_number keys in [low, high), DNCL_DELETE_CHUNK per short transaction."""
    from sqlalchemy import delete, select

    from valhalla_cli.models import DnclNumber
    from valhalla_cli.models.types import table_of

    numbers = table_of(DnclNumber)
    while True:
        with db.transaction(write=True) as session:
            if not _generation_is_garbage(session, generation, area):
                return
            cut = session.scalar(select(numbers.c.number)
                                 .where(numbers.c.number >= low, numbers.c.number < high)
                                 .order_by(numbers.c.number).offset(DNCL_DELETE_CHUNK).limit(1))
            session.execute(delete(numbers).where(numbers.c.number >= low,
                                                  numbers.c.number < (cut or high)))
        if cut is None:
            return
        low = cut
        _pause(db)


def _discard_dncl_generation(db: Any, batch_id: int) -> None:
    """The numbers an unfinished DNCL import wrote (its whole generation: one key range)."""
    from valhalla_cli.models.lead import GENERATION_SPAN

    low = batch_id * GENERATION_SPAN
    _delete_key_range(db, low, low + GENERATION_SPAN, batch_id, None)


def discard_dncl_garbage(db: Any) -> int:
    """Delete every generation of an area code's numbers that the area code no longer reads
    and no running import is writing: the list a finished import replaced, a killed import's
    numbers. Finds them by skipping from key range to key range (one probe each). Returns the
    number of ranges deleted."""
    from sqlalchemy import func, select

    from valhalla_cli.models import DnclArea, DnclNumber, ImportBatch
    from valhalla_cli.models.lead import AREA_SPAN, GENERATION_SPAN
    from valhalla_cli.models.types import table_of

    numbers, areas, batches = table_of(DnclNumber), table_of(DnclArea), table_of(ImportBatch)
    with db.transaction() as session:
        current = {(generation, area) for generation, area in session.execute(
            select(areas.c.generation, areas.c.area_code))}
        running = set(session.scalars(select(batches.c.id).where(batches.c.status == "running")))
    key, deleted = 0, 0
    while True:
        with db.transaction() as session:
            found = session.scalar(select(func.min(numbers.c.number))
                                   .where(numbers.c.number >= key))
        if found is None:
            return deleted
        generation, digits = divmod(found, GENERATION_SPAN)
        area = digits // AREA_SPAN
        low = generation * GENERATION_SPAN + area * AREA_SPAN
        key = low + AREA_SPAN
        if (generation, area) in current or generation in running:
            continue
        _delete_key_range(db, low, key, generation, area)
        deleted += 1


def discard_abandoned(db: Any) -> list[int]:
    """Discard the batches of imports that died (kill -9, power loss) before finishing: on this
    host, those whose process is gone; elsewhere, those silent for ABANDONED_AFTER_S."""
    import os
    import socket
    from datetime import timedelta

    from sqlalchemy import select

    from valhalla_cli.clock import utcnow
    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of

    host = socket.gethostname()[:255]
    stale_before = utcnow() - timedelta(seconds=ABANDONED_AFTER_S)
    batches = table_of(ImportBatch)
    with db.transaction() as session:
        running = session.execute(select(batches.c.id, batches.c.host, batches.c.pid,
                                         batches.c.heartbeat_at)
                                  .where(batches.c.status == "running")).all()
    dead = []
    for batch_id, batch_host, pid, heartbeat in running:
        if batch_host == host and pid != os.getpid():
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        else:
            alive = heartbeat >= stale_before
        if not alive:
            dead.append(batch_id)
    for batch_id in dead:
        discard(db, batch_id)
    _delete_leftover_staging(db)
    discard_dncl_garbage(db)
    return dead


def _delete_leftover_staging(db: Any) -> None:
    """Staged rows of batches that are no longer running (a kill -9 after the flip, before
    their deletion)."""
    from sqlalchemy import select

    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of

    batches = table_of(ImportBatch)
    for table in _staging_tables():
        with db.transaction() as session:
            left = session.scalars(select(table.c.import_batch_id).distinct().where(
                table.c.import_batch_id.not_in(
                    select(batches.c.id).where(batches.c.status == "running")))).all()
        for batch_id in left:
            _delete_batch_rows(db, (table,), batch_id, STAGED_DELETE_CHUNK)
