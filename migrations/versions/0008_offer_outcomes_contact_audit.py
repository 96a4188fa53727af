"""offer outcomes (append-only) and the contact-window audit index

`offer_outcome` records the stages an offer reached after it was computed (sent, accepted,
countered, rejected, contracted, closed, withdrawn); like `offer_evidence` a trigger rejects
UPDATE and DELETE on both engines, and (evidence_id, status) is unique so a repeated stage is a
no-op even under concurrency. `ix_offer_outcome_status_at` serves the funnel's cohort (offers sent
in a period) and `ix_offer_outcome_evidence_stages` its other stages, both index-only.

`ix_followup_task_contact_audit` (province, channel, completed_at, status, market, id) lets
`ladder breaches` count and list the completions that fall inside the closed spans of each
province's contact windows with a few index range scans, whatever the size of the history.

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-01 09:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types
from valhalla_cli.models.ddl import drop_immutable, make_immutable


revision: str = '0008'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('offer_outcome',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('evidence_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('at', valhalla_cli.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', valhalla_cli.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['offer_evidence.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('evidence_id', 'status', name='uq_offer_outcome_evidence_status')
    )
    with op.batch_alter_table('offer_outcome', schema=None) as batch_op:
        batch_op.create_index('ix_offer_outcome_status_at', ['status', 'at', 'evidence_id'], unique=False)
        batch_op.create_index('ix_offer_outcome_evidence_stages', ['evidence_id', 'status', 'at', 'amount_cents'], unique=False)
    make_immutable("offer_outcome")
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.create_index('ix_followup_task_contact_audit', ['province', 'channel', 'completed_at', 'status', 'market', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.drop_index('ix_followup_task_contact_audit')
    drop_immutable("offer_outcome")
    with op.batch_alter_table('offer_outcome', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_outcome_evidence_stages')
        batch_op.drop_index('ix_offer_outcome_status_at')
    op.drop_table('offer_outcome')
