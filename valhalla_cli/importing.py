"""Bulk import files: CSV with a header row or JSON lines, chosen by the extension.

The face reads the file (`read_rows`: a `RowSource` of (line number, row) pairs, streamed, so
memory does not grow with the file); an import service takes a session and a `RowSource` and
runs the one import loop, `import_in_batches`: validate each row, apply it in batches, report
progress. A malformed row raises `BadInput` naming the file, its line number (the header is line
1 of a CSV) and the field; the caller runs the whole import in one transaction, so a malformed
row anywhere means nothing is imported.
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
    """Rows to import: `name` (the file, for messages) and its (line number, row) pairs."""

    name: str
    rows: Iterable[tuple[int, dict[str, Any]]]


def read_rows(path: Path, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
              ) -> RowSource:
    """The rows of an import file, read lazily as they are consumed."""
    return RowSource(str(path), iter_rows(path, required=required, optional=optional))


@dataclass(frozen=True)
class RowError(Exception):
    """Raised by a row validator: which field is wrong and why."""

    field: str
    problem: str


def _open(path: Path):
    try:
        return path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None


def iter_rows(path: Path, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) pairs; empty strings become None; unknown columns are refused."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise BadInput(f"{path}: unknown file type {suffix or '(none)'!r}: use .csv or .jsonl")
    known = set(required) | set(optional)
    with _open(path) as handle:
        if suffix == ".csv":
            reader = csv.reader(handle)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise BadInput(f"{path}: the file is empty (a header row is required)") from None
            except csv.Error as exc:
                raise BadInput(f"{path}:1: unreadable CSV header ({exc})") from None
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
                    line = reader.line_num
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
                raise BadInput(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
        else:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise BadInput(f"{path}:{line}: not valid JSON ({exc.msg})") from None
                if not isinstance(data, dict):
                    raise BadInput(f"{path}:{line}: each line must be a JSON object")
                unknown = [k for k in data if k not in known]
                if unknown:
                    raise BadInput(f"{path}:{line}: unknown field {unknown[0]!r}")
                row = {k: (None if v == "" else v) for k, v in data.items()}
                _no_nul(path, line, row)
                _require(path, line, row, required)
                yield line, row


def _no_nul(path: Path, line: int, row: dict[str, Any]) -> None:
    """A NUL character is never valid text; PostgreSQL refuses it (SQLite would store it)."""
    for name, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadInput(f"{path}:{line}: field {name!r}: contains a NUL character")


def _require(path: Path, line: int, row: dict[str, Any], required: tuple[str, ...]) -> None:
    for name in required:
        if row.get(name) is None:
            raise BadInput(f"{path}:{line}: field {name!r}: required value is missing")


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
