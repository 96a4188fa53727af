"""The provider's webhooks: `POST /api/webhooks/sms/inbound` (Twilio's form fields), the SMS
status callback, and the call desk's voice bridge (TwiML) and call status callback.

Authenticated by the provider's request signature instead of a bearer token (`api.gate.Signed`,
which shares the request pipeline's transaction and schema gate); a missing or wrong signature
is 403 and changes nothing. A repeated MessageSid is a no-op. The answer is
TwiML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from valhalla_cli.api.gate import Call, Signed
from valhalla_cli.errors import BadInput

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from valhalla_cli.settings import Settings

PATH = "/api/webhooks/sms/inbound"
STATUS_PATH = "/api/webhooks/sms/status"
VOICE_BRIDGE_PATH = "/api/webhooks/voice/bridge"
VOICE_STATUS_PATH = "/api/webhooks/voice/status"
ACTOR = "api:sms-webhook"
STATUS_ACTOR = "api:sms-status"
TWIML = "application/xml"

router = APIRouter(tags=["webhooks"])


def twiml(message: str | None) -> str:
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    if not message:
        return head + "<Response/>"  # nothing to send back
    return f"{head}<Response><Message>{escape(message)}</Message></Response>"


@router.post(PATH, summary="The SMS provider's inbound message webhook (TwiML answer).",
             description="Form fields From, Body, MessageSid as Twilio posts them, signed "
             "with X-Twilio-Signature ([api] twilio_auth_token). Runs `lead inbound`; a "
             "repeated MessageSid is a no-op; 403 for a missing or wrong signature.")
def inbound(call: Annotated[Call, Depends(Signed("sms-webhook"), scope="function")]
            ) -> Response:
    """One transaction: the replay receipt and the inbound message commit together."""
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import webhooks

    fields = call.form
    sid, sender = fields.get("MessageSid", "").strip(), fields.get("From", "").strip()
    if not sid or not sender:
        raise BadInput("MessageSid and From are required")
    now = utcnow()
    if not webhooks.claim_message(call.session, message_sid=sid, from_number=sender, at=now):
        # The provider's retry of a message already handled: a no-op.
        return Response(twiml(None), 200, media_type=TWIML)
    outcome = inbound_handler()(call.session, sender=sender, body=fields.get("Body", ""),
                                message_sid=sid, actor=ACTOR, at=now, settings=call.settings)
    webhooks.record_outcome(call.session, message_sid=sid, outcome=outcome.kind)
    return Response(twiml(outcome.reply), 200, media_type=TWIML)


@router.post(STATUS_PATH, summary="The SMS provider's status callback (empty answer).",
             description="Form fields MessageSid, MessageStatus (or SmsStatus), "
             "ErrorCode, To, From, AccountSid as Twilio posts them, signed with "
             "X-Twilio-Signature ([twilio] auth_token). Appends the event once per "
             "(MessageSid, MessageStatus), moves the message's state forward and applies "
             "the error code; 403 for a missing or wrong signature.")
def status(call: Annotated[Call, Depends(Signed("sms-status"), scope="function")]) -> Response:
    """One transaction: the event, the message's new state and what its error code does."""
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services.sending import events

    fields = call.form
    sid = fields.get("MessageSid", "").strip()
    state = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip()
    if not sid or not state:
        raise BadInput("MessageSid and MessageStatus are required")
    events.record_status(call.session, sid=sid, status=state,
                         error_code=fields.get("ErrorCode"), at=utcnow(), actor=STATUS_ACTOR,
                         raw=fields)
    return Response(b"", 200)


@router.get(VOICE_BRIDGE_PATH, summary="The call desk's bridge: TwiML that dials the lead.",
            description="Twilio fetches it (GET, signed over the URL) when the caller "
            "answers a call placed by `POST /api/desk/{task}/call`; it answers "
            "`<Dial callerId=voice_from><Number>lead</Number></Dial>`. 403 for a missing "
            "or wrong signature.")
def voice_bridge(call: Annotated[Call, Depends(Signed("voice-bridge", write=False),
                                               scope="function")],
                 task: str | None = None) -> Response:
    from valhalla_cli.inputs import parse_int
    from valhalla_cli.services import desk

    if task is None:
        raise BadInput("task is required")
    task_id = parse_int(task, field="task", minimum=1)
    answer = desk.bridge_twiml(call.session, task_id=task_id,
                               voice_from=call.settings.twilio.voice_from)
    return Response(answer, 200, media_type=TWIML)


@router.post(VOICE_STATUS_PATH, summary="The voice provider's call status callback.",
             description="Form fields CallSid, CallStatus, CallDuration as Twilio posts "
             "them, signed with X-Twilio-Signature. Records the status and duration in "
             "table `call` (forward only: a final status stays; repeats change nothing); "
             "403 for a missing or wrong signature.")
def voice_status(call: Annotated[Call, Depends(Signed("voice-status"), scope="function")]
                 ) -> Response:
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import desk

    fields = call.form
    desk.record_status(call.session, sid=fields.get("CallSid", ""),
                       status=fields.get("CallStatus", ""),
                       duration=fields.get("CallDuration"), at=utcnow())
    return Response(b"", 200)


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
