"""Rendering results: table | json | jsonl | tsv | markdown (SPEC section 5).

Data goes to standard output; messages go to standard error. Rich is imported only when a table
is actually drawn, so `--help` and shell completion never pay for it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from valhalla_cli.errors import BadInput

FORMATS = ("table", "json", "jsonl", "tsv", "markdown")


def resolve_format(fmt: str | None, as_json: bool, *, allowed: Sequence[str] = FORMATS[:4]) -> str:
    """The format asked for; default table on a terminal and tsv in a pipe or cron."""
    if as_json:
        if fmt not in (None, "json"):
            raise BadInput("--json and --format disagree: give one of them")
        return "json"
    if fmt is None:
        return "table" if sys.stdout.isatty() else "tsv"
    fmt = fmt.lower()
    if fmt not in allowed:
        raise BadInput(f"--format must be one of {', '.join(allowed)}, not {fmt!r}")
    return fmt


def jsonable(value: Any) -> Any:
    """Plain JSON values: money Decimals as '0.00' strings, instants as RFC 3339 UTC with Z."""
    from valhalla_cli.clock import rfc3339
    from valhalla_cli.money import format_money

    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity: a value that overflowed is unknown
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    return str(value)


# C0/C1 controls, DEL, line/paragraph separators and format characters (bidi overrides,
# zero-width): each would split a row, move the cursor or reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with control and invisible characters shown as escapes (`\\n`, `\\x1b`,
    `\\u202e`): safe to print on a terminal, one line whatever it holds."""
    if text.isprintable():
        return text
    return "".join(_escape_char(c) if (_UNSAFE.match(c) or unicodedata.category(c) == "Cf")
                   else c for c in text)


def tsv_field(text: str) -> str:
    """A TSV field that cannot split its row: backslash, tab, newline and other controls are
    escaped as in PostgreSQL's text COPY format (`\\\\`, `\\t`, `\\n`, `\\x1b`)."""
    if text.isprintable() and "\\" not in text:
        return text
    return visible(text.replace("\\", "\\\\"))


def _json_text(text: str) -> str:
    """JSON escapes C0 controls already; C1 controls and U+2028/9 are escaped here too."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(data: Any) -> str:
    """What `--format json` prints, and what the HTTP API answers: one serialization (never
    NaN or Infinity: `jsonable` makes them null, and `allow_nan=False` proves it)."""
    return _json_text(json.dumps(jsonable(data), indent=2, ensure_ascii=False,
                                 allow_nan=False)) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _rows(data: Any) -> tuple[list[dict[str, Any]], bool]:
    plain = jsonable(data)
    if isinstance(plain, list):
        return [r if isinstance(r, dict) else {"value": r} for r in plain], True
    if isinstance(plain, dict):
        return [plain], False
    return [{"value": plain}], False


def _columns(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def render(
    data: Any,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Write `data` (a result object or a list of them) to standard output in `fmt`."""
    out = sys.stdout
    if fmt == "json":
        out.write(json_text(data))
        return
    rows, is_list = _rows(data)
    if fmt == "jsonl":
        for row in rows:
            out.write(_json_text(json.dumps(row, ensure_ascii=False, separators=(",", ":"),
                                            allow_nan=False)) + "\n")
        return
    cols = _columns(rows, columns)
    if fmt == "tsv":
        out.write("\t".join(cols) + "\n")
        for row in rows:
            out.write("\t".join(tsv_field(_cell(row.get(c))) for c in cols) + "\n")
        return
    if fmt == "markdown":
        if title:
            out.write(f"## {title}\n\n")
        out.write(markdown_table(rows, cols))
        return
    _rich_table(rows, cols, is_list=is_list, title=title)


def markdown_table(rows: list[dict[str, Any]], cols: Sequence[str]) -> str:
    def esc(text: str) -> str:
        return visible(text).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(esc(_cell(row.get(c))) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _rich_table(
    rows: list[dict[str, Any]], cols: list[str], *, is_list: bool, title: str | None
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not is_list and len(rows) == 1:
        table = Table(title=title, show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key in cols:
            table.add_row(key, Text(visible(_cell(rows[0].get(key)))))
    else:
        table = Table(title=title)
        for key in cols:
            table.add_column(key, overflow="fold")
        for row in rows:
            table.add_row(*(Text(visible(_cell(row.get(c)))) for c in cols))
    console.print(table)


def message(text: str, *, quiet: bool = False) -> None:
    """A human message on standard error (silenced by -q)."""
    if not quiet:
        sys.stderr.write(text.rstrip("\n") + "\n")


def warning(text: str, *, quiet: bool = False) -> None:
    message(f"warning: {text}", quiet=quiet)


def error_line(text: str) -> None:
    """One line on standard error, never silenced."""
    first = visible(" ".join(str(text).split("\n")).strip())
    sys.stderr.write(f"valhalla: error: {first}\n")
