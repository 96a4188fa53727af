"""Writing a bulk import in short transactions, invisible to readers until its last one
(`StagedImport`), and deleting what unfinished or killed imports left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valhalla_cli.lock_yield import LockYield, pause_for_writers

ABANDONED_AFTER_S = 600  # a batch on another host with no heartbeat for this long is dead
DISCARD_CHUNK = 5_000


class StagedImport:
    """Write one import in short transactions, invisible to readers until `flip()`.

    The face opens one session for the import and `bind`s it here; the import loop calls
    `checkpoint` after each batch (through `RowSource.after_batch`), which commits: each batch
    is its own short write transaction and SQLite's write lock is free between them, so
    `golive kill-switch engage` gets through within a batch. Until the flip nobody sees what
    was written, in one of three ways: new rows carry this import's batch id, which every ORM
    query leaves out until the batch is `done` (`models.importing`: ladder, kpi, liquidity
    imports); changes to existing rows wait in a staging table under the batch id and the
    import's last transaction applies them with set-based SQL (`lead import`); a DNCL import
    writes a new generation of numbers that no area code reads until the last transaction
    points the area codes at it (`dncl import`). `flip` marks the batch done in that last
    transaction, together with the import's own summary writes (audit, aggregates). An import
    that fails, is interrupted or killed never flips: its rows are deleted on the way out, or,
    after a kill -9, by the next import (`discard_abandoned`); a finished import deletes its
    staged rows and the generations it replaced after the flip, in short transactions.
    """

    def __init__(self, db: Any, kind: str, *, actor: str, path: Path | str) -> None:
        self.db, self.kind, self.actor, self.path = db, kind, actor, path
        self.batch_id: int | None = None
        self.finished = False
        self.lock_yield = LockYield()

    def __enter__(self) -> StagedImport:
        import os
        import socket

        from valhalla_cli.clock import utcnow
        from valhalla_cli.models import ImportBatch

        discard_abandoned(self.db)
        now = utcnow()
        with self.db.transaction(write=True) as session:
            batch = ImportBatch(kind=self.kind[:40], status="running",
                                file=str(self.path)[-500:], actor=self.actor[:200],
                                host=socket.gethostname()[:255], pid=os.getpid(),
                                started_at=now, heartbeat_at=now)
            session.add(batch)
            session.flush()
            self.batch_id = batch.id
        return self

    def bind(self, session: Any) -> Any:
        """Make `session` write this import's rows (and see them)."""
        from valhalla_cli.models.importing import IMPORT_BATCH, SEE_UNFINISHED_IMPORTS

        session.info[IMPORT_BATCH] = self.batch_id
        session.info[SEE_UNFINISHED_IMPORTS] = True
        return session

    def _mark(self, session: Any, **values: Any) -> None:
        from sqlalchemy import update

        from valhalla_cli.clock import utcnow
        from valhalla_cli.models import ImportBatch
        from valhalla_cli.models.types import table_of

        batches = table_of(ImportBatch)
        session.execute(update(batches).where(batches.c.id == self.batch_id)
                        .values(heartbeat_at=utcnow(), **values))

    def checkpoint(self, session: Any) -> None:
        """Commit the batch written so far (still invisible) and let waiting writers in."""
        self._mark(session)
        session.commit()
        if self.db.dialect == "sqlite":
            self.lock_yield.after_commit()

    def flip(self, session: Any) -> None:
        """Mark the batch done: its rows appear when the caller's transaction commits."""
        self._mark(session, status="done")

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        import contextlib

        if exc_type is None:
            self.finished = True
            # The import is done and visible; what it left behind (staged rows, the DNCL
            # generations it replaced) goes now, in short transactions. A failure here changes
            # nothing a reader sees, and the next import finishes the job.
            if self.batch_id is not None:
                from valhalla_cli.services import dncl

                with contextlib.suppress(Exception):
                    _delete_staged(self.db, self.batch_id)
                    dncl.discard_garbage(self.db)
            return
        if self.batch_id is not None:
            # the original error matters more; if this fails too, the next import cleans up
            with contextlib.suppress(Exception):
                discard(self.db, self.batch_id)


def _imported_tables() -> tuple[Any, ...]:
    """The tables bulk imports write, each with an `import_batch_id` column (its model module
    hides the rows of unfinished imports: `models.importing.hide_unfinished_imports_of`). A
    pack whose import writes another table adds it here (and the column, in a migration)."""
    from valhalla_cli.models.kpi import KpiEvent
    from valhalla_cli.models.ladder import FollowupTask
    from valhalla_cli.models.liquidity import BuyerFeedbackEvent
    from valhalla_cli.models.types import table_of

    return tuple(table_of(model) for model in (FollowupTask, KpiEvent, BuyerFeedbackEvent))


def _staging_tables() -> tuple[Any, ...]:
    """Tables where an import parks validated rows (with `import_batch_id`) until its last
    transaction applies them elsewhere; nothing but that import reads them. Their rows are
    deleted after the flip, or with the batch when it is discarded."""
    from valhalla_cli.models.lead import LeadImportConsent, LeadImportLead
    from valhalla_cli.models.types import table_of

    return tuple(table_of(model) for model in (LeadImportLead, LeadImportConsent))


def _delete_batch_rows(db: Any, tables: tuple[Any, ...], batch_id: int,
                       chunk: int = DISCARD_CHUNK) -> None:
    from sqlalchemy import delete, select

    for table in tables:
        while True:
            with db.transaction(write=True) as session:
                ids = select(table.c.id).where(table.c.import_batch_id == batch_id).limit(
                    chunk).scalar_subquery()
                gone = session.execute(delete(table).where(table.c.id.in_(ids))).rowcount
            if gone < chunk:
                break
            pause_for_writers(db)


STAGED_DELETE_CHUNK = 25_000  # staging tables have no index but the batch's: cheap to delete


def _delete_staged(db: Any, batch_id: int) -> None:
    _delete_batch_rows(db, _staging_tables(), batch_id, STAGED_DELETE_CHUNK)


def discard(db: Any, batch_id: int) -> None:
    """Delete an unfinished batch's rows, a few thousand per short transaction, then the batch.

    The rows go before the batch: SQLite may hand a deleted batch's id to the next import, which
    must not inherit rows (or a DNCL generation) under it."""
    from sqlalchemy import delete

    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of
    from valhalla_cli.services import dncl

    _delete_batch_rows(db, _imported_tables(), batch_id)
    _delete_staged(db, batch_id)
    dncl.discard_generation(db, batch_id)
    batches = table_of(ImportBatch)
    with db.transaction(write=True) as session:
        session.execute(delete(batches).where(batches.c.id == batch_id,
                                              batches.c.status != "done"))


def discard_abandoned(db: Any) -> list[int]:
    """Discard the batches of imports that died (kill -9, power loss) before finishing: on this
    host, those whose process is gone; elsewhere, those silent for ABANDONED_AFTER_S."""
    import os
    import socket
    from datetime import timedelta

    from sqlalchemy import select

    from valhalla_cli.clock import utcnow
    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of
    from valhalla_cli.services import dncl

    host = socket.gethostname()[:255]
    stale_before = utcnow() - timedelta(seconds=ABANDONED_AFTER_S)
    batches = table_of(ImportBatch)
    with db.transaction() as session:
        running = session.execute(select(batches.c.id, batches.c.host, batches.c.pid,
                                         batches.c.heartbeat_at)
                                  .where(batches.c.status == "running")).all()
    dead = []
    for batch_id, batch_host, pid, heartbeat in running:
        if batch_host == host and pid != os.getpid():
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        else:
            alive = heartbeat >= stale_before
        if not alive:
            dead.append(batch_id)
    for batch_id in dead:
        discard(db, batch_id)
    _delete_leftover_staging(db)
    dncl.discard_garbage(db)
    return dead


def _delete_leftover_staging(db: Any) -> None:
    """Staged rows of batches that are no longer running (a kill -9 after the flip, before
    their deletion)."""
    from sqlalchemy import select

    from valhalla_cli.models import ImportBatch
    from valhalla_cli.models.types import table_of

    batches = table_of(ImportBatch)
    for table in _staging_tables():
        with db.transaction() as session:
            left = session.scalars(select(table.c.import_batch_id).distinct().where(
                table.c.import_batch_id.not_in(
                    select(batches.c.id).where(batches.c.status == "running")))).all()
        for batch_id in left:
            _delete_batch_rows(db, (table,), batch_id, STAGED_DELETE_CHUNK)
