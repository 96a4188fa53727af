"""A provider's status report for one message, from the status webhook or `send status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from valhalla_cli.services import audit
from valhalla_cli.services.sending import ledger


def record_status(session: Session, *, sid: str, status: str, error_code: Any, at: datetime,
                  actor: str, raw: dict[str, Any] | None = None, audited: bool = False
                  ) -> ledger.EventResult:
    """Keep the event (once per sid and status) and apply it: the message's state moves
    forward and the error code acts. `audited`: an operator's replay, written to the audit
    log."""
    code = ledger.check_error_code(error_code, option="--error-code" if audited else
                                   "ErrorCode")
    result = ledger.record_event(session, sid=sid, status=status, error_code=code, at=at,
                                 actor=actor, raw=raw if raw is not None else {
                                     "MessageSid": sid, "MessageStatus": status,
                                     "ErrorCode": code})
    if audited and result.recorded:
        audit.record(session, pack=ledger.PACK, action="status", actor=actor, at=at,
                     subject=result.sid, before={"state": result.before},
                     after={"status": result.status, "error_code": code,
                            "state": result.after, "message_id": result.message_id})
    return result
