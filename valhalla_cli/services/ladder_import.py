"""`ladder import`: create ladders in bulk from rows the face read from a CSV or JSON lines.

All or nothing for malformed rows (the caller's one transaction; a bad row anywhere raises, so
everything rolls back, and names its line). Valid rows refused by a rule (suppressed lead,
disabled policy, score below the minimum) are reported with their reason while the rest are
taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput
from valhalla_cli.importing import Progress, RowError, RowSource, import_in_batches
from valhalla_cli.inputs import parse_int, parse_lead_id, parse_province, parse_text
from valhalla_cli.services import audit, kpi
from valhalla_cli.services.contact_rules import check_score
from valhalla_cli.services.ladder.config import KPI_LADDER_CREATED, PACK, LadderConfig
from valhalla_cli.services.ladder.creation import CreateRequest, create_many
from valhalla_cli.services.policies import PolicyCache, scope_market

REQUIRED = ("lead_id", "province")
OPTIONAL = ("market", "owner", "lead_score", "start_at", "phone", "name", "language", "consent",
            "consent_at")
NON_TEXT = ("lead_score",)  # a JSON whole number; every other column is text
CHUNK = 250  # leads per short write transaction (1 500 tasks, ~0.2 s)

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True)
class Refusal:
    line: int
    lead_id: str
    reason: str


@dataclass(frozen=True)
class LadderImportResult:
    file: str
    created: int
    existing: int
    refused: int
    refusals: list[Refusal] = field(default_factory=list)


def _row_validator(business_timezone: str, at: datetime
                   ) -> Callable[[dict[str, Any]], CreateRequest]:
    from valhalla_cli.inputs import parse_instant

    def check(name: str, fn: Callable[[V], T], value: V) -> T:
        try:
            return fn(value)
        except BadInput as exc:
            raise RowError(name, exc.message) from None

    def score(value: Any) -> int | None:
        if value is None:
            return None
        try:
            number = parse_int(value, field="lead_score")
        except BadInput:
            raise RowError("lead_score", f"{value!r} is not a whole number from 0 to 100"
                           ) from None
        return check("lead_score", lambda v: check_score(v, option="lead_score"), number)

    from valhalla_cli.phones import parse_phone
    from valhalla_cli.services.consent import check_given_at, check_kind
    from valhalla_cli.services.lead import check_language

    def instant(row: dict[str, Any], name: str) -> datetime | None:
        value = row.get(name)
        return None if value is None else check(
            name, lambda v: parse_instant(str(v), business_timezone, field=name), value)

    def optional(row: dict[str, Any], name: str, fn: Callable[[str], T]) -> T | None:
        value = row.get(name)
        return None if value is None else check(name, fn, str(value))

    def validate(row: dict[str, Any]) -> CreateRequest:
        start_at = instant(row, "start_at")
        consent_at = instant(row, "consent_at")
        consent = optional(row, "consent", lambda v: check_kind(v, option="consent"))
        if consent_at is not None and consent is None:
            raise RowError("consent_at", "needs a consent kind in the consent column")
        if consent_at is not None:
            check("consent_at", lambda v: check_given_at(v, at, field="consent_at"), consent_at)
        owner = row.get("owner")
        return CreateRequest(
            lead_id=check("lead_id", lambda v: parse_lead_id(str(v), field="lead_id"),
                          row["lead_id"]),
            province=check("province", lambda v: parse_province(v, field="province"),
                           str(row["province"])),
            market=check("market", lambda v: scope_market(v, field="market"),
                         None if row.get("market") is None else str(row["market"])),
            owner=check("owner", lambda v: parse_text(v, field="owner"),
                        None if owner is None else str(owner)),
            lead_score=score(row.get("lead_score")),
            start_at=start_at,
            phone=optional(row, "phone", lambda v: parse_phone(v, option="phone")),
            name=optional(row, "name", lambda v: parse_text(v, field="name")),
            language=optional(row, "language", lambda v: check_language(v, option="language")),
            consent=consent,
            consent_at=consent_at,
        )

    return validate


def check_rows(source: RowSource, *, at: datetime, business_timezone: str) -> int:
    """Validate every row before anything is written (a malformed one raises `BadInput` naming
    its line and field); the number of rows. The import upserts each batch's leads and appends
    their consents, which no import batch id hides and the consent ledger never deletes, so a
    malformed row late in a file must be found before the first batch."""
    from valhalla_cli.importing import validated

    validate = _row_validator(business_timezone, at)
    return sum(1 for _ in validated(source.name, source.rows, validate))


def import_rows(session: Session, source: RowSource, *, config: LadderConfig, at: datetime,
                actor: str, business_timezone: str, progress: Progress | None = None
                ) -> LadderImportResult:
    """Create a ladder per valid row in the caller's transaction; refused rows are reported."""
    created = existing = 0
    refusals: list[Refusal] = []
    cache = PolicyCache(session)

    def apply(batch: list[tuple[int, CreateRequest]]) -> None:
        nonlocal created, existing
        requests = [replace_line(req, line) for line, req in batch]
        outcomes = create_many(session, requests, config=config, at=at, actor=actor,
                               business_timezone=business_timezone, cache=cache)
        events = []
        for out in outcomes:
            if out.reason is not None:
                refusals.append(Refusal(out.request.line or 0, out.request.lead_id, out.reason))
            elif out.created:
                created += 1
                events.append({"metric": KPI_LADDER_CREATED, "value": 1.0, "occurred_at": at,
                               "province": out.request.province,
                               "market": out.request.market, "ref": out.ladder_id,
                               "source": "ladder import"})
            else:
                existing += 1
        kpi.insert_many(session, events)

    import_in_batches(source, validate=_row_validator(business_timezone, at), apply=apply,
                      chunk=CHUNK, progress=progress)
    audit.record(session, pack=PACK, action="import", actor=actor, at=at, subject=source.name,
                 after={"created": created, "existing": existing, "refused": len(refusals)})
    return LadderImportResult(file=source.name, created=created, existing=existing,
                              refused=len(refusals), refusals=refusals)


def replace_line(req: CreateRequest, line: int) -> CreateRequest:
    from dataclasses import replace

    return replace(req, line=line)
