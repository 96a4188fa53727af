from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Float, Index
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.importing import hide_unfinished_imports_of
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class KpiEvent(TableModel, table=True):
    """A business metric observation; packs emit their own, operators may add more."""

    __tablename__ = "kpi_event"
    __table_args__ = (Index("ix_kpi_event_metric_occurred_at", "metric", "occurred_at", "id"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    metric: str = Field(max_length=80)
    value: float = Field(sa_column=Column(Float, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    province: Optional[str] = Field(default=None, max_length=2)
    market: Optional[str] = Field(default=None, max_length=80)
    ref: Optional[str] = Field(default=None, max_length=200)
    source: Optional[str] = Field(default=None, max_length=80)
    # The bulk import that wrote the row; invisible until that import finishes (ImportBatch).
    import_batch_id: Optional[int] = Field(default=None, sa_column=Column(
        BigInteger, nullable=True, index=True))


# Bulk imports write this table: the rows of an unfinished import stay out of every query.
hide_unfinished_imports_of(KpiEvent)
