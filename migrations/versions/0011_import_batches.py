"""Bulk imports in short transactions: import_batch, and each imported row's batch

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-01 10:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0011'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMPORTED = ("followup_task", "kpi_event", "buyer_feedback_event")


def upgrade() -> None:
    op.create_table('import_batch',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
              nullable=False),
    sa.Column('heartbeat_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
              nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    for table in IMPORTED:
        # ADD COLUMN of a nullable column: no table rewrite on either engine.
        op.add_column(table, sa.Column('import_batch_id', sa.BigInteger(), nullable=True))
        op.create_index(op.f(f'ix_{table}_import_batch_id'), table, ['import_batch_id'],
                        unique=False)


def downgrade() -> None:
    for table in IMPORTED:
        op.drop_index(op.f(f'ix_{table}_import_batch_id'), table_name=table)
        # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch rebuild of followup_task
        # would have to recreate its partial unique index by reflection.
        op.execute(f"ALTER TABLE {table} DROP COLUMN import_batch_id")
    op.drop_table('import_batch')
