"""Rendering results: one renderer per format, chosen by name (see the README, 'Output').

`DATA_FORMATS` (table, json, jsonl, tsv) are what every command that prints data takes;
`REPORT_FORMATS` add markdown, for the commands whose answer is a report; `STATUS_FORMATS` add
html, the review page of `valhalla status` (rendered by `valhalla_cli.review_page`).
`render` writes a result (a dataclass, a mapping, or a list of them) in a format; `render_blocks`
writes a laid-out report (lines of text and titled tables: `Text`, `Grid`) on a terminal or as
Markdown; `render_key_values` writes a nested overview as dotted `key<TAB>value` lines. The
`--format` help text is built from these names (`format_help`).

Data goes to standard output; messages go to standard error. Rich is imported only when a table
is actually drawn, so `--help` and shell completion never pay for it. The machine formats (json,
jsonl, and the HTTP API's answers) are serialized by `wire`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from valhalla_cli.errors import BadInput
from valhalla_cli.wire import json_line, json_text, jsonable, plain

DATA_FORMATS = ("table", "json", "jsonl", "tsv")
REPORT_FORMATS = (*DATA_FORMATS, "markdown")
STATUS_FORMATS = (*REPORT_FORMATS, "html")


def _or_list(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def format_help(formats: Sequence[str]) -> str:
    """The help text of a --format option accepting `formats`."""
    default = " (default: table on a terminal, tsv otherwise)." if formats == DATA_FORMATS else "."
    return f"Output format: {_or_list(formats)}{default}"


def resolve_format(fmt: str | None, as_json: bool, *, allowed: Sequence[str] = DATA_FORMATS
                   ) -> str:
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


def displayable(value: Any) -> Any:
    """What a person reads (tables, Markdown): the wire's plain values, but money with thousands
    separators ('1,234.50') and instants in business-local time to the second with the zone
    ('2027-01-15 10:00:00 Toronto', `local_time`). Machine formats never use it."""
    return plain(value, money=lambda amount: f"{amount:,.2f}", instant=local_time)


# The business time zone of the running command (set when its settings are resolved): tables
# and Markdown show instants in it; None shows them in UTC.
_display_zone: str | None = None


def set_display_zone(zone: str | None) -> None:
    global _display_zone
    _display_zone = zone


def zone_label(zone: str | None) -> str:
    """'America/Toronto' -> 'Toronto', 'America/Argentina/Buenos_Aires' -> 'Buenos Aires'."""
    if not zone or zone == "UTC":
        return "UTC"
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def local_time(value: datetime, zone: str | None = None) -> str:
    """An instant as a person reads it: business-local, to the second, with the zone,
    '2027-01-15 10:00:00 Toronto' (UTC when no business zone is known)."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    zone = zone or _display_zone
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo(zone)) if zone and zone != "UTC" else value.astimezone(UTC)
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_label(zone)}"


def age_text(minutes: int | None) -> str:
    """An age as a person says it: '45 min', '3 h 05 min', '2 d 4 h'."""
    if minutes is None:
        return ""
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} d {minutes % (24 * 60) // 60} h"


def local_text(text: str | None, zone: str | None = None) -> str:
    """An RFC 3339 string (a JSON instant) as `local_time` shows it; anything else as it is."""
    if not text:
        return "–"
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if parsed.tzinfo is None or len(str(text)) < 19:
        return str(text)
    return local_time(parsed, zone)


# C0/C1 controls, DEL, line/paragraph separators and format characters (bidi overrides,
# zero-width): each would split a row, move the cursor or reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
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


def cell(value: Any) -> str:
    """One value as the text of a table or TSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _rows(data: Any, *, display: bool = False) -> tuple[list[dict[str, Any]], bool]:
    values = displayable(data) if display else jsonable(data)
    if isinstance(values, list):
        return [r if isinstance(r, dict) else {"value": r} for r in values], True
    if isinstance(values, dict):
        return [values], False
    return [{"value": values}], False


def _columns(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


Renderer = Callable[[Any, "Sequence[str] | None", "str | None"], None]


def _render_json(data: Any, columns: Sequence[str] | None, title: str | None) -> None:
    sys.stdout.write(json_text(data))


def _render_jsonl(data: Any, columns: Sequence[str] | None, title: str | None) -> None:
    rows, _ = _rows(data)
    for row in rows:
        sys.stdout.write(json_line(row))


def _render_tsv(data: Any, columns: Sequence[str] | None, title: str | None) -> None:
    rows, _ = _rows(data)
    cols = _columns(rows, columns)
    sys.stdout.write("\t".join(cols) + "\n")
    for row in rows:
        sys.stdout.write("\t".join(tsv_field(cell(row.get(c))) for c in cols) + "\n")


def _render_markdown(data: Any, columns: Sequence[str] | None, title: str | None) -> None:
    rows, _ = _rows(data, display=True)
    if title:
        sys.stdout.write(f"## {title}\n\n")
    sys.stdout.write(markdown_table(rows, _columns(rows, columns)))


def _render_table(data: Any, columns: Sequence[str] | None, title: str | None) -> None:
    rows, is_list = _rows(data, display=True)
    _rich_table(rows, _columns(rows, columns), is_list=is_list, title=title)


RENDERERS: dict[str, Renderer] = {
    "table": _render_table,
    "json": _render_json,
    "jsonl": _render_jsonl,
    "tsv": _render_tsv,
    "markdown": _render_markdown,
}


def render(
    data: Any,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Write `data` (a result object or a list of them) to standard output in `fmt`."""
    RENDERERS[fmt](data, columns, title)


# --- laid-out reports ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Text:
    """A line (or paragraph) of a report; `style` applies on a terminal only."""

    text: str
    style: str | None = None


@dataclasses.dataclass(frozen=True)
class Grid:
    """A titled table of a report. `headers` relabel `columns` on a terminal; `right` columns
    are right-aligned there; `plain` draws a header-less, borderless key/value list."""

    title: str | None
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str]
    headers: Sequence[str] | None = None
    right: Sequence[str] = ()
    plain: bool = False
    title_style: str | None = None


Block = Text | Grid


def render_blocks(blocks: Sequence[Block], fmt: str) -> None:
    """A laid-out report on a terminal (`table`) or as Markdown (blocks joined by blank lines;
    a Grid's title becomes a `##` heading)."""
    if fmt == "markdown":
        parts = []
        for block in blocks:
            if isinstance(block, Text):
                parts.append(block.text)
            else:
                rows = [dict(r) for r in block.rows]
                heading = f"## {block.title}\n\n" if block.title else ""
                parts.append(heading + markdown_table(rows, block.columns))
        sys.stdout.write("\n".join(parts))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text as RichText

    console = Console(highlight=False)
    for block in blocks:
        if isinstance(block, Text):
            if block.text:
                console.print(RichText(block.text, style=block.style or ""))
            else:
                console.print()
            continue
        if block.plain:
            table = Table(title=block.title, show_header=False, box=None, pad_edge=False)
            for index, _name in enumerate(block.columns):
                table.add_column(style="bold" if index == 0 else None, no_wrap=not index,
                                 overflow="fold" if index else "ellipsis")
            for row in block.rows:
                table.add_row(*(_renderable(row.get(c)) for c in block.columns))
            console.print(table)
            continue
        _draw(console, [dict(r) for r in block.rows], block.columns, headers=block.headers,
              title=block.title, title_style=block.title_style, right=block.right)


# --- a nested overview as key/value lines -------------------------------------------------------

# A list of objects is keyed by the field that names its items.
ITEM_KEYS = ("engine", "lever", "domain", "name", "day", "metric", "area_code")


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted key/value pairs; lists of objects are keyed by their name field (engine, lever...)."""
    if isinstance(value, dict):
        pairs: list[tuple[str, Any]] = []
        for key, item in value.items():
            pairs += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        pairs = []
        for index, item in enumerate(value):
            name = next((str(item[k]) for k in ITEM_KEYS if k in item), str(index))
            rest = {k: v for k, v in item.items() if k not in ITEM_KEYS}
            pairs += flatten(rest, f"{prefix}.{name}")
        return pairs
    return [(prefix, value)]


def render_key_values(data: Any) -> None:
    """A nested result as `key<TAB>value` lines under a `key<TAB>value` header."""
    lines = ["key\tvalue"] + [f"{key}\t{tsv_field(cell(value))}"
                              for key, value in flatten(jsonable(data))]
    sys.stdout.write("\n".join(lines) + "\n")


def markdown_table(rows: list[dict[str, Any]], cols: Sequence[str]) -> str:
    def esc(text: str) -> str:
        return visible(text).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(esc(cell(row.get(c))) for c in cols) + " |")
    return "\n".join(lines) + "\n"


# --- terminal tables ---------------------------------------------------------------------------

# A value that must never wrap: a number, money ('1,234.50'), a percentage, an instant
# ('2027-01-15 10:00:00 Toronto'), or one word (an id, a phone number, a code).
_NUMBER = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?( ?%)?$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\S*( [A-Za-z][\w ]*)?$")
_STATUS_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def _is_atomic(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return " " not in value.strip() or bool(_NUMBER.match(value) or _INSTANT.match(value))
    return False


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and
                                                bool(_NUMBER.match(value)))


def _column_kind(values: list[Any]) -> tuple[bool, bool]:
    """(atomic, numeric) of a column's non-empty values: atomic columns never wrap, numeric
    ones are right-aligned."""
    present = [v for v in values if v not in (None, "")]
    atomic = all(_is_atomic(v) for v in present)
    numeric = bool(present) and all(_is_number(v) for v in present)
    return atomic, numeric


def _text_width(value: Any) -> int:
    return max((len(line) for line in visible(cell(value)).split("\n")), default=0) \
        if not isinstance(value, (dict, list)) else 12


def _renderable(value: Any) -> Any:
    """A cell: text (ok/warn/fail coloured as the review page does), or a nested value
    (zones, tasks, state, policy) as nested rows rather than JSON text."""
    from rich.table import Table
    from rich.text import Text as RichText

    if isinstance(value, dict):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, item in value.items():
            grid.add_row(str(key), _renderable(item))
        return grid
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys: dict[str, None] = {}
        for item in value:
            keys.update(dict.fromkeys(item))
        nested = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
        for key in keys:
            atomic, numeric = _column_kind([item.get(key) for item in value])
            nested.add_column(key, no_wrap=atomic, overflow="ellipsis",
                              justify="right" if numeric else "left")
        for item in value:
            nested.add_row(*(_renderable(item.get(k)) for k in keys))
        return nested
    if isinstance(value, list):
        return RichText(visible(", ".join(cell(v) for v in value)))
    text = visible(cell(value))
    return RichText(text, style=_STATUS_STYLES.get(text, ""))


def _needed_width(rows: list[dict[str, Any]], cols: Sequence[str],
                  headers: Sequence[str]) -> int:
    """The width a table needs so that no atomic value is cut (free text may wrap to 12)."""
    total = 1
    for key, label in zip(cols, headers, strict=True):
        values = [r.get(key) for r in rows]
        atomic, _ = _column_kind(values)
        widest = max((_text_width(v) for v in values), default=0)
        if atomic:
            width = max(widest, max((len(w) for w in label.split()), default=0))
        else:
            width = min(max(widest, 1), 12)
        total += width + 3
    return total


def _vertical(console: Any, rows: list[dict[str, Any]], cols: Sequence[str],
              headers: Sequence[str], title: str | None, title_style: str | None) -> None:
    """Rows as records, one `key value` line per field: what a table too wide for the terminal
    becomes, so nothing is cut or broken mid-word."""
    from rich.table import Table
    from rich.text import Text as RichText

    if title:
        console.print(RichText(title, style=title_style or "italic"))
    for index, row in enumerate(rows):
        record = Table(show_header=False, box=None, pad_edge=False)
        record.add_column(style="bold", no_wrap=True)
        record.add_column(overflow="fold")
        for key, label in zip(cols, headers, strict=True):
            record.add_row(label, _renderable(row.get(key)))
        if index:
            console.print(RichText("─" * 8, style="dim"))
        console.print(record)


def _draw(console: Any, rows: list[dict[str, Any]], cols: Sequence[str], *,
          headers: Sequence[str] | None = None, title: str | None = None,
          title_style: str | None = None, right: Sequence[str] = ()) -> None:
    """A list of rows as a table whose ids, numbers, money, percentages and instants never
    wrap (free text wraps between words); as records when the terminal is too narrow."""
    from rich.table import Table

    labels = list(headers or cols)
    if len(rows) > 0 and _needed_width(rows, cols, labels) > console.width:
        _vertical(console, rows, cols, labels, title, title_style)
        return
    table = Table(title=title, title_justify="left", title_style=title_style)
    for key, label in zip(cols, labels, strict=True):
        atomic, numeric = _column_kind([r.get(key) for r in rows])
        table.add_column(label, no_wrap=atomic, overflow="ellipsis",
                         justify="right" if numeric or key in right else "left")
    for row in rows:
        table.add_row(*(_renderable(row.get(c)) for c in cols))
    console.print(table)


def _rich_table(
    rows: list[dict[str, Any]], cols: list[str], *, is_list: bool, title: str | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not is_list and len(rows) == 1:
        table = Table(title=title, show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key in cols:
            table.add_row(key, _renderable(rows[0].get(key)))
        console.print(table)
        return
    _draw(console, rows, cols, title=title)


def message(text: str, *, quiet: bool = False) -> None:
    """A human message on standard error (silenced by -q)."""
    if not quiet:
        sys.stderr.write(text.rstrip("\n") + "\n")


def warning(text: str, *, quiet: bool = False) -> None:
    message(f"warning: {text}", quiet=quiet)


ECHO_MAX = 200  # the longest run of one echoed value (a path, an id, a paste) an error keeps
ERROR_MAX = 1000  # the longest error message, whatever it echoes
_LONG_RUN = re.compile(rf"\S{{{ECHO_MAX + 1},}}")


def _cut(match: re.Match[str]) -> str:
    run = match.group(0)
    return f"{run[:ECHO_MAX - 41]}…{run[-40:]}"  # the end of a path names its file


def bounded(text: str) -> str:
    """An error message that cannot echo unbounded input: each run of more than 200
    non-blank characters keeps its start and end around an ellipsis, and the whole is at most
    1 000 characters (a 100 000-character path must not fill a log with 200 KB)."""
    text = _LONG_RUN.sub(_cut, text)
    return text if len(text) <= ERROR_MAX else text[:ERROR_MAX - 1] + "…"


def error_line(text: str) -> None:
    """One line on standard error, never silenced, of bounded length."""
    first = bounded(visible(" ".join(str(text).split("\n")).strip()))
    sys.stderr.write(f"valhalla: error: {first}\n")
