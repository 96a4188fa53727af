"""The request pipeline of the HTTP face, once: a FastAPI dependency with `yield` that opens the
request's transaction, checks the schema, the caller's credential and its scope, and hands the
handler a `Call`.

One request is one transaction: it commits when the handler has returned and before the answer
is sent (the dependency's exit runs at the end of the handler, `scope="function"`), so an
answer of 200 is never lost even when the server stops right after; any error rolls it back.
The schema is checked in that transaction on every request, so a `db downgrade` under a running
server is noticed. On SQLite the writers of this process queue for the one writer on the event
loop, in order (`ServerDatabase.write_lock`), instead of in SQLite's busy handler, and without
holding a worker thread while they wait.

`Gate` checks a token (bearer header, or the pages' sign-in cookie) and a scope: every endpoint
and the pages. `Signed` checks the provider's request signature instead: the webhooks. Both
share `opened`, the transaction and the schema gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.concurrency import contextmanager_in_threadpool

from valhalla_cli.api.auth import authenticate, require_scope, signed_fields
from valhalla_cli.api.errors import ApiDenied, PageDenied

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from valhalla_cli.api.database import ServerDatabase
    from valhalla_cli.services.api_tokens import Principal
    from valhalla_cli.settings import Settings

# A request scope key: bad input found before the request model is read (an unreadable body, a
# name given twice), said after the token check (a caller without a token learns nothing).
UNREADABLE = "valhalla.unreadable"


@dataclass
class Call:
    """What the request pipeline hands a handler: the request's session inside its transaction,
    the settings (the actor is the token's), the caller's token, and for a webhook its form."""

    session: Session
    settings: Settings
    database: ServerDatabase
    principal: Principal | None = None
    base_url: str = ""  # the server's URL as the caller reached it (no trailing slash)
    form: dict[str, str] = field(default_factory=dict)  # a webhook's signed form fields

    @property
    def actor(self) -> str:
        return self.settings.actor

    @property
    def caller(self) -> Principal:
        """The token of an endpoint that needs one (every endpoint under /api/ but webhooks)."""
        assert self.principal is not None, "a signed-in request has a token"
        return self.principal

    def instant(self, value: str | None, name: str = "at") -> datetime:
        from valhalla_cli.inputs import parse_instant

        return parse_instant(value, self.settings.business_timezone, field=name)

    def date(self, value: str | None, name: str) -> date | None:
        from valhalla_cli.clock import parse_date

        return parse_date(value, option=name) if value is not None else None


Credential = Callable[["Session", Request], "Principal | None"]


@asynccontextmanager
async def opened(request: Request, *, write: bool, credential: Credential) -> AsyncIterator[Call]:
    """The request's transaction with the schema gate passed and the credential checked."""
    database = request.app.state.database
    lock: AbstractAsyncContextManager[Any] = (
        database.write_lock if write and database.write_lock is not None else nullcontext())
    async with lock, contextmanager_in_threadpool(
            _transaction(request, write=write, credential=credential)) as call:
        yield call


@contextmanager
def _transaction(request: Request, *, write: bool, credential: Credential) -> Iterator[Call]:
    from valhalla_cli.schema import ensure_session_at_head

    state = request.app.state
    with state.database.get().transaction(write=write) as session:
        ensure_session_at_head(session)
        principal = credential(session, request)
        settings = (state.settings if principal is None
                    else dataclasses.replace(state.settings, actor=principal.actor))
        yield Call(session=session, settings=settings, database=state.database,
                   principal=principal, base_url=str(request.base_url).rstrip("/"))


class Gate:
    """A token of `scope` or more (401 without a valid one, 403 below the scope); `write` opens
    a write transaction. A page (`page=True`) is answered signed out instead of 401 (the
    handler shows the sign-in form: `call.principal` is None) and below the scope with an HTML
    refusal."""

    def __init__(self, scope: str, *, write: bool = False, page: bool = False) -> None:
        self.scope, self.write, self.page = scope, write, page

    async def __call__(self, request: Request) -> AsyncIterator[Call]:
        async with opened(request, write=self.write, credential=self.check) as call:
            yield call

    def check(self, session: Session, request: Request) -> Principal | None:
        try:
            principal = authenticate(session, request)
        except ApiDenied as denied:
            if self.page and denied.status == 401:
                return None
            raise
        try:
            require_scope(principal, self.scope)
        except ApiDenied as denied:
            if self.page:
                raise PageDenied(denied.message, signed_in_as=principal.name) from None
            raise
        unreadable = request.scope.get(UNREADABLE)
        if unreadable is not None:
            raise unreadable
        return principal


class Signed:
    """The provider's X-Twilio-Signature over its form fields instead of a token (403 when
    missing or wrong, checked before the database is touched); `caller` names the webhook in
    the request log. The fields are `call.form`."""

    def __init__(self, caller: str, *, write: bool = True) -> None:
        self.caller, self.write = caller, write

    async def __call__(self, request: Request) -> AsyncIterator[Call]:
        fields = await signed_fields(request, request.app.state.settings, caller=self.caller)
        async with opened(request, write=self.write, credential=_nobody) as call:
            call.form = fields
            yield call


def _nobody(_session: Session, _request: Request) -> None:
    return None
