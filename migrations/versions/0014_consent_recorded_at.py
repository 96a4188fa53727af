"""consents and suppressions record when they were written, not only the date they carry

`lead_consent.recorded_at` and `contact_suppression.recorded_at` are the clock's instant when the
row was written. A suppression or withdrawal is outweighed only by an express consent recorded
after it, so a consent dated in the future (a mistyped year) can no longer undo a later STOP.
Existing suppressions get their own instant (`at`).

Existing rows: a consent dated no later than this migration gets its own date (what the rules
read until now, so nothing changes for them). A consent dated after this migration was
necessarily recorded before its date, at an unknown instant no earlier than its lead's creation:
it gets its lead's `created_at` (or this migration's instant when the lead is gone), the earliest
plausible instant, so it cannot outweigh an opt-out that the person sent after it was recorded.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 04:00:00.000000
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import valhalla_cli.models.types
from valhalla_cli.models.ddl import drop_immutable, make_immutable

revision: str = '0014'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TYPE = valhalla_cli.models.types.UTCDateTime(timezone=True)
NOW = sa.text('CURRENT_TIMESTAMP')  # a row another tool inserts is recorded when it is inserted


def upgrade() -> None:
    now = datetime.now(UTC)
    # The ledger is append-only; its trigger is lifted for the backfill alone.
    drop_immutable('lead_consent')
    op.add_column('lead_consent', sa.Column('recorded_at', UTC_TYPE, nullable=True))
    conn = op.get_bind()
    instant = sa.bindparam('now', now, type_=UTC_TYPE)
    conn.execute(sa.text("UPDATE lead_consent SET recorded_at = given_at WHERE given_at <= :now")
                 .bindparams(instant))
    conn.execute(sa.text(
        "UPDATE lead_consent SET recorded_at = COALESCE((SELECT lead.created_at FROM lead "
        "WHERE lead.lead_id = lead_consent.lead_id), :now) WHERE recorded_at IS NULL")
        .bindparams(instant))
    with op.batch_alter_table('lead_consent', schema=None) as batch_op:
        batch_op.alter_column('recorded_at', existing_type=UTC_TYPE, nullable=False,
                              server_default=NOW)
    make_immutable('lead_consent')
    op.add_column('contact_suppression', sa.Column('recorded_at', UTC_TYPE, nullable=True))
    conn.execute(sa.text("UPDATE contact_suppression SET recorded_at = at"))
    with op.batch_alter_table('contact_suppression', schema=None) as batch_op:
        batch_op.alter_column('recorded_at', existing_type=UTC_TYPE, nullable=False,
                              server_default=NOW)


def downgrade() -> None:
    with op.batch_alter_table('contact_suppression', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
    drop_immutable('lead_consent')
    with op.batch_alter_table('lead_consent', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
    make_immutable('lead_consent')
