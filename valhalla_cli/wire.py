"""The wire JSON: results as plain JSON values and as text, what `--format json` and `jsonl`
print and what the HTTP API answers (one serialization behind both faces).

Money Decimals are '0.00' strings, instants RFC 3339 UTC with a Z, enumerations their value,
dataclasses and mappings objects. What a person reads (tables, Markdown) walks results the same
way with other money and instant formats (`output.displayable`). What is stored as JSON is
serialized by the data layer (`models/types.py`), never here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def plain(value: Any, *, money: Callable[[Decimal], Any], instant: Callable[[datetime], Any]
          ) -> Any:
    """`value` as plain JSON values, money written by `money` and instants by `instant`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity: a value that overflowed is unknown
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value, money=money, instant=instant)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), money=money, instant=instant)
                for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v, money=money, instant=instant) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [plain(v, money=money, instant=instant) for v in value]
    return str(value)


def jsonable(value: Any) -> Any:
    """Plain JSON values: money Decimals as '0.00' strings, instants as RFC 3339 UTC with Z."""
    from valhalla_cli.clock import rfc3339
    from valhalla_cli.money import format_money

    return plain(value, money=format_money, instant=rfc3339)


# JSON escapes C0 controls already; C1 controls and U+2028/9 would still split a line or move
# the cursor of whoever prints the text, so they are escaped too.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(data: Any) -> str:
    """What `--format json` prints, and what the HTTP API answers: one serialization."""
    return _escaped(json.dumps(jsonable(data), indent=2, ensure_ascii=False,
                               allow_nan=False)) + "\n"


def json_line(row: Any) -> str:
    """One JSON-lines record (`--format jsonl`): `row`'s plain values, compact, on one line."""
    return _escaped(json.dumps(row, ensure_ascii=False, separators=(",", ":"),
                               allow_nan=False)) + "\n"
