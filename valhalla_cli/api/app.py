"""The HTTP API: a FastAPI application over the same services as the CLI.

One request is one transaction: the schema gate, the token check and the endpoint's service
call share it, and it commits before the answer is sent (so an answer of 200 is never lost,
even when the server is stopped right after). An answer that is only reads of what was just
committed (`Answer.then`: the call desk's card after its claim) is read in a second, read-only
transaction, so it does not hold SQLite's one writer. Errors map to status codes here, once:
200 yes, 409 a rule's no (the whole answer), 422 bad input (nothing changed), 401/403 token
and scope, 413 a body over 1 MiB, 503 database unavailable, 500 a bug (a request id, never a
traceback). Each request is logged on one line of standard error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from valhalla_cli import __version__
from valhalla_cli.api.auth import authenticate, require_scope
from valhalla_cli.api.database import ServerDatabase
from valhalla_cli.api.errors import error_body, error_response, one_line
from valhalla_cli.api.routing import (
    Answer,
    Call,
    Endpoint,
    PackRouter,
    parse_params,
    read_raw,
)
from valhalla_cli.errors import (
    BadInput,
)

if TYPE_CHECKING:

    from valhalla_cli.db import Database
    from valhalla_cli.settings import Settings


# --- answers and errors ----------------------------------------------------------------------

def answer_response(answer: Answer) -> Response:
    from valhalla_cli.wire import json_text

    status = 409 if answer.refusal is not None else 200
    if answer.text is not None:
        return Response(answer.text, status, media_type=answer.media_type)
    return Response(json_text(answer.data), status, media_type="application/json")


# --- running an endpoint -------------------------------------------------------------------

class Runner:
    """Runs one endpoint for one request: read, authenticate, parse, call, answer."""

    def __init__(self, settings: Settings, database: ServerDatabase) -> None:
        self.settings = settings
        self.database = database

    async def __call__(self, request: Request, endpoint: Endpoint) -> Response:
        try:
            try:
                raw = await read_raw(request, endpoint)
                unreadable = None
            except BadInput as exc:
                # Reported after the token check: a caller without a token learns nothing.
                raw, unreadable = {}, exc
            answer = await run_in_threadpool(self.execute, request, endpoint, raw, unreadable)
            return answer_response(answer)
        except Exception as exc:
            return error_response(request, exc)

    def execute(self, request: Request, endpoint: Endpoint, raw: dict[str, list[Any]],
                unreadable: BadInput | None) -> Answer:
        database = self.database.get()
        if endpoint.write and self.database.write_lock is not None:
            with self.database.write_lock:
                answer = self._in_transaction(database, request, endpoint, raw, unreadable)
        else:
            answer = self._in_transaction(database, request, endpoint, raw, unreadable)
        while answer.then is not None:
            # The write is committed (an answer never reports an uncommitted change); what is
            # left only reads, without the write lock.
            with database.transaction() as session:
                answer = answer.then(session)
        return answer

    def _in_transaction(self, database: Database, request: Request, endpoint: Endpoint,
                        raw: dict[str, list[Any]], unreadable: BadInput | None) -> Answer:
        from valhalla_cli.schema import ensure_session_at_head

        with database.transaction(write=endpoint.write) as session:
            ensure_session_at_head(session)
            principal = authenticate(session, request)
            require_scope(principal, endpoint.scope)
            if unreadable is not None:
                raise unreadable
            params = parse_params(endpoint, raw)
            call = Call(params=params, session=session, principal=principal,
                        settings=dataclasses.replace(self.settings, actor=principal.actor),
                        base_url=str(request.base_url).rstrip("/"))
            return endpoint.handler(call)


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
        status = {"code": 500}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # nothing should reach here; if it does, still no traceback
            state["error"] = one_line(exc)
            status["code"] = 500
            raise
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
    from valhalla_cli.api import webhooks

    database = ServerDatabase(settings.database_url)
    runner = Runner(settings, database)

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
    app.state.settings = settings
    app.state.database = database
    app.state.runner = runner

    @app.get("/healthz", tags=["server"], summary="Liveness: answers without a token.")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    from valhalla_cli.api import review

    app.include_router(review.router(settings, database))
    from valhalla_cli.api import desk_page

    app.include_router(desk_page.router(settings, database))
    for pack in pack_routers():
        app.include_router(pack.api_router(runner))
    app.include_router(webhooks.router(settings, database))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    from valhalla_cli.api import docs

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
        from valhalla_cli.errors import ValhallaError

        message = exc.message if isinstance(exc, ValhallaError) else (
            f"internal error ({one_line(exc)})")
        sys.stderr.write(f"valhalla: error: worker {os.getpid()} could not start: "
                         f"{message}\n")
        sys.stderr.flush()
        sys.exit(worker_failed_to_start_exit())
