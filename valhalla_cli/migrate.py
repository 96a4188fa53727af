"""Alembic, run from code. Imported only by the `db` commands and when creating a new file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from valhalla_cli.db import Database, migrations_dir
from valhalla_cli.errors import DatabaseUnavailable


def alembic_config() -> Config:
    # The URL never goes into the Config: its configparser interpolation breaks on '%'.
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def _run(database: Database, fn, *args) -> None:
    cfg = alembic_config()
    with database.engine.execution_options(valhalla_write=True).begin() as connection:
        cfg.attributes["connection"] = connection
        fn(cfg, *args)


def ensure_migratable(database: Database) -> None:
    """A newer, doubly-versioned or unversioned-but-populated schema is exit 4: Alembic would
    fail on it (an unknown revision) or collide with the existing tables."""
    from valhalla_cli.schema import schema_state

    problem = schema_state(database.engine).problem()
    if problem is not None:
        raise DatabaseUnavailable(problem)


def upgrade(database: Database, revision: str = "head") -> None:
    ensure_migratable(database)
    _run(database, command.upgrade, revision)


@dataclass(frozen=True)
class Loss:
    """Rows a downgrade deletes from one table (`dropped`: the table itself goes)."""

    table: str
    rows: int
    dropped: bool


class _Undo(Exception):
    """Rolls the trial downgrade back once its losses are counted."""


def _row_counts(connection: Any) -> dict[str, int]:
    from sqlalchemy import inspect

    counts = {}
    for table in inspect(connection).get_table_names():
        if table == "alembic_version":
            continue
        quoted = connection.dialect.identifier_preparer.quote(table)
        counts[table] = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {quoted}").scalar()
    return counts


def downgrade_losses(database: Database, revision: str) -> list[Loss]:
    """What `downgrade(revision)` would delete: the downgrade is run in a transaction, the row
    counts compared, and the transaction rolled back (DDL is transactional on both engines)."""
    ensure_migratable(database)
    cfg = alembic_config()
    losses: list[Loss] = []
    try:
        with database.engine.execution_options(valhalla_write=True).begin() as connection:
            before = _row_counts(connection)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
            after = _row_counts(connection)
            for table, rows in sorted(before.items()):
                if table not in after and rows:
                    losses.append(Loss(table, rows, True))
                elif table in after and after[table] < rows:
                    losses.append(Loss(table, rows - after[table], False))
            raise _Undo
    except _Undo:
        pass
    return losses


def downgrade(database: Database, revision: str) -> None:
    ensure_migratable(database)
    _run(database, command.downgrade, revision)


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    description: str
    is_current: bool
    is_head: bool


def history(database: Database | None = None) -> list[RevisionInfo]:
    from valhalla_cli.schema import current_revision

    current = current_revision(database.engine) if database else None
    head = head_revision()
    infos = []
    for script in script_directory().walk_revisions():
        down = script.down_revision
        infos.append(
            RevisionInfo(
                revision=script.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                # a docstring's first paragraph may wrap: one line of text, as it reads
                description=" ".join((script.doc or "").split()),
                is_current=script.revision == current,
                is_head=script.revision == head,
            )
        )
    return infos


def known_revision(revision: str) -> bool:
    if revision in ("head", "base", "heads"):
        return True
    try:
        return script_directory().get_revision(revision) is not None
    except Exception:
        return False
