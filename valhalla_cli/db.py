"""Engine, sessions and the schema gate.

Nothing here runs at import time: the CLI opens a `Database` inside a command body, so `--help`
and shell completion never import SQLAlchemy.

SQLite (the embedded default): WAL, foreign keys, a 5 s busy timeout, synchronous=NORMAL, and
write transactions that start with BEGIN IMMEDIATE so two processes never deadlock on a lock
upgrade. PostgreSQL (teams): psycopg 3, pool_pre_ping, READ COMMITTED with atomic conditional
updates.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from valhalla_cli.errors import BadInput, ConfigError, DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE = "valhalla_write"


def migrations_dir() -> Path:
    """Installed wheels carry the migrations inside the package; a checkout has them at the top."""
    packaged = Path(__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "migrations"


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


# Pieces of the database URL that must never reach a message: its password, its user-info and
# its query values. Driver errors can echo them (a password with an unencoded `@` becomes part
# of the host name), so every message from the data layer is scrubbed of them.
_SECRETS: set[str] = set()


def parse_url(url: str) -> Any:
    """The SQLAlchemy URL; a malformed one is a configuration error (exit 3) that never echoes
    the URL's user-info or query."""
    scheme = url.partition("://")[0] if "://" in url else ""
    shown = f"{scheme}://..." if scheme.isascii() and scheme.replace("+", "").isalnum() else (
        "the value given")
    if not url.strip():
        raise ConfigError("the database URL is empty (sqlite:///PATH or postgresql+psycopg://...)")
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(f"the database URL ({shown}) is not a valid SQLAlchemy URL: check the "
                          "host, the port (a number) and that a password's @ : / are "
                          "percent-encoded (%40 %3A %2F)") from None
    _remember_secrets(url, parsed)
    if parsed.host and "@" in parsed.host:
        raise ConfigError(f"the database URL ({shown}) has an '@' in its password or user "
                          "name: percent-encode it as %40")
    return parsed


def _remember_secrets(url: str, parsed: Any) -> None:
    # Short strings are left alone: replacing a one-letter password would garble every message.
    location = url.partition("://")[2].partition("?")[0]
    candidates = []
    if "@" in location:
        credentials = location.rpartition("@")[0]
        candidates.append(credentials)
        candidates.append(credentials.partition(":")[2])
    if parsed.password:
        candidates.append(str(parsed.password))
    for value in parsed.query.values():
        candidates.extend(value if isinstance(value, tuple) else (value,))
    _SECRETS.update(str(c) for c in candidates if len(str(c)) >= 3)


def redact(text: str) -> str:
    """`text` with every remembered URL secret replaced by ***, the longest first."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for in-memory or other engines)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """Build an engine for a URL; a missing driver is exit 4, a malformed URL exit 3."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
        elif backend == "postgresql":
            engine = create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED")
        else:
            raise BadInput(f"unsupported database {backend!r}: use sqlite or postgresql+psycopg")
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"the database driver for {backend} is not installed ({exc}); "
            "for PostgreSQL install valhalla-cli[postgres]"
        ) from exc
    return engine


DAMAGED = "the database file is damaged: restore a backup (see `valhalla db check`)"
DISK_FULL = "no space left on the database's disk: free some space and run the command again"


def describe_db_error(exc: BaseException) -> DatabaseUnavailable | None:
    """Translate a driver error into a user-facing exit-4 error, or None when it is a bug."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DatabaseUnavailable(DISK_FULL)
    if not isinstance(exc, SQLAlchemyError):
        return None
    detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
    first = redact(detail[0] if detail else type(exc).__name__)
    lowered = first.lower()
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if is_damaged(lowered):
        return DatabaseUnavailable(DAMAGED)
    if "disk is full" in lowered or "no space left" in lowered or sqlstate == "53100":
        return DatabaseUnavailable(DISK_FULL)
    if "locked" in lowered or "busy" in lowered:
        return DatabaseUnavailable(
            "the database is locked by another valhalla process past the timeout; try again"
        )
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(f"lost the database connection: {first}")
    markers = ("unable to open", "connection", "could not connect", "no such table",
               "does not exist", "server closed", "timeout", "disk i/o", "readonly")
    if any(m in lowered for m in markers):
        return DatabaseUnavailable(f"database unavailable: {first}")
    return None


def is_damaged(message: str) -> bool:
    """SQLite's SQLITE_CORRUPT and SQLITE_NOTADB messages."""
    lowered = message.lower()
    return "malformed" in lowered or "not a database" in lowered


# --- rows of unfinished imports are invisible ---------------------------------------------------
# A bulk import writes in short transactions (so it never holds the SQLite write lock for long:
# the kill switch must always get through) and tags its rows with its `import_batch` id; the
# batch turns `done` in one short final transaction. Until then every ORM query of the imported
# tables leaves those rows out, so readers see the import whole or not at all. The importing
# session itself sees everything (`SEE_UNFINISHED_IMPORTS`): a lead twice in one file must find
# the ladder its earlier chunk created.
IMPORT_BATCH = "valhalla_import_batch"  # Session.info: the batch this session writes for
SEE_UNFINISHED_IMPORTS = "valhalla_see_unfinished_imports"


@lru_cache(maxsize=1)
def _visibility_criteria() -> tuple[Any, ...]:
    from sqlalchemy import or_, select
    from sqlalchemy.orm import with_loader_criteria

    from valhalla_cli.models import BuyerFeedbackEvent, FollowupTask, ImportBatch, KpiEvent

    def visible(cls: Any) -> Any:
        return or_(cls.import_batch_id.is_(None), cls.import_batch_id.in_(
            select(ImportBatch.id).where(ImportBatch.status == "done")))

    return tuple(with_loader_criteria(model, visible, include_aliases=True)
                 for model in (FollowupTask, KpiEvent, BuyerFeedbackEvent))


@event.listens_for(Session, "do_orm_execute")
def _hide_unfinished_imports(state: Any) -> None:
    if state.session.info.get(SEE_UNFINISHED_IMPORTS):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_visibility_criteria())


def import_batch_of(session: Session) -> int | None:
    """The import batch a session writes rows for (None outside a bulk import)."""
    return session.info.get(IMPORT_BATCH)


@dataclass
class Database:
    """An open database: an engine and the unit-of-work factory over it."""

    engine: Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error.

        `write=True` starts SQLite transactions with BEGIN IMMEDIATE (the write lock is taken up
        front and waits for the busy timeout instead of failing on a lock upgrade).
        """
        bind = self.engine.execution_options(**{_WRITE: True}) if write else self.engine
        session = Session(bind=bind, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


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


def current_revision(engine: Engine) -> str | None:
    """The revision in `alembic_version`, or None for an empty / unversioned database."""
    return schema_state(engine).current


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
            from valhalla_cli.migrate import upgrade

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


def ensure_session_at_head(session: Session) -> None:
    """The schema gate inside a unit of work (the HTTP server checks it on every request, in
    the request's own transaction, so a `db downgrade` under a running server is noticed)."""
    head = known_head_revision()
    try:
        found = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        message = str(exc.orig).lower()
        if "alembic_version" not in message:
            raise
        found = None
    if found != head:
        at = f"at revision {found}" if found else "not initialised (no schema revision)"
        raise DatabaseUnavailable(
            f"the database schema is {at}, this valhalla needs {head}: run `valhalla db upgrade`"
        )


def ensure_at_head(engine: Engine) -> None:
    try:
        state = schema_state(engine)
    except SQLAlchemyError as exc:
        raise describe_db_error(exc) or DatabaseUnavailable(
            f"database unavailable: {redact(str(exc).splitlines()[0])}") from exc
    refusal = state.refusal()
    if refusal is not None:
        raise DatabaseUnavailable(refusal)
