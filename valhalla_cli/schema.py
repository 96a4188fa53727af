"""The schema gate and the bootstrap: which revision a database must be at, and what happens
to a database that is not there.

`open_database` is the one way in: a new SQLite file is created at the latest schema with its
seeds (Alembic imported only then); any other database not at the package's head revision is
refused with exit 4. The head is read from the migration files without importing Alembic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from valhalla_cli.db import (
    Database,
    describe_db_error,
    make_engine,
    migrations_dir,
    redact,
    sqlite_path,
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


def _sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
            path.with_name(path.name + "-journal")]


def open_database(url: str, *, check_schema: bool = True, create_missing: bool = True) -> Database:
    """Open the database at `url`.

    A SQLite file that does not exist yet is created at the latest schema with its seeds; if
    that fails (a full disk, an interrupt) the half-made file is removed again, so the next run
    starts afresh rather than finding an empty database. Any other database whose schema is not
    at the package's head is refused (exit 4) unless `check_schema` is off (the `db` commands).
    """
    path = sqlite_path(url)
    is_new_file = path is not None and not path.exists()
    if is_new_file and not create_missing:
        raise DatabaseUnavailable(f"database file {path} does not exist: run `valhalla init`")
    if is_new_file:
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise (describe_db_error(exc) or DatabaseUnavailable(
                f"cannot create {path.parent}: {exc.strerror}")) from exc
    engine = make_engine(url)
    database = Database(engine=engine, url=url)
    try:
        if is_new_file:
            from valhalla_cli.migrate import upgrade  # Alembic: only for a new file

            upgrade(database, "head")
        elif check_schema:
            ensure_at_head(engine)
    except BaseException as exc:
        engine.dispose()
        if is_new_file:
            assert path is not None
            for leftover in _sidecars(path):
                leftover.unlink(missing_ok=True)
        translated = describe_db_error(exc)
        if translated is not None:
            raise translated from exc
        raise
    return database


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
