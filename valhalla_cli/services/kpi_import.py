"""`kpi import`: KPI event rows (read from a file by the face) into kpi_event, in chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput
from valhalla_cli.importing import Progress, RowError, RowSource, import_in_batches
from valhalla_cli.inputs import parse_instant, parse_market, parse_province, parse_text
from valhalla_cli.services import kpi

REQUIRED = ("metric", "value", "occurred_at")
OPTIONAL = ("province", "market", "ref", "source")
NON_TEXT = ("value",)  # a JSON number; every other column is text
CHUNK = 10_000  # rows per short write transaction (~0.2 s)


@dataclass(frozen=True)
class ImportResult:
    file: str
    imported: int


def _row_validator(business_timezone: str):

    def validate(row: dict[str, Any]) -> dict[str, Any]:
        try:
            metric = kpi.check_metric(str(row["metric"]))
        except BadInput as exc:
            raise RowError("metric", exc.message) from None
        try:
            raw = row["value"]
            if isinstance(raw, bool):
                raise ValueError
            value = kpi.check_value(float(raw))
        except BadInput as exc:
            raise RowError("value", exc.message) from None
        except (ValueError, TypeError, OverflowError):
            raise RowError("value", f"{row['value']!r} is not a number") from None
        try:
            occurred_at = parse_instant(str(row["occurred_at"]), business_timezone,
                                        field="occurred_at")
        except BadInput as exc:
            raise RowError("occurred_at", exc.message) from None
        checks = (
            ("province", lambda v: parse_province(v, field="province")),
            ("market", lambda v: parse_market(v, field="market")),
            ("ref", lambda v: parse_text(v, field="ref")),
            ("source", lambda v: parse_text(v, field="source",
                                            max_length=kpi.SOURCE_MAX_LENGTH)),
        )
        values: dict[str, Any] = {}
        for name, parse in checks:
            raw_text = row.get(name)
            try:
                values[name] = None if raw_text is None else parse(str(raw_text))
            except BadInput as exc:
                raise RowError(name, exc.message) from None
        return {
            "metric": metric, "value": value, "occurred_at": occurred_at,
            **values, "source": values["source"] or "import",
        }

    return validate


def import_rows(session: Session, source: RowSource, *, business_timezone: str,
                progress: Progress | None = None) -> ImportResult:
    """Validate and insert every row in the caller's transaction (a malformed row raises, so
    the caller's rollback leaves nothing imported)."""
    imported = 0

    def apply(batch: list[tuple[int, dict[str, Any]]]) -> None:
        nonlocal imported
        imported += kpi.insert_many(session, [row for _, row in batch])

    import_in_batches(source, validate=_row_validator(business_timezone), apply=apply,
                      chunk=CHUNK, progress=progress)
    return ImportResult(file=source.name, imported=imported)
