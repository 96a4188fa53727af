"""The HTTP API: a FastAPI application over the same services as the CLI.

One request is one transaction, opened by the one dependency of `api.gate` (schema gate, token
and scope) for every endpoint, page and webhook; it commits before the answer is sent. Errors
map to status codes through `api.errors.error_response`, installed here as the exception
handlers: 200 yes, 409 a rule's no (the whole answer), 422 bad input (nothing changed), 401/403
token and scope, 413 a body over 1 MiB, 503 database unavailable, 500 a bug (a request id, never
a traceback). Each request is logged on one line of standard error.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from valhalla_cli import __version__
from valhalla_cli.api.body import BodyTooLarge
from valhalla_cli.api.database import ServerDatabase
from valhalla_cli.api.errors import ApiDenied, bad_request, error_body, error_response, one_line
from valhalla_cli.errors import ValhallaError

if TYPE_CHECKING:
    from valhalla_cli.api.routing import PackRouter
    from valhalla_cli.settings import Settings


# --- one log line per request ------------------------------------------------------------------

class RequestLog:
    """ASGI middleware: a request id on every answer and one line per request on stderr
    (method, path without its query, status, duration, token name; never a token or a body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status: dict[str, int] = {"code": 500}

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = 1
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # What no exception handler answers (a driver's error, a bug): 503 or 500 with a
            # request id, never a traceback; nothing is raised on to the server.
            if "started" in status:  # too late to answer: the log line says what happened
                state["error"] = one_line(exc)
                raise
            await error_response(Request(scope), exc)(scope, receive, send_with_id)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            token = state.get("token_name") or "-"
            line = (f"valhalla serve: {scope['method']} {scope['path']} {status['code']} "
                    f"{elapsed:.1f}ms token={token} request_id={request_id}")
            if state.get("error"):
                line += f" error={state['error']}"
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


# --- the application -------------------------------------------------------------------------

def _warm_up() -> None:
    """Import every service before the first request, so it does not pay for the imports
    (the CLI imports them lazily to start fast; a server starts once)."""
    import pkgutil
    from importlib import import_module

    import valhalla_cli.services

    for module in pkgutil.iter_modules(valhalla_cli.services.__path__):
        import_module(f"valhalla_cli.services.{module.name}")


def pack_routers() -> tuple[PackRouter, ...]:
    from valhalla_cli.api.routers import ROUTERS

    return ROUTERS


def create_app(settings: Settings) -> FastAPI:
    from valhalla_cli.api import desk_page, docs, review, webhooks

    database = ServerDatabase(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import gc

        _warm_up()
        # Everything imported so far lives as long as the server: kept out of the collector's
        # full passes, which otherwise walk it all and pause every request in flight.
        gc.freeze()
        yield
        database.dispose()

    app = FastAPI(
        title="Valhalla API", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs is served offline by api.docs
        description="The HTTP face of the `valhalla` CLI: every endpoint calls the service its "
        "CLI command calls and answers the JSON that command prints with `--format json`. "
        "Authenticate with `Authorization: Bearer TOKEN` (`valhalla api token create`).",
    )
    # What the request pipeline (`api.gate`) reads on every request.
    app.state.settings = settings
    app.state.database = database

    @app.get("/healthz", tags=["server"], summary="Liveness: answers without a token.")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(review.router)
    app.include_router(desk_page.router)
    for pack in pack_routers():
        app.include_router(pack.api)
    app.include_router(webhooks.router)

    for kind in (ValhallaError, ApiDenied, BodyTooLarge):
        app.add_exception_handler(kind, error_response)
    app.add_exception_handler(RequestValidationError, bad_request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    docs.mount(app)
    app.add_middleware(RequestLog)
    return app


def app_from_environment() -> FastAPI:
    """The uvicorn factory of each worker process: settings resolved as the CLI resolves them.

    In the server's own process an error propagates as the command's error. In a worker
    process it is one line on standard error and uvicorn's start-up failure status, on which
    the supervisor stops the server rather than respawning a worker that fails every time.
    """
    import multiprocessing

    from valhalla_cli.settings import resolve_settings

    try:
        return create_app(resolve_settings())
    except Exception as exc:
        if multiprocessing.parent_process() is None:
            raise
        from valhalla_cli.api.server import worker_failed_to_start_exit

        message = exc.message if isinstance(exc, ValhallaError) else (
            f"internal error ({one_line(exc)})")
        sys.stderr.write(f"valhalla: error: worker {os.getpid()} could not start: "
                         f"{message}\n")
        sys.stderr.flush()
        sys.exit(worker_failed_to_start_exit())
