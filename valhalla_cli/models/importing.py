from datetime import datetime
from typing import Any, Optional

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session, with_loader_criteria
from sqlmodel import Column, Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime, table_of


class ImportBatch(TableModel, table=True):
    """One bulk import, written in short transactions (no write lock held for long).

    Rows an import writes carry its id in `import_batch_id` and stay invisible to every ORM
    query (`db.hide_unfinished_imports`) until the batch's status turns `done` in one short
    final transaction. A batch left `running` by a killed process is deleted, rows first, by the
    next import: `host`, `pid` and `heartbeat_at` tell a dead import from one still running.
    """

    __tablename__ = "import_batch"

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    kind: str = Field(max_length=40)
    status: str = Field(max_length=12)  # running | done
    file: Optional[str] = Field(default=None, max_length=500)
    actor: str = Field(max_length=200)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# --- rows of unfinished imports are invisible ---------------------------------------------------
# A bulk import writes in short transactions (so it never holds the SQLite write lock for long:
# the kill switch must always get through) and tags its rows with its `import_batch` id; the
# batch turns `done` in the import's last short transaction. Until then every ORM query of the
# imported tables leaves those rows out, so readers see the import whole or not at all. The
# importing session itself sees everything (`SEE_UNFINISHED_IMPORTS`): a lead twice in one file
# must find the ladder its earlier chunk created.
IMPORT_BATCH = "valhalla_import_batch"  # Session.info: the batch this session writes for
SEE_UNFINISHED_IMPORTS = "valhalla_see_unfinished_imports"


def import_batch_of(session: Session) -> int | None:
    """The import batch a session writes rows for (None outside a bulk import)."""
    return session.info.get(IMPORT_BATCH)


def _visible(cls: Any) -> Any:
    batches = table_of(ImportBatch)
    return or_(cls.import_batch_id.is_(None), cls.import_batch_id.in_(
        select(batches.c.id).where(batches.c.status == "done")))


# The loader criteria of the tables bulk imports write, one per model. Each such model module
# registers its model when it is imported (`hide_unfinished_imports_of`), so the filter covers
# every imported table a process has loaded, and this module imports none of them.
_criteria: tuple[Any, ...] = ()


def hide_unfinished_imports_of(model: Any) -> None:
    """Leave the rows of unfinished imports out of every ORM query of `model` (a table with an
    `import_batch_id` column that bulk imports write)."""
    global _criteria
    _criteria = (*_criteria, with_loader_criteria(model, _visible, include_aliases=True))


@event.listens_for(Session, "do_orm_execute")
def _hide_unfinished_imports(state: Any) -> None:
    if state.session.info.get(SEE_UNFINISHED_IMPORTS):
        return
    if _criteria and (state.is_select or state.is_update or state.is_delete):
        state.statement = state.statement.options(*_criteria)
