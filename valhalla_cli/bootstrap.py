"""Opening a database: the one way in.

A new SQLite file is created at the latest schema with its seeds (Alembic is imported only
then, through `migrate`); any other database must be at the package's head revision
(`schema.ensure_at_head`, exit 4 otherwise). This module sits above both `schema` (the head
check, no Alembic) and `migrate` (which consults `schema` before it migrates), so neither
imports the other's caller.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from valhalla_cli.db import Database, describe_db_error, disk_is_full, make_engine, sqlite_path
from valhalla_cli.errors import ConfigError, DatabaseUnavailable, shown_path
from valhalla_cli.schema import ensure_at_head


def _sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
            path.with_name(path.name + "-journal")]


def _readable(engine: Engine, url: str, path: Path) -> Engine:
    """The engine, or on a full disk one that can still read.

    Opening a WAL database sizes its shared-memory file (32 KiB); on a full disk that fails
    with a bare "disk I/O error" and even a read could not run. Then the database is opened
    again with one connection in EXCLUSIVE locking mode, which keeps the WAL index in memory:
    reads work, and a write works as long as the few pages it adds to the WAL still fit.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA schema_version").scalar()
        return engine
    except DBAPIError as exc:
        # Anything else (damage, a lock, not a database) is for the command to meet and
        # report as it always does: `db check` reports a damaged file rather than failing.
        if "disk i/o error" not in str(exc.orig).lower() or not disk_is_full(path.parent):
            return engine
    engine.dispose()
    return make_engine(url, exclusive=True)


def open_database(url: str, *, check_schema: bool = True, create_missing: bool = True,
                  create_folders: bool = True) -> Database:
    """Open the database at `url`.

    A SQLite file that does not exist yet is created at the latest schema with its seeds when
    `create_missing` (and its missing folders when `create_folders`); otherwise it is a
    configuration error naming the path (exit 3), so a mistyped path is never a fresh, empty
    database. If creating fails (a full disk, an interrupt) the half-made file is removed
    again, so the next run starts afresh rather than finding an empty database. Any other
    database whose schema is not at the package's head is refused (exit 4) unless
    `check_schema` is off (the `db` commands).
    """
    path = sqlite_path(url)
    try:
        is_new_file = path is not None and not path.exists()
    except OSError as exc:  # a name too long, a path through a file
        raise ConfigError(f"no database at {shown_path(path)}: {exc.strerror}") from None
    if is_new_file:
        assert path is not None
        if not create_missing:
            raise ConfigError(f"no database at {shown_path(path)}: create it with "
                              "`valhalla init` (or `valhalla db upgrade`)")
        if not create_folders and not path.parent.is_dir():
            raise ConfigError(f"no database at {shown_path(path)}: its folder "
                              f"{shown_path(path.parent)} does not exist (a typo? create the "
                              "folder first, then run `valhalla init`)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise (describe_db_error(exc) or DatabaseUnavailable(
                f"cannot create {shown_path(path.parent)}: {exc.strerror}")) from exc
    engine = make_engine(url)
    if path is not None and not is_new_file:
        engine = _readable(engine, url, path)
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
