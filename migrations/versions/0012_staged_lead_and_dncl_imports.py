"""lead import and dncl import in short transactions: lead staging tables, DNCL generations

`lead_import_lead` / `lead_import_consent` hold a running `lead import`'s validated rows until
its last transaction applies them. `dncl_area.generation` names the generation of `dncl_number`
keys an area code reads (key = generation * 10**10 + the ten digits): the numbers already stored
are generation 0, so existing data needs no rewrite.

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-01 13:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types

revision: str = '0012'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC_TYPE = valhalla_cli.models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table rewrite on either engine.
    op.add_column('dncl_area', sa.Column('generation', sa.BigInteger(), server_default='0',
                                         nullable=False))
    op.create_table(
        'lead_import_lead',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('import_batch_id', sa.BigInteger(), nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('market', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('has_qc', sa.Boolean(), nullable=False),
        sa.Column('has_other', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('import_batch_id', 'lead_id',
                            name='uq_lead_import_lead_batch_lead'),
    )
    op.create_table(
        'lead_import_consent',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('import_batch_id', sa.BigInteger(), nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('given_at', UTC_TYPE, nullable=False),
        sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_lead_import_consent_import_batch_id', 'lead_import_consent',
                    ['import_batch_id'], unique=False)


def downgrade() -> None:
    # Back to one generation per area code: keep only the numbers each area code reads, under
    # their plain ten digits (what revision 0011 looks up).
    conn = op.get_bind()
    for area, generation in conn.execute(sa.text(
            "SELECT area_code, generation FROM dncl_area WHERE generation <> 0")).all():
        low = generation * 10**10 + area * 10**7
        conn.execute(sa.text("DELETE FROM dncl_number WHERE number >= :a AND number < :b"),
                     {"a": area * 10**7, "b": (area + 1) * 10**7})
        conn.execute(sa.text("UPDATE dncl_number SET number = number - :shift "
                             "WHERE number >= :low AND number < :high"),
                     {"shift": generation * 10**10, "low": low, "high": low + 10**7})
    conn.execute(sa.text("DELETE FROM dncl_number WHERE number >= :top"), {"top": 10**10})
    op.drop_index('ix_lead_import_consent_import_batch_id', table_name='lead_import_consent')
    op.drop_table('lead_import_consent')
    op.drop_table('lead_import_lead')
    op.execute("ALTER TABLE dncl_area DROP COLUMN generation")
