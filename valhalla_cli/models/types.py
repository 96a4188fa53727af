"""Column types of our own: UTC instants on both engines; cents are plain BIGINT columns."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator


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


# Money columns hold whole cents; the name of every such column ends in `_cents`.
Cents = BigInteger

# A 64-bit surrogate key; on SQLite it must be INTEGER to alias the rowid and autoincrement.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
