"""`liquidity import`: feedback events in bulk from rows the face read, in batches; node-days
folded in once at the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput
from valhalla_cli.importing import Progress, RowSource
from valhalla_cli.inputs import parse_market, parse_property_type, parse_province, parse_text
from valhalla_cli.services.liquidity.feedback import NodeKey, _fold, _insert_events, _upsert_nodes
from valhalla_cli.services.liquidity.rules import KPI_BUYER_FEEDBACK

__all__ = ["CHUNK", "IMPORT_NON_TEXT", "IMPORT_OPTIONAL", "IMPORT_REQUIRED", "MAX_REPORTED",
           "ImportResult", "SkippedRow", "import_rows"]

IMPORT_REQUIRED = ("province", "market", "buyer", "responded", "at")
IMPORT_OPTIONAL = ("property_type", "closed", "deal_ref")
IMPORT_NON_TEXT = ("responded", "closed")  # true/false (or 1/0); every other column is text
CHUNK = 1000
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _flag(value: Any, field: str) -> bool:
    from valhalla_cli.importing import RowError

    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(field, f"{value!r} is not true/false (or 1/0, yes/no)")


def _row_validator(business_timezone: str, actor: str):
    from valhalla_cli.clock import business_date
    from valhalla_cli.importing import RowError
    from valhalla_cli.inputs import parse_instant

    def validate(row: dict[str, Any]) -> dict[str, Any]:
        checks = (("province", lambda: parse_province(str(row["province"]))),
                  ("market", lambda: parse_market(str(row["market"]), field="market")),
                  ("property_type", lambda: parse_property_type(row.get("property_type"),
                                                                     field="property_type")),
                  ("buyer", lambda: parse_text(str(row["buyer"]), field="buyer",
                                               required=True)),
                  ("deal_ref", lambda: parse_text(
                      None if row.get("deal_ref") is None else str(row["deal_ref"]),
                      field="deal_ref")))
        values: dict[str, Any] = {}
        for name, check in checks:
            try:
                values[name] = check()
            except BadInput as exc:
                raise RowError(name, exc.message) from None
        responded = _flag(row["responded"], "responded")
        closed = False if row.get("closed") is None else _flag(row["closed"], "closed")
        if closed and not responded:
            raise RowError("closed", "a buyer who closed responded (responded is false)")
        try:
            at = parse_instant(str(row["at"]), business_timezone, field="at")
        except BadInput as exc:
            raise RowError("at", exc.message) from None
        return {**values, "responded": responded, "closed": closed, "at": at,
                "business_date": business_date(at, business_timezone), "source": "import",
                "actor": actor}

    return validate


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class ImportResult:
    file: str
    imported: int
    skipped: int
    skipped_rows: list[SkippedRow]


MAX_REPORTED = 100


def import_rows(session: Session, source: RowSource, *, business_timezone: str, actor: str,
                progress: Progress | None = None) -> ImportResult:
    """All or nothing for malformed rows (exit 2, naming file:line and field; the caller's
    transaction rolls back); a row whose (deal_ref, buyer) is already recorded is skipped and
    reported as `duplicate`."""
    from valhalla_cli.importing import import_in_batches
    from valhalla_cli.services import kpi

    imported = skipped = 0
    reported: list[SkippedRow] = []

    def apply(batch: list[tuple[int, dict[str, Any]]]) -> None:
        nonlocal imported, skipped
        inserted = _insert_events(session, [row for _, row in batch])
        taken = {(r.deal_ref, r.buyer) for r in inserted if r.deal_ref is not None}
        for line, row in batch:
            key = (row["deal_ref"], row["buyer"])
            if row["deal_ref"] is None or key in taken:
                taken.discard(key)  # a second copy within the batch is a duplicate
                continue
            skipped += 1
            if len(reported) < MAX_REPORTED:
                reported.append(SkippedRow(line, "duplicate",
                                           f"feedback from {row['buyer']!r} on deal "
                                           f"{row['deal_ref']!r} is already recorded"))
        for node, (sent, responded, closed, name) in _fold(inserted).items():
            acc = deltas.setdefault(node, [0, 0, 0, name])
            acc[0] += sent
            acc[1] += responded
            acc[2] += closed
        kpi.insert_many(session, [
            {"metric": KPI_BUYER_FEEDBACK, "value": 1.0 if r.responded else 0.0,
             "occurred_at": r.at, "province": r.province, "market": r.market,
             "ref": r.deal_ref, "source": "liquidity import"}
            for r in inserted
        ])
        imported += len(inserted)

    # Node-day totals are folded in once, at the end (in the import's last transaction, with
    # its flip when the face writes in short transactions): bounded by the node-days touched.
    deltas: dict[NodeKey, list[Any]] = {}
    import_in_batches(source, validate=_row_validator(business_timezone, actor), apply=apply,
                      chunk=CHUNK, progress=progress)
    _upsert_nodes(session, deltas)
    return ImportResult(file=source.name, imported=imported, skipped=skipped,
                        skipped_rows=reported)
