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
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from valhalla_cli.api.auth import SESSION_COOKIE, form_token
from valhalla_cli.api.errors import NO_STORE, ApiDenied
from valhalla_cli.api.gate import Call, Gate

router = APIRouter(tags=["desk"])


def content_security_policy(nonce: str) -> str:
    """Nothing is fetched from anywhere but this server, and only the page's own script (the
    one carrying this response's nonce) runs."""
    return ("default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")


def _page(status: int, html: str, nonce: str | None = None) -> HTMLResponse:
    headers = dict(NO_STORE)
    if nonce is not None:
        headers["Content-Security-Policy"] = content_security_policy(nonce)
    return HTMLResponse(html, status, headers=headers)


@router.get("/desk", response_class=HTMLResponse, summary="The call desk.",
            description="The page a caller works from: the queue, **Next call**, the lead "
            "card, the call and its disposition, the owner's inbox. Scope `operate`; an "
            "admin token may pass `?owner=`; `?at=` is passed to every request of the page. "
            "Signed out: the sign-in form only.")
def desk(request: Request,
         call: Annotated[Call, Depends(Gate("operate", page=True), scope="function")],
         owner: Annotated[str | None, Query(description="Whose desk (admin tokens).")] = None,
         at: Annotated[str | None, Query(description="Replay this instant.")] = None
         ) -> Response:
    from valhalla_cli.api.review import signed_out
    from valhalla_cli.api.routers.desk import desk_owner
    from valhalla_cli.review_page import render_desk, render_refusal
    from valhalla_cli.services.desk import voice_missing
    from valhalla_cli.wire import jsonable

    principal = call.principal
    if principal is None:
        return signed_out(request, "/desk")
    asked = owner or None
    try:
        # Whose desk: the one rule of the endpoints under the page.
        chosen = desk_owner(call, asked)
    except ApiDenied as denied:
        return _page(denied.status, render_refusal(denied.message, signed_in_as=principal.name))
    instant = call.instant(at)
    nonce = secrets.token_urlsafe(18)
    cookie = request.cookies.get(SESSION_COOKIE) or ""
    html = render_desk(
        nonce=nonce, form=form_token(cookie) if cookie else "", owner=chosen,
        # The page's requests name the owner only when an admin chose one.
        owner_param=chosen if principal.scope == "admin" and asked else None,
        at=jsonable(instant) if at else None, signed_in_as=principal.name,
        business_timezone=call.settings.business_timezone,
        voice=voice_missing(call.settings, principal.phone) is None)
    return _page(200, html, nonce)
