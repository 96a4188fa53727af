"""The schema gate: which revision a database must be at, and what state it is in.

A database not at the package's head revision is refused with exit 4 (newer, doubly versioned
and unversioned-but-populated schemas each say what to do). The head is read from the migration
files without importing Alembic. Opening a database (and creating a new SQLite file) is
`bootstrap.open_database`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from valhalla_cli.db import (
    describe_db_error,
    migrations_dir,
    redact,
)
from valhalla_cli.errors import DatabaseUnavailable

_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]+)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


@lru_cache(maxsize=1)
def known_head_revision() -> str:
    """The head revision of the migrations shipped with the package, read without Alembic.

    The chain is linear: the head is the revision no other revision names as its parent.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found:
            revisions.add(found.group(1))
        parent = _DOWN.search(source)
        if parent:
            parents.add(parent.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision shipped with the package, read without Alembic."""
    found = set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        match = _REVISION.search(path.read_text(encoding="utf-8"))
        if match:
            found.add(match.group(1))
    return frozenset(found)


@dataclass(frozen=True)
class SchemaState:
    """What `alembic_version` says, and whether there are tables without it."""

    revisions: tuple[str, ...]
    has_tables: bool

    @property
    def current(self) -> str | None:
        return ",".join(self.revisions) if self.revisions else None

    @property
    def status(self) -> str:
        """at_head | behind | newer | multiple | unversioned (tables, no revision) | empty."""
        if len(self.revisions) > 1:
            return "multiple"
        if not self.revisions:
            return "unversioned" if self.has_tables else "empty"
        if self.revisions[0] == known_head_revision():
            return "at_head"
        return "behind" if self.revisions[0] in known_revisions() else "newer"

    def problem(self) -> str | None:
        """Why no migration can run on this database (exit 4), or None."""
        head = known_head_revision()
        status = self.status
        if status == "newer":
            return (f"the database is at revision {self.revisions[0]}, newer than this valhalla "
                    f"(which knows up to {head}): upgrade the package "
                    "(pip install --upgrade valhalla-cli)")
        if status == "multiple":
            return (f"the database's alembic_version holds {len(self.revisions)} revisions "
                    f"({', '.join(self.revisions)}): its schema is in an unknown state; restore "
                    "a backup (no migration can run on it)")
        if status == "unversioned":
            return ("the database has tables but no schema revision (alembic_version is empty "
                    "or missing): it was not made by valhalla or its revision row was removed; "
                    "restore a backup (db upgrade would collide with the existing tables)")
        return None

    def refusal(self) -> str | None:
        """Why an ordinary command must not run on this database (exit 4), or None."""
        problem = self.problem()
        if problem is not None:
            return problem
        head = known_head_revision()
        if self.status == "empty":
            return (f"the database schema is not initialised (no schema revision), this "
                    f"valhalla needs {head}: run `valhalla db upgrade`")
        if self.status == "behind":
            return (f"the database schema is at revision {self.revisions[0]}, this valhalla "
                    f"needs {head}: run `valhalla db upgrade`")
        return None


def _missing_table(exc: DBAPIError, table: str) -> bool:
    message = str(exc.orig).lower()
    return table in message and ("no such table" in message or "does not exist" in message)


def schema_state(engine: Engine) -> SchemaState:
    """Read `alembic_version` (one query at head; a second only when it holds no revision)."""
    with engine.connect() as conn:
        try:
            found = conn.execute(text("SELECT version_num FROM alembic_version"))
            rows = tuple(r[0] for r in found)
        except DBAPIError as exc:
            if not _missing_table(exc, "alembic_version"):
                raise
            conn.rollback()
            rows = ()
        if rows:
            return SchemaState(rows, True)
        if conn.dialect.name == "sqlite":
            query = ("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                     "('alembic_version') AND name NOT LIKE 'sqlite_%' LIMIT 1")
        else:
            query = ("SELECT 1 FROM information_schema.tables WHERE table_schema = "
                     "current_schema() AND table_name <> 'alembic_version' LIMIT 1")
        has_tables = conn.execute(text(query)).first() is not None
    return SchemaState((), has_tables)


def ensure_at_head(engine: Engine) -> None:
    try:
        state = schema_state(engine)
    except SQLAlchemyError as exc:
        raise describe_db_error(exc) or DatabaseUnavailable(
            f"database unavailable: {redact(str(exc).splitlines()[0])}") from exc
    refusal = state.refusal()
    if refusal is not None:
        raise DatabaseUnavailable(refusal)


_VERSION_QUERY = text("SELECT version_num FROM alembic_version")


def ensure_session_at_head(session: Session) -> None:
    """The schema gate inside a unit of work (the HTTP server checks it on every request, in
    the request's own transaction, so a `db downgrade` under a running server is noticed)."""
    try:
        rows = tuple(r[0] for r in session.execute(_VERSION_QUERY))
    except DBAPIError as exc:
        message = str(exc.orig).lower()
        if "alembic_version" not in message:
            raise
        rows = ()
    refusal = SchemaState(rows, bool(rows)).refusal()
    if refusal is not None:
        raise DatabaseUnavailable(refusal)
