"""a lead's tasks by completion: (lead_id, completed_at) replaces (lead_id)

`ladder breaches` (and the scorecard's window compliance) judges the period's contacts of each
lead with a confirmed zone in that zone: with the lead alone indexed, every task of every such
lead was read from the table to keep the period's few (at 5 M tasks and 4 000 such leads, 25 000
table reads for 1 000 rows). The new index answers a lead's period as one range, and its prefix
serves every lookup of a lead's tasks the old one did.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 12:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.create_index('ix_followup_task_lead_id_completed_at',
                              ['lead_id', 'completed_at'], unique=False)
        batch_op.drop_index('ix_followup_task_lead_id')
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        # A database that was analysed keeps statistics for every index: without the new
        # one's, SQLite's planner would guess its selectivity (PostgreSQL plans from the
        # column statistics it already has).
        bind.exec_driver_sql("ANALYZE ix_followup_task_lead_id_completed_at")


def downgrade() -> None:
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.create_index('ix_followup_task_lead_id', ['lead_id'], unique=False)
        batch_op.drop_index('ix_followup_task_lead_id_completed_at')
