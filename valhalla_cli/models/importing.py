from datetime import datetime
from typing import Optional

from sqlmodel import Column, Field, SQLModel

from valhalla_cli.models.types import BigIntPK, UTCDateTime


class ImportBatch(SQLModel, table=True):
    """One bulk import, written in short transactions (issue 10, defect 1).

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
