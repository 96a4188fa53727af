from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Column
from sqlmodel import Field

from valhalla_cli.models.base import TableModel
from valhalla_cli.models.types import BigIntPK, UTCDateTime


class ApiToken(TableModel, table=True):
    """A bearer token of the HTTP API. Only the token's SHA-256 is kept, never the token."""

    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint("scope IN ('read', 'operate', 'admin')", name="ck_api_token_scope"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(BigIntPK, primary_key=True,
                                                             autoincrement=True))
    name: str = Field(max_length=80, unique=True)
    scope: str = Field(max_length=10)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(max_length=200)
    revoked_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_by: Optional[str] = Field(default=None, max_length=200)
    # The caller behind the token at the call desk: whose CALL tasks it works (as a ladder's
    # `owner`) and the phone Twilio rings first when the desk calls through the business number.
    owner: Optional[str] = Field(default=None, max_length=200)
    phone: Optional[str] = Field(default=None, max_length=16)


class SmsWebhookReceipt(TableModel, table=True):
    """One row per SMS provider message handled: a repeated MessageSid is a no-op."""

    __tablename__ = "sms_webhook_receipt"

    message_sid: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    from_number: str = Field(max_length=40)
    outcome: str = Field(max_length=40)
