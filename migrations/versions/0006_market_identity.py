"""market identity: a market_key column (upper case, accents removed) where markets are looked up

Two market names that differ only in case or accents are the same market (`Montreal`
finds `MONTRÉAL`). The name stays as first written (`market`, shown to people); `market_key` is
its identity and carries the unique index, in the three tables that look a market up:
market_policy, offer_policy and buyer_liquidity_node. Tables that only record a market
(followup_task, kpi_event, buyer_feedback_event, offer_evidence) keep the name alone.

Existing rows get their key computed here. Before this revision every pack refused non-ASCII
market names and stored them upper-case, so no two existing rows can collide on the key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:50:00
"""
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the unique constraint on the key, its columns)
_KEYED = (
    ('market_policy', 'uq_market_policy_scope_key', ['province', 'market_key']),
    ('offer_policy', 'uq_offer_policy_scope_key', ['province', 'market_key']),
    ('buyer_liquidity_node', 'uq_buyer_liquidity_node_key',
     ['province', 'market_key', 'property_type', 'business_date']),
)


def _market_key(name: str) -> str:
    # A frozen copy of valhalla_cli.inputs.market_key as of this revision.
    decomposed = unicodedata.normalize('NFKD', name)
    return ''.join(c for c in decomposed if not unicodedata.combining(c)).upper()


def upgrade() -> None:
    connection = op.get_bind()
    for table, constraint, columns in _KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('market_key', sqlmodel.sql.sqltypes.AutoString(length=80),
                                            nullable=True))
        markets = [row[0] for row in connection.execute(
            sa.text(f'SELECT DISTINCT market FROM {table}'))]
        for market in markets:
            connection.execute(sa.text(f'UPDATE {table} SET market_key = :key WHERE market = :m'),
                               {'key': _market_key(market), 'm': market})
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('market_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=80),
                                  nullable=False)
            batch_op.create_unique_constraint(constraint, columns)


def downgrade() -> None:
    for table, constraint, _columns in reversed(_KEYED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(constraint, type_='unique')
            batch_op.drop_column('market_key')
