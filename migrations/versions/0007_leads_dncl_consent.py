"""leads, consent ledger, National DNCL copy, message templates, inbound messages

Backfills a lead row for every lead id already in `followup_task` or `contact_suppression`
(province and market of its latest task, language fr for QC and en elsewhere), normalises the
phone numbers of existing suppressions to E.164 where they parse, seeds the English and French
default SMS templates and `require_sms_consent` on every province-wide policy.

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-01 09:50:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import valhalla_cli.models.types
from valhalla_cli.models.ddl import drop_immutable, make_immutable

revision: str = '0007'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TYPE = valhalla_cli.models.types.UTCDateTime(timezone=True)
PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

SEEDED_TEMPLATES = {
    "en": ("{business}: hello{name}, we buy houses in {market} and would like to make you a "
           "fair cash offer. Call or text {callback}. Reply STOP to opt out."),
    "fr": ("{business} : bonjour{name}, nous achetons des maisons à {market} et aimerions vous "
           "faire une offre comptant. Appelez ou textez le {callback}. Répondez ARRÊT pour ne "
           "plus recevoir de messages."),
}


def upgrade() -> None:
    op.create_table(
        'lead',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('market', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('created_at', UTC_TYPE, nullable=False),
        sa.Column('updated_at', UTC_TYPE, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('lead_id', name='uq_lead_lead_id'),
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index('ix_lead_phone', ['phone'], unique=False)
        batch_op.create_index('ix_lead_province_market', ['province', 'market'], unique=False)

    op.create_table(
        'lead_consent',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column('given_at', UTC_TYPE, nullable=False),
        sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('lead_consent', schema=None) as batch_op:
        batch_op.create_index('ix_lead_consent_lead_id_given_at', ['lead_id', 'given_at'],
                              unique=False)
    make_immutable('lead_consent')

    op.create_table(
        'dncl_area',
        sa.Column('area_code', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('numbers', sa.BigInteger(), nullable=False),
        sa.Column('imported_at', UTC_TYPE, nullable=False),
        sa.Column('imported_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('area_code'),
    )
    op.create_table(
        'dncl_number',
        sa.Column('number', PK, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint('number'),
    )
    op.create_table(
        'message_template',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('updated_at', UTC_TYPE, nullable=True),
        sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('step', 'language', name='uq_message_template_step_lang'),
    )
    op.create_table(
        'inbound_message',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('received_at', UTC_TYPE, nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_message_lead_id', ['lead_id'], unique=False)
        batch_op.create_index('ix_inbound_message_phone', ['phone'], unique=False)

    with op.batch_alter_table('market_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_sms_consent', sa.Boolean(), nullable=True))
    with op.batch_alter_table('contact_suppression', schema=None) as batch_op:
        batch_op.alter_column('lead_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                              nullable=True)
        batch_op.create_index('ix_contact_suppression_phone', ['phone'], unique=False)

    _seed()


def _seed() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    conn.execute(sa.text("UPDATE market_policy SET require_sms_consent = :yes WHERE market = '*'"),
                 {"yes": True})
    template = sa.table('message_template', sa.column('step'), sa.column('language'),
                        sa.column('text'), sa.column('updated_at', UTC_TYPE),
                        sa.column('updated_by'))
    op.bulk_insert(template, [{"step": 0, "language": lang, "text": text, "updated_at": now,
                               "updated_by": "migration 0007"}
                              for lang, text in SEEDED_TEMPLATES.items()])
    _normalise_suppression_phones(conn)
    _backfill_leads(conn, now)


def _normalise_suppression_phones(conn) -> None:  # type: ignore[no-untyped-def]
    """Suppression by number compares E.164 strings: rewrite the old free-text phones that
    parse (the others stay as written, still shown by `market suppressions`)."""
    from valhalla_cli.errors import BadInput
    from valhalla_cli.phones import parse_phone

    rows = conn.execute(sa.text(
        "SELECT id, phone FROM contact_suppression WHERE phone IS NOT NULL")).all()
    for row_id, phone in rows:
        try:
            e164 = parse_phone(phone)
        except BadInput:
            continue
        if e164 != phone:
            conn.execute(sa.text("UPDATE contact_suppression SET phone = :p WHERE id = :i"),
                         {"p": e164, "i": row_id})


def _backfill_leads(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """A lead row for every lead id the ladder or the suppression list already knows."""
    latest = {lead: (province, market) for lead, province, market in conn.execute(sa.text(
        "SELECT lead_id, province, market FROM followup_task ORDER BY created_at, id"))}
    for (lead,) in conn.execute(sa.text(
            "SELECT DISTINCT lead_id FROM contact_suppression WHERE lead_id IS NOT NULL")):
        # A lead known only from the suppression list: its province is not recorded; ON is
        # the business's home province (the default business zone is America/Toronto) and
        # changes nothing for a lead that is never contacted again.
        latest.setdefault(lead, ("ON", None))
    table = sa.table('lead', sa.column('lead_id'), sa.column('province'), sa.column('market'),
                     sa.column('language'), sa.column('created_at', UTC_TYPE),
                     sa.column('updated_at', UTC_TYPE))
    rows = [{"lead_id": lead, "province": province, "market": market,
             "language": "fr" if province == "QC" else "en", "created_at": now,
             "updated_at": now} for lead, (province, market) in latest.items()]
    for i in range(0, len(rows), 5_000):
        op.bulk_insert(table, rows[i:i + 5_000])


def downgrade() -> None:
    with op.batch_alter_table('contact_suppression', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_suppression_phone')
    op.execute("DELETE FROM contact_suppression WHERE lead_id IS NULL")
    with op.batch_alter_table('contact_suppression', schema=None) as batch_op:
        batch_op.alter_column('lead_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                              nullable=False)
    with op.batch_alter_table('market_policy', schema=None) as batch_op:
        batch_op.drop_column('require_sms_consent')
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_message_phone')
        batch_op.drop_index('ix_inbound_message_lead_id')
    op.drop_table('inbound_message')
    op.drop_table('message_template')
    op.drop_table('dncl_number')
    op.drop_table('dncl_area')
    drop_immutable('lead_consent')
    with op.batch_alter_table('lead_consent', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_consent_lead_id_given_at')
    op.drop_table('lead_consent')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_province_market')
        batch_op.drop_index('ix_lead_phone')
    op.drop_table('lead')
