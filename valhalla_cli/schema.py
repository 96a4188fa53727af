"""The schema gate: which revision a database must be at, and what state it is in.

A database not at the package's head revision is refused with exit 4 (newer, doubly versioned
and unversioned-but-populated schemas each say what to do). The head is read from the migration
files without importing Alembic. Opening a database (and creating a new SQLite file) is
`bootstrap.open_database`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
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


_CREATED = re.compile(r"create_(?:table|index)\(\s*(?:op\.f\(\s*)?['\"]([A-Za-z_][\w]*)['\"]")


@lru_cache(maxsize=1)
def _revision_files() -> dict[str, tuple[str | None, str]]:
    """revision -> (its parent, its source), read without Alembic."""
    found: dict[str, tuple[str | None, str]] = {}
    for path in (migrations_dir() / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision:
            parent = _DOWN.search(source)
            found[revision.group(1)] = (parent.group(1) if parent else None, source)
    return found


@cache
def objects_created_after(revision: str) -> frozenset[str]:
    """Tables and indexes that only a migration after `revision` creates (named literally, and
    created by no other migration, so a name that is dropped and re-created never counts):
    a database recorded at `revision` that holds one of them is ahead of its revision row."""
    files = _revision_files()
    later: set[str] = set()
    step: str | None = known_head_revision()
    while step is not None and step != revision and step in files:
        later.add(step)
        step = files[step][0]
    counts: dict[str, int] = {}
    owner: dict[str, str] = {}
    for name, (_parent, source) in files.items():
        for created in _CREATED.findall(source):
            counts[created] = counts.get(created, 0) + 1
            owner[created] = name
    return frozenset(n for n, c in counts.items() if c == 1 and owner[n] in later)


@dataclass(frozen=True)
class SchemaState:
    """What `alembic_version` says, whether there are tables without it, and (for a revision
    behind the head) which tables or indexes of later revisions it already holds."""

    revisions: tuple[str, ...]
    has_tables: bool
    ahead: tuple[str, ...] = ()

    @property
    def current(self) -> str | None:
        return ",".join(self.revisions) if self.revisions else None

    @property
    def status(self) -> str:
        """at_head | behind | newer | multiple | unversioned (tables, no revision) | empty |
        inconsistent (a revision row older than the tables and indexes it holds)."""
        if len(self.revisions) > 1:
            return "multiple"
        if not self.revisions:
            return "unversioned" if self.has_tables else "empty"
        if self.revisions[0] == known_head_revision():
            return "at_head"
        if self.revisions[0] not in known_revisions():
            return "newer"
        return "inconsistent" if self.ahead else "behind"

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
        if status == "inconsistent":
            shown = ", ".join(self.ahead[:3]) + (", ..." if len(self.ahead) > 3 else "")
            return (f"the database's revision row says {self.revisions[0]}, but it already "
                    f"holds tables or indexes of later revisions ({shown}): its schema is in "
                    "an unknown state (a half-restored backup?); restore a backup (no "
                    "migration can run on it, and `db upgrade` would collide with them)")
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


_VERSION_QUERY = text("SELECT version_num FROM alembic_version")


def read_revisions(conn: Connection | Session) -> tuple[str, ...]:
    """What `alembic_version` holds: the one reader of a database's schema revision. A missing
    table reads as no revision; on PostgreSQL that failed query ends the transaction, so a
    connection of our own is rolled back for the next query (a session's unit of work is the
    caller's to end)."""
    try:
        return tuple(str(row[0]) for row in conn.execute(_VERSION_QUERY))
    except DBAPIError as exc:
        message = str(exc.orig).lower()
        if "alembic_version" not in message or not (
                "no such table" in message or "does not exist" in message):
            raise
    if isinstance(conn, Connection):
        conn.rollback()
    return ()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty or unversioned database."""
    with engine.connect() as conn:
        rows = read_revisions(conn)
    return rows[0] if rows else None


def schema_state(engine: Engine) -> SchemaState:
    """Read `alembic_version` (one query at head; a second only when it holds no revision)."""
    with engine.connect() as conn:
        rows = read_revisions(conn)
        if len(rows) == 1 and rows[0] in known_revisions() and rows[0] != known_head_revision():
            return SchemaState(rows, True, _existing(conn, objects_created_after(rows[0])))
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


def _existing(conn: Any, names: frozenset[str]) -> tuple[str, ...]:
    """Which of these table or index names exist in the database (sorted)."""
    if not names:
        return ()
    if conn.dialect.name == "sqlite":
        query = text("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    else:
        query = text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                     "UNION ALL SELECT indexname FROM pg_indexes "
                     "WHERE schemaname = current_schema()")
    return tuple(sorted(names & {str(r[0]) for r in conn.execute(query)}))


def ensure_at_head(engine: Engine) -> None:
    try:
        state = schema_state(engine)
    except SQLAlchemyError as exc:
        raise describe_db_error(exc) or DatabaseUnavailable(
            f"database unavailable: {redact(str(exc).splitlines()[0])}") from exc
    refusal = state.refusal()
    if refusal is not None:
        raise DatabaseUnavailable(refusal)


def ensure_session_at_head(session: Session) -> None:
    """The schema gate inside a unit of work (the HTTP server checks it on every request, in
    the request's own transaction, so a `db downgrade` under a running server is noticed)."""
    rows = read_revisions(session)
    refusal = SchemaState(rows, bool(rows)).refusal()
    if refusal is not None:
        raise DatabaseUnavailable(refusal)
