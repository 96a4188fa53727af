"""`lead import`: bulk upsert of leads (and their consent) from rows the face read from a CSV /
JSON-lines file.

The bulk-import rule: a malformed row anywhere rejects the whole file, naming its line and field,
and nothing is imported. The import writes in short transactions (the face's
`staging.StagedImport`), and an update of an existing lead cannot be hidden by a batch id, so
the rows wait in staging tables under the import's batch id: each lead's rows folded into one
change (`lead_import_lead`), each consent as it will be appended (`lead_import_consent`). The
import's last transaction applies them with set-based SQL (an UPDATE … FROM for the leads that
exist, an INSERT … SELECT for the others, an INSERT … SELECT into the consent ledger): readers
see the whole file or none of it, and that transaction is a few statements, not 100 000 rows of
Python.

The fold keeps `lead add`'s rules for a lead named on several rows, applied in file order: a
field a row gives replaces the earlier value, a field it leaves empty keeps it; the language
follows the province while it is the province's default (fr for QC, en elsewhere) and no row
chose one. Because every row names a province, that rule needs of the stored lead only its
province and language at the flip (see `_language_at_flip`), so a concurrent `lead add` of a
field the file leaves empty is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from valhalla_cli.clock import utcnow
from valhalla_cli.db import upsert_insert
from valhalla_cli.errors import BadInput
from valhalla_cli.importing import Progress, RowError, RowSource, import_in_batches
from valhalla_cli.models import Lead, LeadConsent, LeadImportConsent, LeadImportLead
from valhalla_cli.models.importing import import_batch_of
from valhalla_cli.models.types import table_of
from valhalla_cli.services import audit
from valhalla_cli.services.lead import PACK, LeadFields, default_language

REQUIRED = ("lead_id", "province")
OPTIONAL = ("phone", "market", "name", "language", "source", "consent", "consent_at")
CHUNK = 5_000  # rows per short write transaction (~0.2 s of writing on SQLite)


@dataclass(frozen=True)
class LeadImportResult:
    file: str
    created: int
    updated: int
    unchanged: int
    consents: int


ConsentCell = tuple[str, datetime | None]  # the row's consent kind and when it was given


def _validator(business_timezone: str, at: datetime
               ) -> Callable[[dict[str, Any]], tuple[LeadFields, ConsentCell | None]]:
    from valhalla_cli.clock import parse_instant
    from valhalla_cli.inputs import parse_lead_id, parse_market, parse_province
    from valhalla_cli.phones import parse_phone
    from valhalla_cli.services.consent import check_given_at, check_kind
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
        "consent_at": lambda v: check_given_at(
            parse_instant(v, business_timezone, option="consent_at"), at, field="consent_at"),
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


# The lead's fields an import row may give, besides the province (always given).
FOLDED = ("phone", "name", "market", "source")
STATE = ("province", "language", *FOLDED)  # what an import may change of a lead


@dataclass(frozen=True)
class _Change:
    """A lead's rows so far, folded (one `lead_import_lead` row)."""

    province: str
    phone: str | None
    name: str | None
    market: str | None
    source: str | None
    language: str | None  # chosen by a row (and followed through later province changes)
    has_qc: bool
    has_other: bool


def _fold(change: _Change | None, row: LeadFields) -> _Change:
    province = row.province or ""  # required: the validator refuses a row without one
    given = {name: getattr(row, name) for name in FOLDED}
    if change is None:
        return _Change(province, language=row.language, has_qc=province == "QC",
                       has_other=province != "QC", **given)
    if row.language is not None:
        language: str | None = row.language
    elif change.language is not None and province != change.province \
            and change.language == default_language(change.province):
        language = default_language(province)
    else:
        language = change.language
    kept = {name: value if value is not None else getattr(change, name)
            for name, value in given.items()}
    return _Change(province, language=language, has_qc=change.has_qc or province == "QC",
                   has_other=change.has_other or province != "QC", **kept)


def _follows(stored_province: str, stored_language: str, change: _Change) -> bool:
    """Does a stored lead's language follow the file's provinces (no row chose one)?

    Row by row, the language follows a province change while it is the default of the province
    it leaves. It starts following once it equals the default of a province it is at (the
    stored one, or one the rows name) and never stops, since following keeps it the default;
    languages are en or fr, so that is the case exactly when the rows name a province whose
    default it is."""
    return (stored_language == default_language(stored_province)
            or (stored_language == "fr" and change.has_qc)
            or (stored_language == "en" and change.has_other))


def _applied(stored: dict[str, Any] | None, change: _Change) -> dict[str, Any]:
    """The lead after the change (what `_apply_staged` writes, as Python)."""
    if stored is None:
        return {"province": change.province,
                "language": change.language or default_language(change.province),
                **{name: getattr(change, name) for name in FOLDED}}
    if change.language is not None:
        language = change.language
    elif _follows(stored["province"], stored["language"], change):
        language = default_language(change.province)
    else:
        language = stored["language"]
    return {"province": change.province, "language": language,
            **{name: getattr(change, name) if getattr(change, name) is not None
               else stored[name] for name in FOLDED}}


def import_rows(session: Session, source: RowSource, *, at: datetime, actor: str,
                business_timezone: str, progress: Progress | None = None) -> LeadImportResult:
    """Stage every valid row under the session's import batch, then apply them all (in the
    caller's current transaction: the face's last one). Counts are per row, against the lead
    as the earlier rows of the file leave it."""
    batch_id = import_batch_of(session)
    if batch_id is None:
        raise RuntimeError("lead import stages its rows under an import batch: run it through "
                           "staging.StagedImport")
    staged, consents_table = table_of(LeadImportLead), table_of(LeadImportConsent)
    leads = table_of(Lead)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "consents": 0}
    stored_columns = [leads.c.lead_id, leads.c.province, leads.c.language,
                      *(leads.c[name] for name in FOLDED)]
    change_columns = [staged.c[name] for name in _Change.__dataclass_fields__]

    def apply(batch: list[tuple[int, tuple[LeadFields, ConsentCell | None]]]) -> None:
        ids = sorted({fields.lead_id for _, (fields, _) in batch})
        stored = {row.lead_id: row._asdict() for row in session.execute(
            select(*stored_columns).where(leads.c.lead_id.in_(ids)))}
        changes: dict[str, _Change | None] = dict.fromkeys(ids)
        for row in session.execute(select(staged.c.lead_id, *change_columns).where(
                staged.c.import_batch_id == batch_id, staged.c.lead_id.in_(ids))):
            lead_id, *values = row
            changes[lead_id] = _Change(*values)
        folded_before = {lead_id for lead_id, change in changes.items() if change is not None}
        new_consents = []
        for line, (fields, consent) in batch:
            before = changes[fields.lead_id]
            after = _fold(before, fields)
            changes[fields.lead_id] = after
            known = stored.get(fields.lead_id)
            if before is not None:
                was: dict[str, Any] | None = _applied(known, before)
            else:
                was = None if known is None else {name: known[name] for name in STATE}
            if was is None:
                counts["created"] += 1
            elif _applied(known, after) != was:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if consent is not None:
                new_consents.append({"import_batch_id": batch_id, "lead_id": fields.lead_id,
                                     "kind": consent[0], "given_at": consent[1] or at,
                                     "evidence": f"lead import {Path(source.name).name} "
                                                 f"line {line}"})
        if folded_before:
            session.execute(delete(staged).where(staged.c.import_batch_id == batch_id,
                                                 staged.c.lead_id.in_(sorted(folded_before))))
        session.execute(insert(staged), [
            {"import_batch_id": batch_id, "lead_id": lead_id, **change.__dict__}
            for lead_id, change in changes.items() if change is not None])
        if new_consents:
            session.execute(insert(consents_table), new_consents)
        counts["consents"] += len(new_consents)

    import_in_batches(source, validate=_validator(business_timezone, at), apply=apply, chunk=CHUNK,
                      progress=progress)
    _apply_staged(session, batch_id, at=at, actor=actor)
    audit.record(session, pack=PACK, action="import", actor=actor, at=at, subject=source.name,
                 after=dict(counts))
    return LeadImportResult(source.name, counts["created"], counts["updated"],
                            counts["unchanged"], counts["consents"])


def _default_language_sql(province: Any) -> Any:
    return case((province == "QC", literal("fr")), else_=literal("en"))


def _apply_staged(session: Session, batch_id: int, *, at: datetime, actor: str) -> None:
    """The flip's writes: the staged changes and consents, set-based (`_applied` as SQL)."""
    leads, staged = table_of(Lead), table_of(LeadImportLead)
    consents, staged_consents = table_of(LeadConsent), table_of(LeadImportConsent)
    from valhalla_cli.models.inbox import WrongNumber
    from valhalla_cli.services.inbox_tasks import refuse_wrong_number

    wrong = table_of(WrongNumber)
    refuse_wrong_number(session, pairs=[(lead, phone) for lead, phone in session.execute(
        select(staged.c.lead_id, staged.c.phone).join(
            wrong, and_(wrong.c.lead_id == staged.c.lead_id, wrong.c.phone == staged.c.phone))
        .where(staged.c.import_batch_id == batch_id).limit(1))])
    follows = or_(leads.c.language == _default_language_sql(leads.c.province),
                  and_(leads.c.language == "fr", staged.c.has_qc.is_(True)),
                  and_(leads.c.language == "en", staged.c.has_other.is_(True)))
    values: dict[str, Any] = {name: func.coalesce(staged.c[name], leads.c[name])
                              for name in FOLDED}
    values["province"] = staged.c.province
    values["language"] = case(
        (staged.c.language.is_not(None), staged.c.language),
        (follows, _default_language_sql(staged.c.province)),
        else_=leads.c.language)
    changed = or_(*(expr.is_distinct_from(leads.c[name]) for name, expr in values.items()))
    # The new leads first, then the changes: a lead created meanwhile by another writer (a
    # `lead add`, the same file imported again at once) is not inserted twice (the INSERT
    # waits for that writer and skips it) and the UPDATE, which reads what is committed when
    # it starts, then applies the file to it. A lead this INSERT created is left as it is by
    # the UPDATE (nothing differs).
    columns = ["lead_id", "province", *FOLDED, "language", "created_at", "updated_at"]
    session.execute(upsert_insert(session)(leads).from_select(columns, select(
        staged.c.lead_id, staged.c.province, *(staged.c[name] for name in FOLDED),
        func.coalesce(staged.c.language, _default_language_sql(staged.c.province)),
        literal(at, leads.c.created_at.type), literal(at, leads.c.updated_at.type))
        .where(staged.c.import_batch_id == batch_id,
               ~exists().where(leads.c.lead_id == staged.c.lead_id))
        .order_by(staged.c.id)).on_conflict_do_nothing())
    session.execute(update(leads).where(staged.c.import_batch_id == batch_id,
                                        staged.c.lead_id == leads.c.lead_id, changed)
                    .values(**values, updated_at=at)
                    .execution_options(synchronize_session=False))
    session.execute(insert(consents).from_select(
        ["lead_id", "kind", "channel", "given_at", "recorded_at", "evidence", "actor"],
        select(staged_consents.c.lead_id, staged_consents.c.kind, literal("all"),
               staged_consents.c.given_at, literal(utcnow(), consents.c.recorded_at.type),
               staged_consents.c.evidence, literal(actor))
        .where(staged_consents.c.import_batch_id == batch_id)
        .order_by(staged_consents.c.id)))
