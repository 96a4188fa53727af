from datetime import date, datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class Lead(TableModel, table=True):
    """A person the business may contact: the operator's id, the number, where they are.

    `timezone` is a zone an operator confirmed for the person; when it is set it alone decides
    calling hours. `phone` is E.164.
    """

    __tablename__ = "lead"
    __table_args__ = (UniqueConstraint("lead_id", name="uq_lead_lead_id"),
                      Index("ix_lead_phone", "phone"),
                      Index("ix_lead_province_market", "province", "market"),
                      Index("ix_lead_timezone", "timezone"),
                      Index("ix_lead_province_phone", "province", "phone"),
                      # `ladder breaches`: a task's lead zones, read from the index alone
                      Index("ix_lead_contact_zones", "lead_id", "timezone", "phone"))

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: str = Field(max_length=200)
    phone: Optional[str] = Field(default=None, max_length=16)
    name: Optional[str] = Field(default=None, max_length=200)
    province: str = Field(max_length=2)
    market: Optional[str] = Field(default=None, max_length=80)
    language: str = Field(max_length=2)
    timezone: Optional[str] = Field(default=None, max_length=64)
    source: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class LeadConsent(TableModel, table=True):
    """Consent evidence, append-only like the audit log (a trigger rejects UPDATE and DELETE).

    `kind` is express | inquiry | business, or `withdrawal` (an opt-out: nothing given before it
    counts any more). `channel` is SMS, CALL or all. `given_at` is when the person gave it (never
    after the instant of the command or import that recorded it); `recorded_at` is when the row
    was really written (the clock, whatever `--at` said): only a consent recorded after a
    suppression or withdrawal can outweigh it, whatever date it carries.
    """

    __tablename__ = "lead_consent"
    __table_args__ = (Index("ix_lead_consent_lead_id_given_at", "lead_id", "given_at"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: str = Field(max_length=200)
    kind: str = Field(max_length=12)
    channel: str = Field(max_length=4)
    given_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # The database fills it in for a row another tool inserts.
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False,
                                                   server_default=text("CURRENT_TIMESTAMP")))
    evidence: Optional[str] = Field(default=None)
    actor: str = Field(max_length=200)


# A DNCL number's key is its generation times GENERATION_SPAN plus its ten digits: each import
# writes a new generation of its area codes' numbers (invisible: `dncl_area.generation` still
# names the old one), flips the area codes to it in one short transaction, then deletes the old
# generation in short chunks. A generation is the id of the import batch that wrote it (0: rows
# from before generations existed). One generation of one area code is one key range.
GENERATION_SPAN = 10**10
AREA_SPAN = 10**7  # the seven digits after the area code


def dncl_key(generation: int, ten_digits: int) -> int:
    return generation * GENERATION_SPAN + ten_digits


class DnclArea(TableModel, table=True):
    """One area code's copy of the National Do Not Call List: how old it is, how many numbers,
    and which generation of `dncl_number` keys holds them."""

    __tablename__ = "dncl_area"

    area_code: int = Field(sa_column=Column("area_code", Integer, primary_key=True,
                                            autoincrement=False))
    generation: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                        server_default="0"))
    as_of: date = Field(sa_column=Column(Date, nullable=False))
    numbers: int = Field(sa_column=Column(BigInteger, nullable=False))
    imported_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    imported_by: str = Field(max_length=200)


class DnclNumber(TableModel, table=True):
    """A listed number: `dncl_key(generation, ten digits)` as the primary key (one probe per
    contact decision; an area code's generation is one key range, deleted in range chunks)."""

    __tablename__ = "dncl_number"

    number: int = Field(sa_column=Column(BigIntPK, primary_key=True, autoincrement=False))


class MessageTemplate(TableModel, table=True):
    """The text of an SMS step in one language; step 0 is the default for every SMS step."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("step", "language", name="uq_message_template_step_lang"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    step: int = Field(default=0)
    language: str = Field(max_length=2)
    text: str
    updated_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: Optional[str] = Field(default=None, max_length=200)


class InboundMessage(TableModel, table=True):
    """What a number texted back (an opt-out or a reply); `lead_id` is null for an unknown
    number, one row per lead otherwise."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_message_lead_id", "lead_id"),
                      Index("ix_inbound_message_phone", "phone"))

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    phone: str = Field(max_length=16)
    lead_id: Optional[str] = Field(default=None, max_length=200)
    body: str
    action: str = Field(max_length=12)  # opted_out | recorded
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)


# --- `lead import` staging: validated rows wait here, invisible, until the import's last
# transaction applies them to `lead` and `lead_consent` with set-based SQL --------------------

class LeadImportLead(TableModel, table=True):
    """What one running `lead import` will do to one lead: the file's rows for that lead folded
    into one change (fields given override; `language` is the language a row chose, followed
    through later province changes; `has_qc` / `has_other` say which provinces the rows named,
    for the language-follows-province rule when no row chose one)."""

    __tablename__ = "lead_import_lead"
    __table_args__ = (UniqueConstraint("import_batch_id", "lead_id",
                                       name="uq_lead_import_lead_batch_lead"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    import_batch_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lead_id: str = Field(max_length=200)
    province: str = Field(max_length=2)
    phone: Optional[str] = Field(default=None, max_length=16)
    name: Optional[str] = Field(default=None, max_length=200)
    market: Optional[str] = Field(default=None, max_length=80)
    language: Optional[str] = Field(default=None, max_length=2)
    source: Optional[str] = Field(default=None, max_length=64)
    has_qc: bool = Field(sa_column=Column(Boolean, nullable=False))
    has_other: bool = Field(sa_column=Column(Boolean, nullable=False))


class LeadImportConsent(TableModel, table=True):
    """A consent a running `lead import` will append to the ledger (which refuses deletes, so
    it cannot take rows that might be discarded)."""

    __tablename__ = "lead_import_consent"
    __table_args__ = (Index("ix_lead_import_consent_import_batch_id", "import_batch_id"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    import_batch_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lead_id: str = Field(max_length=200)
    kind: str = Field(max_length=12)
    given_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    evidence: Optional[str] = Field(default=None)
