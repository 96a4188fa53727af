"""The SMS provider's webhook: Twilio's request signature and the replay store.

Twilio signs each request with HMAC-SHA1, keyed by the account's auth token, over the full URL
it called (scheme, host, path and query string) followed by every POST parameter, sorted by
name, as name and value concatenated with no delimiter; the header carries it in base64
(https://www.twilio.com/docs/usage/security#validating-requests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.models import SmsWebhookReceipt


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature Twilio would send for this URL and these POST parameters."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_twilio_signature(auth_token: str | None, url: str,
                           params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """True only for a present signature that matches (compared in constant time)."""
    if not auth_token or not signature:
        return False
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii",
                                                                                "replace"))


def claim_message(session: Session, *, message_sid: str, from_number: str,
                  at: datetime) -> bool:
    """Record that this message is being handled; False when it was handled before.

    The row is written in the caller's transaction, so a request that fails leaves no receipt
    and the provider's retry is handled afresh.
    """
    if session.get(SmsWebhookReceipt, message_sid) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(SmsWebhookReceipt(message_sid=message_sid, received_at=at,
                                          from_number=from_number[:40], outcome="received"))
            session.flush()
    except IntegrityError:
        return False  # a concurrent delivery of the same message won
    return True


def record_outcome(session: Session, *, message_sid: str, outcome: str) -> None:
    row = session.get(SmsWebhookReceipt, message_sid)
    if row is not None:
        row.outcome = outcome[:40]
        session.flush()


def receipt(session: Session, message_sid: str) -> str | None:
    """The outcome recorded for a message, or None."""
    return session.scalars(select(col(SmsWebhookReceipt.outcome))
                           .where(col(SmsWebhookReceipt.message_sid) == message_sid)).first()
