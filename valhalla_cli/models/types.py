"""Column types of our own: UTC instants on both engines, JSON serialized here (never by the
output renderer); cents are plain BIGINT columns. And reading a row back: its key, its view."""

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, Table, text
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import PopulateDict, memoized_property

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class (for INSERT ... ON CONFLICT and bulk statements)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class PartialIndex(Index):
    """An index over the rows a condition selects (`CREATE INDEX ... WHERE condition`), on
    SQLite and PostgreSQL alike.

    Spelled `Index(..., sqlite_where=..., postgresql_where=...)`, SQLAlchemy checks each
    keyword against its dialect at once, importing the PostgreSQL dialect (about 40 ms of CPU)
    in every process that loads the table, SQLite ones included. Here the condition is given to
    a dialect when that dialect first asks for its options (to create or compare the index), by
    which time that dialect is loaded anyway.
    """

    DIALECTS = ("sqlite", "postgresql")

    def __init__(self, name: str, *columns: str, where: str, unique: bool = False) -> None:
        self.condition = where
        super().__init__(name, *columns, unique=unique)

    @memoized_property
    def dialect_options(self) -> Any:
        plain = self._kw_reg_for_dialect_cls
        condition = self.condition

        def options(dialect_name: str) -> Any:
            found = plain(dialect_name)
            if dialect_name in PartialIndex.DIALECTS:
                found["where"] = text(condition)
            return found

        return PopulateDict(options)


def pk(value: int | None) -> int:
    """A row's surrogate key once it is read or flushed (the model types it Optional)."""
    if value is None:
        raise ValueError("the row has no primary key yet: flush it first")
    return value


def view_of(view: type[V], row: Any, **computed: Any) -> V:
    """The read model `view` (a dataclass) of a row: each field is the row's attribute of the same
    name, unless given here (a converted or computed value), so a view never restates its row."""
    return view(**{f.name: computed[f.name] if f.name in computed else getattr(row, f.name)
                   for f in dataclasses.fields(view)})


def stored_json(value: Any) -> Any:
    """A value as it is stored in a JSON column: money Decimals as '0.00' strings, instants as
    RFC 3339 UTC with a Z, dates as ISO dates, dataclasses and mappings as objects.

    Owned by the data layer so that a change to how results are printed never changes what
    evidence or the audit log hold.
    """
    from valhalla_cli.clock import rfc3339
    from valhalla_cli.money import format_money

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return stored_json(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: stored_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): stored_json(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [stored_json(v) for v in value]
    return str(value)


class StoredJSON(TypeDecorator):
    """A JSON column that accepts results (dataclasses, Decimals, instants) and stores them as
    plain JSON through `stored_json`."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else stored_json(value)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime in Python on both engines.

    SQLite has no time zones: `DateTime(timezone=True)` hands back a naive value there. This type
    converts to UTC on the way in (refusing naive values) and attaches UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"UTCDateTime needs an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# A 64-bit surrogate key; on SQLite it must be INTEGER to alias the rowid and autoincrement.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
