"""offer_funnel: how far each sent offer got, one row per offer, so the funnel reads a narrow table

`offer funnel` joined every stage of the period's cohort (one row per stage) on each run; the
join was most of its time at 100 000 offers. `offer outcome` now keeps this row in the same
transaction as the stage it appends; this migration backfills it from `offer_outcome` and the
evidence (every offer with a `sent` stage).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 07:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = valhalla_cli.models.types.UTCDateTime
STAGES = ('countered', 'accepted', 'rejected', 'contracted', 'closed', 'withdrawn')


def _stage(status: str, column: str = 'at') -> str:
    return (f"(SELECT o.{column} FROM offer_outcome o WHERE o.evidence_id = s.evidence_id "
            f"AND o.status = '{status}')")


BACKFILL = f"""
INSERT INTO offer_funnel (evidence_id, sent_at, province, market, property_type,
                          {', '.join(f'{s}_at' for s in STAGES)}, over_max, contract_gap_cents)
SELECT s.evidence_id, s.at, e.province, e.market, e.property_type,
       {', '.join(_stage(s) for s in STAGES)},
       CASE WHEN EXISTS (SELECT 1 FROM offer_outcome o WHERE o.evidence_id = s.evidence_id
                         AND o.status = 'accepted' AND o.amount_cents > e.max_offer_cents)
            THEN TRUE ELSE FALSE END,
       {_stage('contracted', 'amount_cents')} - e.max_offer_cents
FROM offer_outcome s JOIN offer_evidence e ON e.id = s.evidence_id
WHERE s.status = 'sent'
"""


def upgrade() -> None:
    op.create_table(
        'offer_funnel',
        sa.Column('evidence_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('sent_at', UTC(timezone=True), nullable=False),
        sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('market', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('property_type', sqlmodel.sql.sqltypes.AutoString(length=12),
                  nullable=False),
        *(sa.Column(f'{s}_at', UTC(timezone=True), nullable=True) for s in STAGES),
        sa.Column('over_max', sa.Boolean(), nullable=False),
        sa.Column('contract_gap_cents', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['evidence_id'], ['offer_evidence.id']),
        sa.PrimaryKeyConstraint('evidence_id'),
    )
    with op.batch_alter_table('offer_funnel', schema=None) as batch_op:
        batch_op.create_index('ix_offer_funnel_sent_at', ['sent_at'], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('offer_funnel', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_funnel_sent_at')
    op.drop_table('offer_funnel')
