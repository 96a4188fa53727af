"""indexes for `ladder breaches` judged in each lead's zones, and for the SLA report

A window breach is judged in every zone of the task's lead: a lead with a confirmed
zone is judged in that zone alone, found through ix_lead_timezone; a number of another zone's
area code adds that zone, and the report asks which area codes each province's leads use with
one probe of ix_lead_province_phone per pair, so its cost does not grow with the registry.
Each task judged so reads its lead's zone and number from ix_lead_contact_zones alone (measured
at 825 000 leads: 2.97 s -> 2.12 s for the report, the lead's row no longer read).

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


CONTACT_AUDIT = ['province', 'channel', 'completed_at', 'status', 'market', 'id']
SLA = ['completed_at', 'response_minutes', 'owner', 'province', 'step']


def upgrade() -> None:
    # The breaches' contact-audit index gains lead_id, so the tasks joined to their leads are
    # read from the index alone (measured at 5 M tasks: the report 2.1 s -> 1.4 s).
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.drop_index('ix_followup_task_contact_audit')
        batch_op.create_index('ix_followup_task_contact_audit', [*CONTACT_AUDIT, 'lead_id'],
                              unique=False)
        # The SLA report (and the scorecard) reads the period index-only again: the ORM's
        # filter of unfinished imports (0011) needs import_batch_id, which forced a read of
        # every row (5 M tasks: `ladder sla` over a month 1.08 s -> 0.40 s CPU).
        batch_op.drop_index('ix_followup_task_sla')
        batch_op.create_index('ix_followup_task_sla', [*SLA, 'import_batch_id'], unique=False)
    op.create_index('ix_lead_timezone', 'lead', ['timezone'], unique=False)
    op.create_index('ix_lead_province_phone', 'lead', ['province', 'phone'], unique=False)
    op.create_index('ix_lead_contact_zones', 'lead', ['lead_id', 'timezone', 'phone'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_lead_contact_zones', table_name='lead')
    op.drop_index('ix_lead_province_phone', table_name='lead')
    op.drop_index('ix_lead_timezone', table_name='lead')
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.drop_index('ix_followup_task_contact_audit')
        batch_op.create_index('ix_followup_task_contact_audit', CONTACT_AUDIT, unique=False)
        batch_op.drop_index('ix_followup_task_sla')
        batch_op.create_index('ix_followup_task_sla', SLA, unique=False)
