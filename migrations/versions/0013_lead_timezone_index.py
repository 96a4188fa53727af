"""an index on the lead's confirmed zone, for `ladder breaches`

A window breach is judged in every zone of the task's lead (SPEC 20): a lead with a confirmed
zone is judged in that zone alone. The report finds the confirmed zones in use by walking this
index (one probe per distinct zone), so its cost does not grow with the lead registry.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 13:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_lead_timezone', 'lead', ['timezone'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_lead_timezone', table_name='lead')
