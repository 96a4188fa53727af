"""HTTP API: bearer tokens (SHA-256 only) and the SMS webhook's replay store

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 09:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types


revision: str = '0009'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', valhalla_cli.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('revoked_at', valhalla_cli.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.CheckConstraint("scope IN ('read', 'operate', 'admin')", name='ck_api_token_scope'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_sha256')
    )
    op.create_table('sms_webhook_receipt',
    sa.Column('message_sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('received_at', valhalla_cli.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.PrimaryKeyConstraint('message_sid')
    )


def downgrade() -> None:
    op.drop_table('sms_webhook_receipt')
    op.drop_table('api_token')
