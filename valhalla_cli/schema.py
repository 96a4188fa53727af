"""The schema gate and the bootstrap: which revision a database must be at, and what happens
to a database that is not there.

`open_database` is the one way in: a new SQLite file is created at the latest schema with its
seeds (Alembic imported only then); any other database not at the package's head revision is
refused with exit 4. The head is read from the migration files without importing Alembic.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from valhalla_cli.db import (
    Database,
    current_revision,
    describe_db_error,
    make_engine,
    migrations_dir,
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


def open_database(url: str, *, check_schema: bool = True, create_missing: bool = True) -> Database:
    """Open the database at `url`.

    A SQLite file that does not exist yet is created at the latest schema with its seeds. Any
    other database whose schema is not at the package's head is refused (exit 4) unless
    `check_schema` is off (the `db` commands).
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
            raise DatabaseUnavailable(f"cannot create {path.parent}: {exc.strerror}") from exc
    engine = make_engine(url)
    database = Database(engine=engine, url=url)
    try:
        if is_new_file:
            from valhalla_cli.migrate import upgrade  # Alembic: only for a new file

            upgrade(database, "head")
        elif check_schema:
            ensure_at_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return database


def ensure_at_head(engine: Engine) -> None:
    try:
        found = current_revision(engine)
    except SQLAlchemyError as exc:
        raise describe_db_error(exc) or DatabaseUnavailable(f"database unavailable: {exc}") from exc
    _require_head(found)


_VERSION_QUERY = text("SELECT version_num FROM alembic_version")


def ensure_session_at_head(session: Session) -> None:
    """The schema gate inside a unit of work (the HTTP server checks it on every request, in
    the request's own transaction, so a `db downgrade` under a running server is noticed)."""
    try:
        found = session.execute(_VERSION_QUERY).scalar()
    except DBAPIError as exc:
        message = str(exc.orig).lower()
        if "alembic_version" not in message:
            raise
        found = None
    _require_head(found)


def _require_head(found: str | None) -> None:
    head = known_head_revision()
    if found != head:
        at = f"at revision {found}" if found else "not initialised (no schema revision)"
        raise DatabaseUnavailable(
            f"the database schema is {at}, this valhalla needs {head}: run `valhalla db upgrade`"
        )
