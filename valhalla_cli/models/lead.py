from datetime import date, datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Date, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from valhalla_cli.models.types import BigIntPK, UTCDateTime


class Lead(SQLModel, table=True):
    """A person the business may contact: the operator's id, the number, where they are.

    `timezone` is a zone an operator confirmed for the person; when it is set it alone decides
    calling hours (SPEC 17.2). `phone` is E.164.
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


class LeadConsent(SQLModel, table=True):
    """Consent evidence, append-only like the audit log (a trigger rejects UPDATE and DELETE).

    `kind` is express | inquiry | business, or `withdrawal` (an opt-out: nothing given before it
    counts any more). `channel` is SMS, CALL or all.
    """

    __tablename__ = "lead_consent"
    __table_args__ = (Index("ix_lead_consent_lead_id_given_at", "lead_id", "given_at"),)

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    lead_id: str = Field(max_length=200)
    kind: str = Field(max_length=12)
    channel: str = Field(max_length=4)
    given_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    evidence: Optional[str] = Field(default=None)
    actor: str = Field(max_length=200)


class DnclArea(SQLModel, table=True):
    """One area code's copy of the National Do Not Call List: how old it is, how many numbers."""

    __tablename__ = "dncl_area"

    area_code: int = Field(sa_column=Column("area_code", Integer, primary_key=True,
                                            autoincrement=False))
    as_of: date = Field(sa_column=Column(Date, nullable=False))
    numbers: int = Field(sa_column=Column(BigInteger, nullable=False))
    imported_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    imported_by: str = Field(max_length=200)


class DnclNumber(SQLModel, table=True):
    """A listed number: its ten digits as the primary key (one probe per contact decision;
    an area code's numbers are one key range, replaced in one range delete)."""

    __tablename__ = "dncl_number"

    number: int = Field(sa_column=Column(BigIntPK, primary_key=True, autoincrement=False))


class MessageTemplate(SQLModel, table=True):
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


class InboundMessage(SQLModel, table=True):
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
