"""The provider's webhooks: `POST /api/webhooks/sms/inbound` (Twilio's form fields), the SMS
status callback, and the call desk's voice bridge (TwiML) and call status callback.

Authenticated by the provider's request signature instead of a bearer token; a missing or
wrong signature is 403 and changes nothing. A repeated MessageSid is a no-op. The answer is
TwiML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from valhalla_cli.api.routing import read_body
from valhalla_cli.errors import BadInput

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from valhalla_cli.api.database import ServerDatabase
    from valhalla_cli.settings import Settings

PATH = "/api/webhooks/sms/inbound"
STATUS_PATH = "/api/webhooks/sms/status"
VOICE_BRIDGE_PATH = "/api/webhooks/voice/bridge"
VOICE_STATUS_PATH = "/api/webhooks/voice/status"
ACTOR = "api:sms-webhook"
STATUS_ACTOR = "api:sms-status"
TWIML = "application/xml"


def twiml(message: str | None) -> str:
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    if not message:
        return head + "<Response/>"  # nothing to send back
    return f"{head}<Response><Message>{escape(message)}</Message></Response>"


def signed_url(request: Request, settings: Settings) -> str:
    """The URL the provider called: behind a proxy, the configured public URL."""
    public = settings.api.public_url
    query = request.url.query
    if public:
        return public + request.url.path + (f"?{query}" if query else "")
    return str(request.url)


async def signed_fields(request: Request, settings: Settings, *, caller: str
                        ) -> dict[str, str]:
    """The provider's form fields, once its X-Twilio-Signature over them is checked (403 when
    missing or wrong); `caller` names the webhook in the request log."""
    from urllib.parse import parse_qsl

    from valhalla_cli.api.errors import ApiDenied
    from valhalla_cli.services.webhooks import valid_twilio_signature

    body = await read_body(request)
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not valid_twilio_signature(settings.api.twilio_auth_token, signed_url(request, settings),
                                  pairs, request.headers.get("x-twilio-signature")):
        raise ApiDenied(403, "forbidden", "missing or wrong X-Twilio-Signature")
    request.state.token_name = caller
    return dict(pairs)


def router(settings: Settings, database: ServerDatabase) -> APIRouter:
    webhooks = APIRouter(tags=["webhooks"])

    @webhooks.post(PATH, summary="The SMS provider's inbound message webhook (TwiML answer).",
                   description="Form fields From, Body, MessageSid as Twilio posts them, signed "
                   "with X-Twilio-Signature ([api] twilio_auth_token). Runs `lead inbound`; a "
                   "repeated MessageSid is a no-op; 403 for a missing or wrong signature.")
    async def inbound(request: Request) -> Response:
        from valhalla_cli.api.errors import error_response

        try:
            fields = await signed_fields(request, settings, caller="sms-webhook")
            message = await run_in_threadpool(_handle, database, settings, fields)
            return Response(twiml(message), 200, media_type=TWIML)
        except Exception as exc:
            return error_response(request, exc)

    @webhooks.post(STATUS_PATH, summary="The SMS provider's status callback (empty answer).",
                   description="Form fields MessageSid, MessageStatus (or SmsStatus), "
                   "ErrorCode, To, From, AccountSid as Twilio posts them, signed with "
                   "X-Twilio-Signature ([twilio] auth_token). Appends the event once per "
                   "(MessageSid, MessageStatus), moves the message's state forward and applies "
                   "the error code; 403 for a missing or wrong signature.")
    async def status(request: Request) -> Response:
        from valhalla_cli.api.errors import error_response

        try:
            fields = await signed_fields(request, settings, caller="sms-status")
            await run_in_threadpool(_handle_status, database, fields)
            return Response(b"", 200)
        except Exception as exc:
            return error_response(request, exc)

    @webhooks.get(VOICE_BRIDGE_PATH, summary="The call desk's bridge: TwiML that dials the lead.",
                  description="Twilio fetches it (GET, signed over the URL) when the caller "
                  "answers a call placed by `POST /api/desk/{task}/call`; it answers "
                  "`<Dial callerId=voice_from><Number>lead</Number></Dial>`. 403 for a missing "
                  "or wrong signature.")
    async def voice_bridge(request: Request) -> Response:
        from valhalla_cli.api.errors import error_response

        try:
            await signed_fields(request, settings, caller="voice-bridge")
            answer = await run_in_threadpool(_handle_bridge, database, settings,
                                             request.query_params.get("task"))
            return Response(answer, 200, media_type=TWIML)
        except Exception as exc:
            return error_response(request, exc)

    @webhooks.post(VOICE_STATUS_PATH, summary="The voice provider's call status callback.",
                   description="Form fields CallSid, CallStatus, CallDuration as Twilio posts "
                   "them, signed with X-Twilio-Signature. Records the status and duration in "
                   "table `call` (forward only: a final status stays; repeats change nothing); "
                   "403 for a missing or wrong signature.")
    async def voice_status(request: Request) -> Response:
        from valhalla_cli.api.errors import error_response

        try:
            fields = await signed_fields(request, settings, caller="voice-status")
            await run_in_threadpool(_handle_voice_status, database, fields)
            return Response(b"", 200)
        except Exception as exc:
            return error_response(request, exc)

    return webhooks


def _handle_bridge(database: ServerDatabase, settings: Settings, task: str | None) -> str:
    from valhalla_cli.inputs import parse_int
    from valhalla_cli.schema import ensure_session_at_head
    from valhalla_cli.services import desk

    if task is None:
        raise BadInput("task is required")
    task_id = parse_int(task, field="task", minimum=1)
    with database.get().transaction() as session:
        ensure_session_at_head(session)
        return desk.bridge_twiml(session, task_id=task_id, voice_from=settings.twilio.voice_from)


def _handle_voice_status(database: ServerDatabase, fields: dict[str, str]) -> None:
    from valhalla_cli.clock import utcnow
    from valhalla_cli.schema import ensure_session_at_head
    from valhalla_cli.services import desk

    with database.get().transaction(write=True) as session:
        ensure_session_at_head(session)
        desk.record_status(session, sid=fields.get("CallSid", ""),
                           status=fields.get("CallStatus", ""),
                           duration=fields.get("CallDuration"), at=utcnow())


def _handle_status(database: ServerDatabase, fields: dict[str, str]) -> None:
    """One transaction: the event, the message's new state and what its error code does."""
    from valhalla_cli.clock import utcnow
    from valhalla_cli.schema import ensure_session_at_head
    from valhalla_cli.services.sending import events

    sid = fields.get("MessageSid", "").strip()
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip()
    if not sid or not status:
        raise BadInput("MessageSid and MessageStatus are required")
    with database.get().transaction(write=True) as session:
        ensure_session_at_head(session)
        events.record_status(session, sid=sid, status=status,
                             error_code=fields.get("ErrorCode"), at=utcnow(),
                             actor=STATUS_ACTOR, raw=fields)


def _handle(database: ServerDatabase, settings: Settings, fields: dict[str, str]) -> str | None:
    """One transaction: the replay receipt and the inbound message commit together."""
    from valhalla_cli.clock import utcnow
    from valhalla_cli.schema import ensure_session_at_head
    from valhalla_cli.services import webhooks

    sid, sender = fields.get("MessageSid", "").strip(), fields.get("From", "").strip()
    if not sid or not sender:
        raise BadInput("MessageSid and From are required")
    with database.get().transaction(write=True) as session:
        ensure_session_at_head(session)
        now = utcnow()
        if not webhooks.claim_message(session, message_sid=sid, from_number=sender, at=now):
            return None  # the provider's retry of a message already handled: a no-op
        outcome = inbound_handler()(session, sender=sender, body=fields.get("Body", ""),
                                    message_sid=sid, actor=ACTOR, at=now, settings=settings)
        webhooks.record_outcome(session, message_sid=sid, outcome=outcome.kind)
        return outcome.reply


@dataclass(frozen=True)
class Outcome:
    """What the webhook keeps (`kind`, the receipt's outcome) and answers (`reply`, TwiML)."""

    kind: str
    reply: str | None


def inbound_handler() -> Callable[..., Outcome]:
    """The provider's message, handed to the service behind `lead inbound`."""
    return _lead_inbound


def _lead_inbound(session: Session, *, sender: str, body: str, message_sid: str, actor: str,
                  at: datetime, settings: Settings) -> Outcome:
    from valhalla_cli.services import lead

    result = lead.inbound(session, phone=sender, body=body, at=at, actor=actor,
                          business_name=settings.business_name,
                          business_callback=settings.business_callback,
                          business_website=settings.business_website,
                          business_timezone=settings.business_timezone, message_sid=message_sid)
    # The service chose the languages of the answer (one, or en and fr: an opt-out's or a
    # START's confirmation, a HELP's identification); a text carries them in its order.
    reply = "\n".join(result.reply[language] for language in result.reply) or None
    return Outcome(result.action, reply)
