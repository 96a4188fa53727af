"""The database itself: integrity check, online backup, and the runbook's backup check.

`check` and `backup` take the `Database` rather than a session: the integrity check must survive
a file so damaged that no transaction can start, and SQLite's backup API works on connections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from valhalla_cli.db import (
    DAMAGED,
    LOCKED,
    NOT_A_DATABASE,
    Database,
    dialect_name,
    is_damaged,
    is_not_a_database,
    redact,
    sqlite_path,
)
from valhalla_cli.errors import BadInput, DatabaseUnavailable, path_error, shown_path
from valhalla_cli.schema import schema_state
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.refusals import Refusal

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult
    from valhalla_cli.settings import Settings

PACK = Pack.DB
BACKUP_MAX_AGE = timedelta(days=7)
MAX_PROBLEMS = 20
# SQLSTATE classes PostgreSQL raises on damaged pages and indexes
_PG_CORRUPTION = ("XX001", "XX002")


@dataclass(frozen=True)
class IntegrityReport:
    ok: bool
    engine: str
    schema: str | None
    problems: list[str]
    reason: str | None  # "damaged" (or "not_a_database": no SQLite file at all) when not ok

    @property
    def refusal(self) -> Refusal | None:
        """No database at the path, or a damaged one."""
        if self.reason == "not_a_database":
            from valhalla_cli.db import NOT_A_DATABASE

            return Refusal(self.reason, NOT_A_DATABASE)
        if self.ok:
            return None
        return Refusal(self.reason or "damaged", "the database file is damaged: restore a backup ("
                       + "; ".join(self.problems[:3]) + ")")


def check(db: Database) -> IntegrityReport:
    """SQLite: `PRAGMA integrity_check` (every page, index and constraint). PostgreSQL: read
    every table in full, which makes the server verify each heap page it returns."""
    problems: list[str] = []
    schema: str | None = None
    try:
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                rows = conn.exec_driver_sql(f"PRAGMA integrity_check({MAX_PROBLEMS})").all()
                problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
            else:
                from sqlalchemy import inspect

                for table in inspect(conn).get_table_names():
                    quoted = conn.dialect.identifier_preparer.quote(table)
                    conn.exec_driver_sql(f"SELECT COUNT(*) FROM {quoted}").scalar()
        if not problems:
            schema = schema_state(db.engine).status
    except DBAPIError as exc:
        message = redact(str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip()
                         else type(exc.orig).__name__)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if not (is_damaged(message) or sqlstate in _PG_CORRUPTION):
            raise
        problems = [message]
    ok = not problems
    reason = None if ok else (
        "not_a_database" if len(problems) == 1 and is_not_a_database(problems[0])
        else "damaged")
    return IntegrityReport(ok=ok, engine=db.dialect, schema=schema, problems=problems,
                           reason=reason)


class DamagedCopy(Exception):
    """The copy a backup made failed its integrity check (so the source is damaged)."""


def _verify_copy(copy: Any) -> None:
    """`PRAGMA integrity_check` of a backup's copy; SQLite reports some damage as rows and
    some (a page of an invalid type) by failing the pragma itself."""
    import sqlite3

    try:
        rows = copy.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        if is_damaged(str(exc)) or is_not_a_database(str(exc)):
            raise DamagedCopy(str(exc)) from None
        raise
    problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    if problems:
        raise DamagedCopy(problems[0])


@dataclass(frozen=True)
class BackupResult:
    path: str
    bytes: int
    pages: int
    at: datetime


def pg_dump_command(url: str, target: Path) -> str:
    """The pg_dump line for a PostgreSQL URL, its password masked (libpq takes `postgresql://`)."""
    from valhalla_cli.settings import mask_url_password

    _scheme, _, rest = mask_url_password(url).partition("://")
    return f"pg_dump --format=custom --file '{target}' 'postgresql://{rest}'"


def backup(db: Database, target: Path, *, actor: str, at: datetime) -> BackupResult:
    """Copy a SQLite database with SQLite's online backup API into `target` (which must not
    exist), then record the backup in the audit log.

    The copy is taken in one step under one read transaction: in WAL mode writers go on while
    it runs and the copy is the database as of its start, consistent. It is written next to the
    target and renamed into place, so an interrupted or failed backup leaves no partial file.
    """
    import sqlite3

    source = sqlite_path(db.url)
    if source is None:
        if len(str(target)) > 4096 or any(len(part) > 255 for part in target.parts):
            # No file system takes it: the pg_dump line would be a 100 000-character echo.
            raise BadInput(f"cannot write the backup {shown_path(target)}: the path or one "
                           "of its names is too long")
        raise BadInput("valhalla db backup copies SQLite databases; on PostgreSQL run "
                       + pg_dump_command(db.url, target))
    target = target.expanduser()
    try:
        exists, parent_is_dir = target.exists(), target.parent.is_dir()
    except OSError as exc:  # a name too long, a path through a file
        raise path_error(exc, target, doing="write the backup") from None
    if exists:
        raise BadInput(f"{shown_path(target)} already exists: give a new file name")
    if not parent_is_dir:
        raise BadInput(f"{shown_path(target.parent)} is not a directory")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        src = sqlite3.connect(str(source), timeout=10)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                src.backup(dst)
                # The copy is checked before it is kept or recorded: a damaged source copies
                # page for page, and a recorded damaged copy would satisfy the runbook's
                # `backup` check while no usable backup exists.
                _verify_copy(dst)
                pages = dst.execute("PRAGMA page_count").fetchone()[0]
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except DamagedCopy as exc:
        partial.unlink(missing_ok=True)
        raise DatabaseUnavailable(
            "the database is damaged (its integrity check failed: "
            f"{redact(str(exc))[:200]}): no backup written or recorded; keep the last good "
            "backup and see `valhalla db check`") from None
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        text = str(exc).lower()
        if "disk is full" in text or "no space" in text:
            raise DatabaseUnavailable(f"no space left on the disk of {target.parent}") from exc
        if is_not_a_database(text):
            raise DatabaseUnavailable(NOT_A_DATABASE) from exc
        if is_damaged(text):
            raise DatabaseUnavailable(DAMAGED) from exc
        if "locked" in text or "busy" in text:
            raise DatabaseUnavailable(LOCKED) from exc
        if isinstance(exc, PermissionError):
            raise BadInput(f"cannot write {target}: permission denied") from exc
        raise
    size = target.stat().st_size
    from valhalla_cli.services import audit

    with db.transaction(write=True) as session:
        audit.record(session, pack=PACK, action="backup", actor=actor, at=at,
                     subject=str(target)[-200:], after={"path": str(target), "bytes": size})
    return BackupResult(path=str(target), bytes=size, pages=pages, at=at)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """`backup`: the age of the last `valhalla db backup`; warn when none in 7 days."""
    from valhalla_cli.models import AuditEvent
    from valhalla_cli.models.types import table_of
    from valhalla_cli.services.checks import OK, WARN, CheckResult

    if dialect_name(session) != "sqlite":
        return CheckResult(OK, "PostgreSQL: backups are pg_dump's (or the server's) "
                           "job; valhalla does not see them")
    events = table_of(AuditEvent)
    last = session.execute(
        select(events.c.at, events.c.after)
        .where(events.c.pack == PACK.value, events.c.action == "backup", events.c.at <= at)
        .order_by(events.c.at.desc()).limit(1)
    ).first()
    fix = "valhalla db backup PATH"
    if last is None:
        return CheckResult(WARN, "no backup recorded", fix)
    age = at - last.at
    where = (last.after or {}).get("path", "?")
    if age > BACKUP_MAX_AGE:
        return CheckResult(WARN, f"last backup {_age(age)} ago ({where}), none in "
                           f"{BACKUP_MAX_AGE.days} days", fix)
    return CheckResult(OK, f"last backup {_age(age)} ago ({where})")
