"""Where benchmark data lives, and the same data on PostgreSQL (not part of the package).

Every script builds its SQLite file once with bulk SQL. With `--db postgresql+psycopg://…` the
script then mirrors that file, row for row, into a database of its own on that server, loaded
through COPY with the secondary indexes dropped and rebuilt afterwards, so both engines are
measured on exactly the same rows. A mirror is built once and reused (it is renamed into place
only when complete); a later migration is applied to it in place.

Data goes to $VALHALLA_BENCH_DATA (default benchmarks/data/, git-ignored).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VALHALLA_BENCH_DATA") or REPO / "benchmarks" / "data")
COPY_CHUNK = 10_000


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith("postgresql")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _with_database(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _admin(server_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(_with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT")


def _exists(admin, name: str) -> bool:  # type: ignore[no-untyped-def]
    with admin.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}).first() is not None


def upgrade_to_head(url: str) -> None:
    from valhalla_cli import migrate
    from valhalla_cli.bootstrap import open_database

    db = open_database(url, check_schema=False)
    try:
        migrate.upgrade(db, "head")
    finally:
        db.dispose()


def mirror(sqlite_path: Path, server_url: str, name: str, *, rebuild: bool = False) -> str:
    """URL of database `name` on the server of `server_url` holding the SQLite file's rows."""
    admin = _admin(server_url)
    url = _with_database(server_url, name)
    try:
        if _exists(admin, name) and not rebuild:
            upgrade_to_head(url)
            return url
        building = f"{name}_building"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{building}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{building}"')
        started = time.perf_counter()
        rows = _load(sqlite_path, _with_database(server_url, building))
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        print(f"mirrored {sqlite_path.name} into PostgreSQL database {name}: {rows:,} rows "
              f"through COPY in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        upgrade_to_head(url)
        return url
    finally:
        admin.dispose()


def _load(sqlite_path: Path, url: str) -> int:
    """Schema by the project's migrations (to the SQLite file's revision), rows by COPY."""
    from valhalla_cli import migrate
    from valhalla_cli.bootstrap import open_database

    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    revision = source.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    db = open_database(url, check_schema=False)
    migrate.upgrade(db, revision)
    tables = [name for (name,) in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version'")]
    total = 0
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET TIME ZONE 'UTC'")  # SQLite holds naive UTC instants
        cur.execute("SET session_replication_role = replica")  # rows are copied, FKs hold
        cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")
        for table in tables:
            count = source.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            if not count:
                continue
            columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
            indexes = _secondary_indexes(cur, table) if count > 50_000 else []
            for index_name, _ in indexes:
                cur.execute(f'DROP INDEX "{index_name}"')
            booleans = _boolean_columns(cur, table)
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = source.execute(f'SELECT {cols} FROM "{table}"')
            bool_at = [i for i, c in enumerate(columns) if c in booleans]
            with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                while chunk := rows.fetchmany(COPY_CHUNK):
                    for row in chunk:
                        if bool_at:
                            row = list(row)
                            for i in bool_at:
                                if row[i] is not None:
                                    row[i] = bool(row[i])
                        copy.write_row(row)
            for _, definition in indexes:
                cur.execute(definition)
            _reset_sequences(cur, table)
            total += count
        raw.commit()
        # What autovacuum does on a settled database: statistics, and the visibility map that
        # index-only scans need (freshly copied pages are not all-visible yet).
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute("VACUUM (ANALYZE)")
    finally:
        raw.close()
        db.dispose()
        source.close()
    return total


def _secondary_indexes(cur, table: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    cur.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,))
    return list(cur.fetchall())


def _boolean_columns(cur, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND data_type = 'boolean'", (table,))
    return {name for (name,) in cur.fetchall()}


def _reset_sequences(cur, table: str) -> None:  # type: ignore[no-untyped-def]
    cur.execute("SELECT column_name, pg_get_serial_sequence(%s, column_name) FROM "
                "information_schema.columns WHERE table_name = %s", (table, table))
    for column, sequence in cur.fetchall():
        if sequence:
            cur.execute(f'SELECT setval(%s, COALESCE((SELECT MAX("{column}") FROM "{table}"), 0)'
                        f' + 1, false)', (sequence,))


def fresh_database(server_url: str, name: str) -> str:
    """An empty database `name` at the latest schema with its seeds (dropped first if present)."""
    admin = _admin(server_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    url = _with_database(server_url, name)
    upgrade_to_head(url)
    return url


def drop_database(server_url: str, name: str) -> None:
    admin = _admin(server_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
