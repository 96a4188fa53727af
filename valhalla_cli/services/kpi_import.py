"""`kpi import`: stream a CSV / JSON-lines file of KPI events into kpi_event in chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valhalla_cli.db import Database
from valhalla_cli.errors import BadInput
from valhalla_cli.importing import (
    FileProgress,
    RowError,
    StagedImport,
    chunked,
    count_lines,
    iter_rows,
    validate_all,
    validated,
)
from valhalla_cli.inputs import parse_instant, parse_market, parse_province, parse_text
from valhalla_cli.services import kpi

REQUIRED = ("metric", "value", "occurred_at")
OPTIONAL = ("province", "market", "ref", "source")
CHUNK = 10_000  # rows per short write transaction (~0.2 s)


@dataclass(frozen=True)
class ImportResult:
    file: str
    imported: int


def _row_validator(business_timezone: str):  # type: ignore[no-untyped-def]

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


def import_file(db: Database, path: Path, *, business_timezone: str,
                progress: bool = False, encoding: str | None = None,
                actor: str = "import") -> ImportResult:
    """All or nothing as every reader sees it: the whole file is validated first (a malformed
    row anywhere: exit 2, nothing written), then written in short transactions that stay
    invisible until the final flip (`importing.StagedImport`)."""
    total_lines = count_lines(path) if progress else 0
    imported = 0

    def rows():  # type: ignore[no-untyped-def]
        return validated(path, iter_rows(path, required=REQUIRED, optional=OPTIONAL,
                                         encoding=encoding), _row_validator(business_timezone))

    validate_all(rows())
    with FileProgress(path, "kpi import", enabled=progress) as bar, \
            StagedImport(db, "kpi", actor=actor, path=path) as staged:
        for batch in chunked(rows(), CHUNK):
            with staged.chunk() as session:
                imported += kpi.insert_many(session, [row for _, row in batch])
            bar.update(imported, batch[-1][0] / total_lines if total_lines else 0.0)
        with staged.finish():
            pass
    return ImportResult(file=str(path), imported=imported)
