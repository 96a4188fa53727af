"""the call desk's queue: due tasks found by owner, in due order

Next call hands a caller its owner's due calls (then the unowned ones) in due order. Without an
index that leads with the owner, the scan walked every owner's due tasks to find this owner's
first few, so a Next cost more the more of the owner's queue was already worked.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 07:50:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.create_index('ix_followup_task_owner_status_ready_due_at',
                              ['owner', 'status', 'ready', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.drop_index('ix_followup_task_owner_status_ready_due_at')
