"""How the HTTP API answers an error: one mapping from an exception to a status code and a
body, shared by the application and the webhooks (which `api.app` mounts, so they cannot
import it back)."""

from __future__ import annotations

import sys
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from valhalla_cli.api.routing import BodyTooLarge
from valhalla_cli.errors import (
    BadInput,
    ConfigError,
    DatabaseUnavailable,
    Refused,
    ValhallaError,
)


class ApiDenied(Exception):
    """Authentication or authorization failed: 401 or 403."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An error answer; its message is bounded like the CLI's error line (no echo of a huge
    value)."""
    from valhalla_cli.output import bounded

    return {"error": {"code": code, "message": bounded(message), **extra}}


def error_response(request: Request, exc: BaseException) -> Response:
    """The one mapping from an exception to a status code and a body (never a traceback)."""
    if isinstance(exc, ApiDenied):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)
    if isinstance(exc, BodyTooLarge):
        return JSONResponse(error_body("too_large", "the request body is over 1 MiB"), 413)
    if isinstance(exc, BadInput):
        return JSONResponse(error_body("bad_input", exc.message), 422)
    if isinstance(exc, Refused):
        from valhalla_cli.output import bounded

        return JSONResponse({"reason": exc.reason, "message": bounded(exc.message)}, 409)
    if isinstance(exc, DatabaseUnavailable):
        return JSONResponse(error_body("database_unavailable", exc.message), 503)
    if isinstance(exc, ConfigError):
        return JSONResponse(error_body("config_error", exc.message), 503)
    if not isinstance(exc, ValhallaError) and "sqlalchemy" in sys.modules:
        from valhalla_cli.db import describe_db_error

        translated = describe_db_error(exc)
        if translated is not None:
            return JSONResponse(error_body("database_unavailable", translated.message), 503)
    request_id = request.state.request_id
    request.state.error = one_line(exc)
    return JSONResponse(error_body(
        "internal", f"internal error; the server log has request id {request_id}",
        request_id=request_id), 500)


def one_line(exc: BaseException) -> str:
    # The driver's own error, first line only: SQLAlchemy's text goes on to print the SQL
    # statement and its parameters.
    exc = getattr(exc, "orig", None) or exc
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
