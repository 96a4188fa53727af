"""Alembic, run from code. Imported only by the `db` commands and when creating a new file."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from valhalla_cli.db import Database, current_revision, migrations_dir


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


def upgrade(database: Database, revision: str = "head") -> None:
    _run(database, command.upgrade, revision)


def downgrade(database: Database, revision: str) -> None:
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
    current = current_revision(database.engine) if database else None
    head = head_revision()
    infos = []
    for script in script_directory().walk_revisions():
        down = script.down_revision
        infos.append(
            RevisionInfo(
                revision=script.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                description=script.doc or "",
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
