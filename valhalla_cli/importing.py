"""Reading the rows of a bulk import (CSV with a header row or JSON lines, chosen by the
extension) and the one import loop every import shares.

The face reads the file (`read_rows`: a `RowSource` of (line number, row) pairs, streamed, so
memory does not grow with the file); an import service takes a session and a `RowSource` and
runs the one import loop, `import_in_batches`: validate each row, apply it in batches, report
progress. A malformed row raises `BadInput` naming the file, its line number (the header is line
1 of a CSV) and the field; the face writes the import through `staging.StagedImport` (short
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
