"""texts sent through a provider: the message ledger, provider events, numbers that cannot
receive texts, and the tripwire on delivery

`outbound_message` is written in `sending` before a request leaves (unique on task and
attempt: at most one text per attempt); `message_event` keeps every status a provider
reported, once per (sid, status); `phone_status` holds the numbers a provider said cannot
receive texts. The seeded regression policy on `sms_delivered` throttles the ladder by itself
when carriers start filtering its texts.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-07 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0017'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outbound_message',
        sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('task_id', sa.BigInteger(), nullable=True),
        sa.Column('attempt', sa.Integer(), nullable=True),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('to', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('segments', sa.Integer(), nullable=False),
        sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('error_code', sa.Integer(), nullable=True),
        sa.Column('created_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column('accepted_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
                  nullable=True),
        sa.Column('final_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
                  nullable=True),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.CheckConstraint("state IN ('sending', 'accepted', 'sent', 'delivered', "
                           "'undelivered', 'failed', 'not_sent')",
                           name='ck_outbound_message_state'),
        sa.PrimaryKeyConstraint('message_id'),
        sa.UniqueConstraint('sid', name='uq_outbound_message_sid'),
        sa.UniqueConstraint('task_id', 'attempt', name='uq_outbound_message_task_attempt'),
    )
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_message_state_created_at', ['state', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_outbound_message_state_accepted_at',
                              ['state', 'accepted_at'], unique=False)
        batch_op.create_index('ix_outbound_message_report',
                              ['created_at', 'provider', 'state', 'sender', 'error_code',
                               'segments'], unique=False)
        batch_op.create_index('ix_outbound_message_lead_id', ['lead_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_outbound_message_to', ['to', 'created_at'], unique=False)
    op.create_table(
        'message_event',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('error_code', sa.Integer(), nullable=True),
        sa.Column('received_at', valhalla_cli.models.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column('raw', valhalla_cli.models.types.StoredJSON(), nullable=True),
        sa.Column('applied', sa.Boolean(), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sid', 'status', name='uq_message_event_sid_status'),
    )
    with op.batch_alter_table('message_event', schema=None) as batch_op:
        batch_op.create_index('ix_message_event_pending', ['applied', 'sid'], unique=False)
    op.create_table(
        'phone_status',
        sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('code', sa.Integer(), nullable=False),
        sa.Column('since', valhalla_cli.models.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint('number'),
    )
    regression = sa.table("regression_policy", sa.column("metric"), sa.column("lever"),
                          sa.column("statistic"), sa.column("recent_window"),
                          sa.column("baseline_window"), sa.column("max_drop_pct"),
                          sa.column("confidence"), sa.column("enabled"))
    # The windows, drop and confidence of every seeded regression policy (migration 0003).
    op.bulk_insert(regression, [
        {"metric": "sms_delivered", "lever": "followups", "statistic": "mean",
         "recent_window": 50, "baseline_window": 200, "max_drop_pct": 20.0,
         "confidence": 0.99, "enabled": True},
    ])


def downgrade() -> None:
    op.execute("DELETE FROM regression_policy WHERE metric = 'sms_delivered'")
    op.drop_table('phone_status')
    with op.batch_alter_table('message_event', schema=None) as batch_op:
        batch_op.drop_index('ix_message_event_pending')
    op.drop_table('message_event')
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_message_to')
        batch_op.drop_index('ix_outbound_message_lead_id')
        batch_op.drop_index('ix_outbound_message_report')
        batch_op.drop_index('ix_outbound_message_state_accepted_at')
        batch_op.drop_index('ix_outbound_message_state_created_at')
    op.drop_table('outbound_message')
