"""Engine and sessions: the leaf of the data layer (it imports no other valhalla module but
errors). Which schema a database must have, and creating a new one, is `schema.py`.

Nothing here runs at import time: the CLI opens a `Database` inside a command body, so `--help`
and shell completion never import SQLAlchemy.

SQLite (the embedded default): WAL, foreign keys, a 5 s busy timeout, synchronous=NORMAL, and
write transactions that start with BEGIN IMMEDIATE so two processes never deadlock on a lock
upgrade. PostgreSQL (teams): psycopg 3, pool_pre_ping, READ COMMITTED with atomic conditional
updates.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
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


# The folders of the SQLite files opened by this process: a "disk I/O error" on one of them is
# reported as a full disk when that disk is full (SQLite says no more than "I/O error" when it
# cannot size the WAL's shared-memory file).
_SQLITE_FOLDERS: set[Path] = set()
FULL_DISK_BYTES = 1 << 20


def disk_is_full(folder: Path) -> bool:
    """Less than 1 MiB free for an unprivileged writer on the disk of `folder`."""
    import os

    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < FULL_DISK_BYTES


def _configure_sqlite(engine: Engine, *, exclusive: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if exclusive:
            # Set before the first access, WAL keeps its index in this process's memory
            # instead of the shared-memory file (32 KiB) a full disk cannot hold.
            cursor.execute("PRAGMA locking_mode = EXCLUSIVE")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, exclusive: bool = False) -> Engine:
    """Build an engine for a URL; a missing driver is exit 4, a malformed URL exit 3.

    `exclusive` (SQLite only) is the full-disk fallback of `bootstrap.open_database`: one
    connection in EXCLUSIVE locking mode, whose WAL index lives in memory.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            options: dict[str, Any] = {}
            if exclusive:
                from sqlalchemy.pool import StaticPool

                options["poolclass"] = StaticPool
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                   **options)
            _configure_sqlite(engine, exclusive=exclusive)
            if parsed.database and parsed.database != ":memory:":
                _SQLITE_FOLDERS.add(Path(parsed.database).parent)
        elif backend == "postgresql":
            # use_native_hstore=False: no column is HSTORE, and looking its type up cost every
            # new connection a catalog query (a round trip before the first statement).
            engine = create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED",
                                   use_native_hstore=False,
                                   connect_args={"options": _without_jit(parsed.query)})
        else:
            raise BadInput(f"unsupported database {backend!r}: use sqlite or postgresql+psycopg")
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"the database driver for {backend} is not installed ({exc}); "
            "for PostgreSQL install valhalla-cli[postgres]"
        ) from exc
    return engine


def _without_jit(query: Any) -> str:
    """libpq `options` for a connection: the URL's own, then `jit=off`.

    Valhalla's statements are short, index-driven reads and writes; the planner's cost estimates
    (a correlated count per metric and day, say) still cross `jit_above_cost`, and compiling
    the plan then took 550-700 ms for a query that runs in 70 ms (the status page's KPI window
    at 2 M events). JIT pays off for long analytical scans, which Valhalla does not run."""
    given = query.get("options")
    if isinstance(given, tuple):
        given = " ".join(given)
    return f"{given} -c jit=off" if given else "-c jit=off"


DAMAGED = "the database file is damaged: restore a backup (see `valhalla db check`)"
# SQLITE_NOTADB: the header is not SQLite's at all. That is far more often a wrong path (a
# spreadsheet, a config file given to --db) than damage, so it is not sent to a backup.
NOT_A_DATABASE = ("the file is not a SQLite database (nor a valhalla one): check the path given "
                  "by --db, VALHALLA_DATABASE_URL or database.url")
# Whoever holds the lock may be any program (the sqlite3 shell, a backup tool), not only
# another valhalla process.
LOCKED = "the database is locked by another process past the timeout; try again"
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
    if is_not_a_database(lowered):
        return DatabaseUnavailable(NOT_A_DATABASE)
    if is_damaged(lowered):
        return DatabaseUnavailable(DAMAGED)
    if "disk is full" in lowered or "no space left" in lowered or sqlstate == "53100":
        return DatabaseUnavailable(DISK_FULL)
    if "disk i/o error" in lowered and any(disk_is_full(f) for f in _SQLITE_FOLDERS):
        return DatabaseUnavailable(DISK_FULL)
    if "locked" in lowered or "busy" in lowered:
        return DatabaseUnavailable(LOCKED)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(f"lost the database connection: {first}")
    markers = ("unable to open", "connection", "could not connect", "no such table",
               "does not exist", "server closed", "timeout", "disk i/o", "readonly")
    if any(m in lowered for m in markers):
        return DatabaseUnavailable(f"database unavailable: {first}")
    return None


def is_not_a_database(message: str) -> bool:
    """SQLite's SQLITE_NOTADB message ("file is not a database", formerly "file is encrypted
    or is not a database")."""
    return "not a database" in message.lower()


def is_damaged(message: str) -> bool:
    """SQLite's SQLITE_CORRUPT and SQLITE_NOTADB messages."""
    lowered = message.lower()
    return "malformed" in lowered or "not a database" in lowered


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


def dialect_name(session: Session) -> str:
    """`sqlite` or `postgresql`: the engine the session's transaction runs on."""
    return session.get_bind().dialect.name


def upsert_insert(session: Session) -> Any:
    """The dialect's INSERT construct, which has `on_conflict_do_update/_nothing` on both."""
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def insert_if_missing(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """Insert the row unless one with any of its unique keys exists; True when it was inserted.

    The race-free half of "create it if missing, then change it": two transactions that both
    found no row would otherwise both INSERT and the second would fail on a unique key. Here
    the second waits for the first to commit and inserts nothing; the caller then reads the
    row with SELECT ... FOR UPDATE and sees it. No conflict target is named, so every unique
    key of the table arbitrates (a table with two, such as a name and its normalised key, is
    covered).
    """
    # RETURNING, not the row count: psycopg reports -1 for this INSERT through SQLAlchemy.
    key = next(iter(table.primary_key.columns))
    stmt = upsert_insert(session)(table).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(stmt).first() is not None


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialise the writers of these keys until the transaction ends: for "find it, else
    create it" where there is no row to lock yet and no unique key to arbitrate (PostgreSQL
    advisory locks on the keys' hashes; SQLite's BEGIN IMMEDIATE already serialises every
    writer). Taken in sorted order, so two callers never deadlock; a hash collision only
    makes two unrelated writers wait for each other."""
    if dialect_name(session) != "postgresql":
        return
    names = sorted(set(keys))
    if names:
        from sqlalchemy import text

        session.execute(text(
            "SELECT pg_advisory_xact_lock(hashtext(x)) FROM "
            "(SELECT unnest(CAST(:names AS text[])) AS x ORDER BY 1) AS s"), {"names": names})


def affected_rows(result: Any) -> int:
    """How many rows an UPDATE or DELETE changed (its cursor result's rowcount)."""
    return int(result.rowcount or 0)


def copy_rows(session: Session, table: str, columns: list[str], rows: Any) -> None:
    """PostgreSQL bulk load by COPY inside the session's own transaction (rolled back with it).

    Batched INSERTs kept the bulk imports (`ladder import`, `kpi import`) at two to three times
    their targets on PostgreSQL; COPY meets them.
    """
    cursor = session.connection().connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
    finally:
        cursor.close()
