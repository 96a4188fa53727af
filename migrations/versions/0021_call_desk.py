"""the call desk: tokens with an owner and a phone, the calls placed through the provider

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 07:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = valhalla_cli.models.types.UTCDateTime
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
    op.create_table(
        'call',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('task_id', sa.BigInteger(), nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('token_name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('provider_sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('duration_seconds', sa.Integer(), nullable=True),
        sa.Column('to', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('from_number', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_at', UTC(timezone=True), nullable=False),
        sa.Column('updated_at', UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider_sid'),
    )
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.create_index('ix_call_task_id', ['task_id', 'created_at'], unique=False)
        batch_op.create_index('ix_call_lead_id', ['lead_id', 'created_at'], unique=False)
    op.create_table(
        'call_event',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('duration_seconds', sa.Integer(), nullable=True),
        sa.Column('received_at', UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sid', 'status', name='uq_call_event_sid_status'),
    )


def downgrade() -> None:
    op.drop_table('call_event')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_index('ix_call_lead_id')
        batch_op.drop_index('ix_call_task_id')
    op.drop_table('call')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('phone')
        batch_op.drop_column('owner')
