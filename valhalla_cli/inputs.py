"""The shared inputs: one parser per fact that several packs take (one source per fact).

Every pack, every bulk import and every face (the CLI, later the HTTP API) parses a province, a
market, a property type, a lead id, an amount of money, an integer, an instant or a piece of free
text through the function here, so two packs can never disagree on what is valid. Each parser
returns the canonical value or raises `BadInput` (exit 2) with one line naming the field.

Imports nothing heavy (no SQLAlchemy): command modules may call these at parse time.

Markets: letters (Latin, accented ones included), ASCII digits, spaces and `. ' & _ -`,
starting with a letter or digit, at most 64 characters. The name is stored upper-case as
written (`TROIS-RIVIÈRES`, spaces collapsed, a typographic apostrophe read as `'`). Identity is
`market_key(name)`: the upper-case name with its accents removed (`MONTREAL`). Tables that look
a market up (`market_policy`, `offer_policy`, `buyer_liquidity_node`) hold it in a `market_key`
column with the unique index on it, so `Montreal` finds `MONTRÉAL`, whichever spelling came
first (the first spelling stays the name shown).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal

from valhalla_cli.errors import BadInput
from valhalla_cli.phones import parse_phone  # noqa: F401  (the phone parser lives with its table)
from valhalla_cli.vocabulary import DEFAULT_PROPERTY_TYPE, PROPERTY_TYPES

PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")

MARKET_MAX_LENGTH = 64
MARKET_PUNCTUATION = ".'&_- "
ID_MAX_LENGTH = 200  # lead ids, actors, refs, subjects: VARCHAR(200) columns
REASON_MAX_LENGTH = 2000  # reasons and notes (TEXT columns, bounded so a paste stays readable)
MAX_MONEY = Decimal("1000000000.00")  # one billion dollars: anything above is a typo
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
CENT = Decimal("0.01")

_AMOUNT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
# Characters nobody types on purpose in an id or a note and that make two values look equal:
# controls, format characters (zero-width, bidi marks, BOM), private use, surrogates,
# unassigned code points, line and paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})


def _invisible(text: str, allowed: str = "") -> str | None:
    """The first control or invisible character of `text` (other than `allowed`), if any."""
    for char in text:
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES and char not in allowed:
            return char
    return None


def check_message_text(value: str, *, field: str) -> str:
    """The text of a message (an SMS template): line breaks are allowed, no other control or
    invisible character (an escape sequence, a bidi override that reverses what the reader
    sees, a zero-width space)."""
    bad = _invisible(value, allowed="\n")
    if bad is not None:
        raise BadInput(_invisible_message(field, bad))
    return value


def _invisible_message(field: str, char: str) -> str:
    return f"{field} must not contain control or invisible characters (found U+{ord(char):04X})"


def parse_province(value: str | None, *, field: str = "province") -> str:
    """A province or territory code (AB BC MB NB NL NS NT NU ON PE QC SK YT), any case."""
    code = (value or "").strip().upper()
    if code not in PROVINCES:
        if not code:
            raise BadInput(f"{field}: a province is required: use one of {' '.join(PROVINCES)}")
        raise BadInput(f"unknown province {value!r}: use one of {' '.join(PROVINCES)}")
    return code


def market_key(name: str) -> str:
    """The identity of a market: its upper-case name without accents (`MONTRÉAL` -> `MONTREAL`).

    `name` must already be a parsed market (or `*`, the province-wide scope, which is its own key).
    """
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _market_char_ok(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char in MARKET_PUNCTUATION
    return unicodedata.category(char).startswith("L") and unicodedata.name(
        char, "").startswith("LATIN ")


def parse_market(value: str | None, *, field: str = "--market") -> str:
    """A market name, upper-case with spaces collapsed: `St. John's` -> `ST. JOHN'S`."""
    if value is None:
        raise BadInput(f"{field} is required (a market name such as TORONTO)")
    text = unicodedata.normalize("NFC", str(value)).translate(_APOSTROPHES)
    bad = _invisible(text)
    if bad is not None:
        raise BadInput(_invisible_message(field, bad))
    name = " ".join(text.split()).upper()
    rule = (f"letters, digits, spaces and . ' & _ -, starting with a letter or digit, "
            f"at most {MARKET_MAX_LENGTH} characters")
    if not name:
        raise BadInput(f"{field}: a market name is required ({rule})")
    if (len(name) > MARKET_MAX_LENGTH or not name[0].isalnum()
            or not all(_market_char_ok(c) for c in name)):
        raise BadInput(f"{field}: {value!r} is not a market name ({rule})")
    return name


def parse_property_type(value: str | None, *, field: str = "--property-type") -> str:
    """A property type (SFR CONDO TOWNHOUSE MULTI LAND), any case; none given means SFR."""
    if value is None:
        return DEFAULT_PROPERTY_TYPE
    code = str(value).strip().upper()
    if code not in PROPERTY_TYPES:
        raise BadInput(f"{field}: unknown property type {value!r}: use one of "
                       f"{' '.join(PROPERTY_TYPES)}")
    return code


def parse_lead_id(value: str | None, *, field: str = "LEAD") -> str:
    """A lead id: 1-200 printable characters (surrounding spaces dropped), nothing invisible."""
    text = unicodedata.normalize("NFC", str(value or "")).strip()
    bad = _invisible(text)
    if bad is not None:
        raise BadInput(_invisible_message(field, bad))
    if not text or len(text) > ID_MAX_LENGTH:
        raise BadInput(f"{field} must be a lead id of 1-{ID_MAX_LENGTH} printable characters")
    return text


def parse_text(value: str | None, *, field: str, max_length: int = ID_MAX_LENGTH,
               required: bool = False) -> str | None:
    """Free text (a name, a ref, a note): runs of spaces become one space, at most
    `max_length` characters, no control characters (newline and tab included) and nothing
    invisible. Empty is None unless required."""
    if value is None:
        if required:
            raise BadInput(f"{field} is required")
        return None
    raw = unicodedata.normalize("NFC", str(value))
    # Checked before white space is collapsed: a newline, tab or escape sequence in a reason
    # would forge rows in tsv output and drive the terminal, so it is refused, not folded.
    bad = _invisible(raw)
    if bad is not None:
        raise BadInput(_invisible_message(field, bad))
    text = " ".join(raw.split())
    if not text:
        if required:
            raise BadInput(f"{field} must not be empty")
        return None
    if len(text) > max_length:
        raise BadInput(f"{field} must be at most {max_length} characters")
    return text


def parse_reason(value: str | None, *, field: str = "--reason", required: bool = False
                 ) -> str | None:
    """A reason or a note (what the audit log keeps): `parse_text` with the documented bound of
    2 000 characters. Required: given and not empty."""
    text = parse_text(value, field=field, max_length=REASON_MAX_LENGTH)
    if text is None and required:
        raise BadInput(f"{field} must not be empty")
    return text


_PLACES = {1: "one", 2: "two", 3: "three", 4: "four"}


def parse_decimal(value: str | int | Decimal, *, field: str, max_places: int,
                  example: str = "1250.50", what: str = "a number") -> Decimal:
    """An exact decimal number: plain ASCII digits with an optional sign and point, at most
    `max_places` decimals. No exponent (`4.5e5`), `_`, grouping, float or non-ASCII digits."""
    if isinstance(value, (bool, float)):  # a float has already lost the cents
        raise BadInput(f"{field}: give {what}s as text or Decimal, not "
                       f"{type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadInput(f"{field}: {value!r} is not {what} (e.g. {example})")
        text = f"{value:f}"
    else:
        text = str(value).strip()
    if not _AMOUNT.match(text):
        raise BadInput(f"{field}: {value!r} is not {what} (e.g. {example})")
    decimals = text.partition(".")[2]
    if len(decimals) > max_places:
        raise BadInput(f"{field}: {value!r} has more than "
                       f"{_PLACES.get(max_places, str(max_places))} decimal places")
    return Decimal(text)


def parse_money(
    value: str | int | Decimal,
    *,
    field: str,
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> Decimal:
    """An amount in dollars, exact to the cent: plain ASCII digits with an optional sign and
    at most two decimals (no exponent, `_`, grouping or other digits), at most 1 000 000 000.00."""
    amount = parse_decimal(value, field=field, max_places=2, what="an amount")
    if abs(amount) > MAX_MONEY:
        raise BadInput(f"{field}: {value!r} is too large (at most {MAX_MONEY:,.2f})")
    if amount < 0 and not allow_negative:
        raise BadInput(f"{field}: {value!r} must not be negative")
    if amount == 0 and not allow_zero:
        raise BadInput(f"{field}: {value!r} must be greater than zero")
    return amount.quantize(CENT)


def parse_money_cents(value: str | int | Decimal, *, field: str, allow_zero: bool = True,
                      allow_negative: bool = False) -> int:
    """`parse_money` as whole cents, for the BIGINT `*_cents` columns."""
    amount = parse_money(value, field=field, allow_zero=allow_zero,
                         allow_negative=allow_negative)
    return int(amount * 100)


def parse_int(value: str | int, *, field: str, minimum: int = BIGINT_MIN,
              maximum: int = BIGINT_MAX) -> int:
    """A whole number in ASCII digits within [minimum, maximum] (default: what a BIGINT holds)."""
    if isinstance(value, bool):
        raise BadInput(f"{field}: {value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not _INTEGER.match(text):
            raise BadInput(f"{field}: {value!r} is not a whole number")
        number = int(text)
    if not minimum <= number <= maximum:
        if number > maximum == BIGINT_MAX or number < minimum == BIGINT_MIN:
            raise BadInput(f"{field}: {value!r} is out of range (at most {BIGINT_MAX})")
        if maximum == BIGINT_MAX:
            raise BadInput(f"{field} must be a whole number of at least {minimum}, "
                           f"not {value!r}")
        raise BadInput(f"{field} must be a whole number from {minimum} to {maximum}, "
                       f"not {value!r}")
    return number


def check_not_blank(value: object, *, field: str) -> None:
    """A value given but empty or only white space is bad input, never "not given": an empty
    `--market` must not widen a change to the whole province, an empty `--db` must not fall back
    to the default database, an empty `--at` must not mean now."""
    if isinstance(value, str) and not value.strip():
        shown = "empty" if value == "" else "only white space"
        raise BadInput(f"{field} is {shown}: give a value or leave the option out")


def parse_instant(value: str | None, business_timezone: str, *, field: str = "--at"
                  ) -> datetime:
    """An ISO 8601 instant in UTC (default: now); without an offset it is business local time.

    Instants from 1970 to 2199 only; a local time that the clocks skip or pass twice (DST) needs
    an explicit offset (`clock.parse_instant`)."""
    from valhalla_cli.clock import parse_instant as clock_parse_instant

    if value is not None and not str(value).isascii():
        raise BadInput(f"{field}: {value!r} is not an ISO 8601 date-time (e.g. 2027-01-15T09:30 "
                       "or 2027-01-15T14:30:00Z)")
    return clock_parse_instant(value, business_timezone, option=field)


def parse_business_day(day: str | None, at: str | None, business_timezone: str) -> date:
    """The business day a report is about: `--day` (YYYY-MM-DD), or the business date of `--at`
    (default: now). Never both: they could name different days."""
    from valhalla_cli.clock import business_date, parse_date

    if day is not None and at is not None:
        raise BadInput("give --day or --at, not both")
    if day is not None:
        return parse_date(day, option="--day")
    return business_date(parse_instant(at, business_timezone), business_timezone)
