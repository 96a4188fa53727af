"""`lead import`: bulk upsert of leads (and their consent) from a CSV / JSON-lines file.

Section 5's rules: a malformed row anywhere rejects the whole file, naming its line and field,
and nothing is imported (one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from valhalla_cli.db import Database
from valhalla_cli.errors import BadInput
from valhalla_cli.importing import (
    FileProgress,
    RowError,
    chunked,
    count_lines,
    iter_rows,
    validated,
)
from valhalla_cli.services import audit
from valhalla_cli.services.lead import PACK, LeadFields, append_consents, upsert_many

REQUIRED = ("lead_id", "province")
OPTIONAL = ("phone", "market", "name", "language", "source", "consent", "consent_at")
CHUNK = 2_000


@dataclass(frozen=True)
class LeadImportResult:
    file: str
    created: int
    updated: int
    unchanged: int
    consents: int


ConsentCell = tuple[str, datetime | None]  # the row's consent kind and when it was given


def _validator(business_timezone: str
               ) -> Callable[[dict[str, Any]], tuple[LeadFields, ConsentCell | None]]:
    from valhalla_cli.clock import parse_instant
    from valhalla_cli.inputs import parse_lead_id, parse_market, parse_province
    from valhalla_cli.phones import parse_phone
    from valhalla_cli.services.consent import check_kind
    from valhalla_cli.services.lead import _check_text, check_language

    checks = {
        "lead_id": lambda v: parse_lead_id(v, field="lead_id"),
        "province": lambda v: parse_province(v, field="province"),
        "phone": lambda v: parse_phone(v, option="phone"),
        "market": lambda v: parse_market(v, field="market"),
        "name": lambda v: _check_text(v, "name"),
        "language": lambda v: check_language(v, option="language"),
        "source": lambda v: _check_text(v, "source", 64),
        "consent": lambda v: check_kind(v, option="consent"),
        "consent_at": lambda v: parse_instant(v, business_timezone, option="consent_at"),
    }

    def validate(row: dict[str, Any]) -> tuple[LeadFields, ConsentCell | None]:
        values: dict[str, Any] = {}
        for name, check in checks.items():
            value = row.get(name)
            if value is None:
                values[name] = None
                continue
            try:
                values[name] = check(str(value))
            except BadInput as exc:
                raise RowError(name, exc.message) from None
        if values["consent_at"] is not None and values["consent"] is None:
            raise RowError("consent_at", "needs a consent kind in the consent column")
        fields = LeadFields(lead_id=values["lead_id"], province=values["province"],
                            phone=values["phone"], market=values["market"], name=values["name"],
                            language=values["language"], source=values["source"])
        consent = ((values["consent"], values["consent_at"]) if values["consent"] is not None
                   else None)
        return fields, consent

    return validate


def import_file(db: Database, path: Path, *, at: datetime, actor: str, business_timezone: str,
                progress: bool = False) -> LeadImportResult:
    total_lines = count_lines(path) if progress else 0
    created = updated = unchanged = consents = 0
    rows = validated(path, iter_rows(path, required=REQUIRED, optional=OPTIONAL),
                     _validator(business_timezone))
    with FileProgress(path, "lead import", enabled=progress) as bar, \
            db.transaction(write=True) as session:
        for batch in chunked(rows, CHUNK):
            results = upsert_many(session, [fields for _, (fields, _) in batch], at=at,
                                  actor=actor, audit_each=False)
            for result in results:
                if result.created:
                    created += 1
                elif result.changed:
                    updated += 1
                else:
                    unchanged += 1
            new = [{"lead_id": fields.lead_id, "kind": consent[0], "channel": "all",
                    "given_at": consent[1] or at, "actor": actor,
                    "evidence": f"lead import {path.name} line {line}"}
                   for line, (fields, consent) in batch if consent is not None]
            append_consents(session, new)
            consents += len(new)
            bar.update(created + updated + unchanged,
                       batch[-1][0] / total_lines if total_lines else 0.0)
        audit.record(session, pack=PACK, action="import", actor=actor, at=at, subject=str(path),
                     after={"created": created, "updated": updated, "unchanged": unchanged,
                            "consents": consents})
    return LeadImportResult(str(path), created, updated, unchanged, consents)
