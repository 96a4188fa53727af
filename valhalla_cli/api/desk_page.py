"""The call desk on the server: `GET /desk`, the page a caller works the ladder's CALL steps from.

The page is a client of the JSON endpoints under it (`/api/desk*` and `/api/inbox*`): it holds
no rule of its own. It is signed in as `/` is (the token in the `HttpOnly`, `SameSite=Strict`
cookie of `api.review`), needs the `operate` scope, and shows the desk of the token's owner (an
`admin` token may choose one with `?owner=`). Its script posts with the cookie plus the form
token of this session (`api.auth.form_token`), which a page of another site cannot read, so a
forged post is refused. The script is inline and runs only under this response's nonce
(`Content-Security-Policy`); everything it shows is set as text, never as HTML.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from valhalla_cli.api.auth import SESSION_COOKIE, authenticate, form_token
from valhalla_cli.api.errors import ApiDenied, error_response

if TYPE_CHECKING:
    from valhalla_cli.api.app import ServerDatabase
    from valhalla_cli.settings import Settings

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


def content_security_policy(nonce: str) -> str:
    """Nothing is fetched from anywhere but this server, and only the page's own script (the
    one carrying this response's nonce) runs."""
    return ("default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")


def _page(status: int, html: str, nonce: str | None = None) -> HTMLResponse:
    headers = dict(_NO_STORE)
    if nonce is not None:
        headers["Content-Security-Policy"] = content_security_policy(nonce)
    return HTMLResponse(html, status, headers=headers)


def router(settings: Settings, database: ServerDatabase) -> APIRouter:
    routes = APIRouter(tags=["desk"])

    def page(request: Request) -> Response:
        from valhalla_cli.api.routers.desk import desk_owner
        from valhalla_cli.api.routing import Call
        from valhalla_cli.inputs import parse_instant
        from valhalla_cli.review_page import render_desk, render_refusal, render_sign_in
        from valhalla_cli.schema import ensure_session_at_head
        from valhalla_cli.services.api_tokens import scope_allows
        from valhalla_cli.services.desk import voice_missing
        from valhalla_cli.wire import jsonable

        with database.get().transaction() as session:
            ensure_session_at_head(session)
            try:
                principal = authenticate(session, request)
            except ApiDenied as denied:
                if denied.status != 401:
                    raise
                stale = SESSION_COOKIE in request.cookies
                response = _page(200, render_sign_in(
                    error="your sign-in is no longer valid (the token was revoked or is "
                    "unknown); sign in again" if stale else None, next_page="/desk"))
                if stale:
                    from valhalla_cli.api.review import clear_cookie

                    response.headers.append("set-cookie", clear_cookie())
                return response
        if not scope_allows(principal.scope, "operate"):
            return _page(403, render_refusal(
                f"the token {principal.name!r} has the {principal.scope!r} scope; the call "
                "desk needs 'operate' (valhalla api token create NAME --scope operate "
                "--owner OWNER)", signed_in_as=principal.name))
        asked = request.query_params.get("owner") or None
        try:
            # Whose desk: the one rule of the endpoints under the page.
            owner = desk_owner(Call(params={"owner": asked}, session=session,
                                    settings=settings, principal=principal))
        except ApiDenied as denied:
            return _page(denied.status, render_refusal(denied.message,
                                                       signed_in_as=principal.name))
        raw_at = request.query_params.get("at")
        at = parse_instant(raw_at, settings.business_timezone, field="at")
        nonce = secrets.token_urlsafe(18)
        cookie = request.cookies.get(SESSION_COOKIE) or ""
        html = render_desk(
            nonce=nonce, form=form_token(cookie) if cookie else "", owner=owner,
            # The page's requests name the owner only when an admin chose one.
            owner_param=owner if principal.scope == "admin" and asked else None,
            at=jsonable(at) if raw_at else None, signed_in_as=principal.name,
            business_timezone=settings.business_timezone,
            voice=voice_missing(settings, principal.phone) is None)
        return _page(200, html, nonce)

    @routes.get("/desk", response_class=HTMLResponse, summary="The call desk.",
                description="The page a caller works from: the queue, **Next call**, the lead "
                "card, the call and its disposition, the owner's inbox. Scope `operate`; an "
                "admin token may pass `?owner=`; `?at=` is passed to every request of the page. "
                "Signed out: the sign-in form only.")
    async def desk(request: Request) -> Response:
        try:
            return await run_in_threadpool(page, request)
        except Exception as exc:
            return error_response(request, exc)

    return routes
