"""the inbox: one open item per lead that answered, and numbers detached as wrong numbers

A reply pauses the lead's ladder (task status `paused`, a value of the existing column) and
opens the lead's item; `wrong_number` keeps each (lead, number) pair an operator detached so no
import puts the number back on that lead.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 05:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0020'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = valhalla_cli.models.types.UTCDateTime
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'inbox_item',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('opened_at', UTC(timezone=True), nullable=False),
        sa.Column('waiting_since', UTC(timezone=True), nullable=True),
        sa.Column('last_inbound_at', UTC(timezone=True), nullable=False),
        sa.Column('last_text', sa.Text(), nullable=False),
        sa.Column('refusal_at', UTC(timezone=True), nullable=True),
        sa.Column('deadline', UTC(timezone=True), nullable=True),
        sa.Column('first_answer_at', UTC(timezone=True), nullable=True),
        sa.Column('answer_minutes', sa.Float(), nullable=True),
        sa.Column('closed_at', UTC(timezone=True), nullable=True),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.create_index('ux_inbox_item_open_lead', ['lead_id'], unique=True,
                              sqlite_where=sa.text("status = 'open'"),
                              postgresql_where=sa.text("status = 'open'"))
        batch_op.create_index('ix_inbox_item_status_kind_waiting',
                              ['status', 'kind', 'waiting_since'], unique=False)
        batch_op.create_index('ix_inbox_item_opened_at', ['opened_at', 'owner'], unique=False)
        batch_op.create_index('ix_inbox_item_lead_id', ['lead_id', 'opened_at'], unique=False)
    op.create_table(
        'wrong_number',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('at', UTC(timezone=True), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('lead_id', 'phone', name='uq_wrong_number_lead_phone'),
    )
    with op.batch_alter_table('wrong_number', schema=None) as batch_op:
        batch_op.create_index('ix_wrong_number_phone', ['phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wrong_number', schema=None) as batch_op:
        batch_op.drop_index('ix_wrong_number_phone')
    op.drop_table('wrong_number')
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_lead_id')
        batch_op.drop_index('ix_inbox_item_opened_at')
        batch_op.drop_index('ix_inbox_item_status_kind_waiting')
        batch_op.drop_index('ux_inbox_item_open_lead')
    op.drop_table('inbox_item')
