"""buyer_liquidity_node: the primary key is the node's identity (market_key, not market)

The node's identity is (province, market_key, property_type, business_date), held by a unique
constraint, while the primary key still named the market as first written. Feedback upserts a
node with ON CONFLICT on the identity; on PostgreSQL two writers creating the same node at the
same moment both passed the identity check and the loser then hit the primary key, which ON
CONFLICT does not arbitrate: a unique violation instead of an increment. With the identity as
the primary key there is one unique index and the upsert always arbitrates on it. The unique
constraint, now the same columns as the key, goes. No rows change: the identity was unique.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 14:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = 'buyer_liquidity_node'
_PKEY = 'buyer_liquidity_node_pkey'  # PostgreSQL's name; SQLite's key has none, see _as_before
_UNIQUE = 'uq_buyer_liquidity_node_key'
_IDENTITY = ['province', 'market_key', 'property_type', 'business_date']
_BY_NAME = ['province', 'market', 'property_type', 'business_date']


def _as_before(primary_key: list[str], *, unique: bool) -> sa.Table:
    """The table as it stands, its key named: SQLite reflects an unnamed primary key, which
    batch mode cannot drop, so the copy starts from this description instead."""
    text = sqlmodel.sql.sqltypes.AutoString
    return sa.Table(
        _TABLE, sa.MetaData(),
        sa.Column('province', text(length=2), nullable=False),
        sa.Column('market', text(length=80), nullable=False),
        sa.Column('property_type', text(length=12), nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('sent', sa.Integer(), nullable=False),
        sa.Column('responded', sa.Integer(), nullable=False),
        sa.Column('closed', sa.Integer(), nullable=False),
        sa.Column('market_key', text(length=80), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key, name=_PKEY),
        *([sa.UniqueConstraint(*_IDENTITY, name=_UNIQUE)] if unique else []),
        sa.Index('ix_buyer_liquidity_node_business_date', 'business_date'),
    )


def _move_primary_key(before: list[str], after: list[str]) -> None:
    identity_is_key = after == _IDENTITY
    with op.batch_alter_table(_TABLE, schema=None,
                              copy_from=_as_before(before, unique=identity_is_key)) as batch_op:
        batch_op.drop_constraint(_PKEY, type_='primary')
        if identity_is_key:
            batch_op.drop_constraint(_UNIQUE, type_='unique')
        else:
            batch_op.create_unique_constraint(_UNIQUE, _IDENTITY)
        batch_op.create_primary_key(_PKEY, after)


def upgrade() -> None:
    _move_primary_key(_BY_NAME, _IDENTITY)


def downgrade() -> None:
    _move_primary_key(_IDENTITY, _BY_NAME)
