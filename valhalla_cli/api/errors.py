"""How the HTTP API answers an error: one mapping from an exception to a status code and a
body (`error_response`), which the application installs as its exception handlers."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from valhalla_cli.api.body import BodyTooLarge
from valhalla_cli.errors import (
    BadInput,
    ConfigError,
    DatabaseUnavailable,
    Refused,
    ValhallaError,
)

# Pages are built per request from live figures: no cache may keep a copy of one.
# same-origin, not no-referrer: with no referrer a browser posts the sign-in form with
# `Origin: null`, which the login CSRF check must refuse.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


class ApiDenied(Exception):
    """Authentication or authorization failed: 401 or 403."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PageDenied(ApiDenied):
    """A page's token is below the page's scope: a 403 page (HTML) saying so."""

    def __init__(self, message: str, *, signed_in_as: str) -> None:
        super().__init__(403, "forbidden", message)
        self.signed_in_as = signed_in_as


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An error answer; its message is bounded like the CLI's error line (no echo of a huge
    value)."""
    from valhalla_cli.output import bounded

    return {"error": {"code": code, "message": bounded(message), **extra}}


def error_response(request: Request, exc: BaseException) -> Response:
    """The one mapping from an exception to a status code and a body (never a traceback)."""
    if isinstance(exc, PageDenied):
        from fastapi.responses import HTMLResponse

        from valhalla_cli.review_page import render_refusal

        return HTMLResponse(render_refusal(exc.message, signed_in_as=exc.signed_in_as), 403,
                            headers=NO_STORE)
    if isinstance(exc, ApiDenied):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)
    if isinstance(exc, BodyTooLarge):
        return JSONResponse(error_body("too_large", "the request body is over 1 MiB"), 413)
    if isinstance(exc, BadInput):
        return JSONResponse(error_body("bad_input", exc.message), 422)
    if isinstance(exc, Refused):
        from valhalla_cli.refusal_line import refusal_line

        return JSONResponse({"reason": exc.reason, "message": refusal_line(exc.message)}, 409,
                            headers=refusal_headers(exc.reason, exc.message))
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


def bad_request(request: Request, exc: BaseException) -> Response:
    """FastAPI's validation of a request's parameters, as one line of bad input (422): the first
    thing wrong, named by its parameter."""
    errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
    return error_response(request, BadInput(validation_line(errors[0]) if errors else
                                            "the request's parameters are not valid"))


def validation_line(error: dict[str, Any]) -> str:
    loc = [part for part in error.get("loc", ()) if part not in ("query", "body", "path")]
    name = str(loc[0]) if loc else ""
    kind, message = error.get("type"), str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if not name:
        return f"the request body must be a JSON object of parameters ({message})"
    if kind == "missing":
        return f"parameter {name!r} is required"
    if kind == "extra_forbidden":
        return f"unknown parameter {name!r}"
    where = "".join(f"[{part}]" for part in loc[1:])
    return f"parameter {name!r}{where}: {message}"


def refusal_headers(reason: str, message: str) -> dict[str, str]:
    """A 409's reason code and sentence as headers too, for an answer whose body is a list or
    Markdown (UTF-8, percent-encoded where a header cannot carry a character)."""
    from valhalla_cli.refusal_line import refusal_line

    sentence = quote(refusal_line(message), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    return {"Valhalla-Reason": reason, "Valhalla-Refusal": sentence}


def one_line(exc: BaseException) -> str:
    # The driver's own error, first line only: SQLAlchemy's text goes on to print the SQL
    # statement and its parameters.
    exc = getattr(exc, "orig", None) or exc
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
