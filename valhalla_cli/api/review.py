"""The review page on the server: `GET /`, `POST /login`, `POST /logout`.

`GET /` renders the page of `valhalla status --format html` from live data (`?at=` replays an
instant, as `--at` does), behind the `read` scope. A browser cannot send a bearer header, so
the token is typed once into the sign-in form; `POST /login` checks it with the API's one token
check (`services.api_tokens.authenticate`) and keeps it in an `HttpOnly`, `SameSite=Strict`
cookie, which `api.auth.session_cookie_token` then hands to that same check on every `GET`
(and on a post from a page's script carrying the session's form token). `next` in the form
returns to the page that asked for the sign-in (`/` or `/desk`).
Signed out (no cookie, or one whose token was revoked), `GET /` answers 200 with the sign-in
form and no figures.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from valhalla_cli.api.auth import SESSION_COOKIE
from valhalla_cli.api.body import read_body
from valhalla_cli.api.errors import NO_STORE
from valhalla_cli.api.gate import Call, Gate

# Every page is signed in by the one request pipeline; signed out, `call.principal` is None.
PageCall = Annotated[Call, Depends(Gate("read", page=True), scope="function")]
router = APIRouter(tags=["review"])


def _cookie(value: str, *, clear: bool = False) -> str:
    # Written by hand rather than with Response.set_cookie, which spells the attribute
    # "SameSite=strict"; no Max-Age: the cookie ends with the browser session. No `Secure`:
    # `valhalla serve` speaks plain HTTP on loopback (behind a TLS proxy, add it there).
    expiry = "; Max-Age=0" if clear else ""
    return f"{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{expiry}"


def clear_cookie() -> str:
    return _cookie("", clear=True)


# The pages a sign-in may return to (a fixed list: the form's field never names another site).
NEXT_PAGES = ("/", "/desk")


def _sign_in(status: int = 200, error: str | None = None, *, clear: bool = False,
             next_page: str = "/") -> Response:
    from valhalla_cli.review_page import render_sign_in

    response = HTMLResponse(render_sign_in(error=error, next_page=next_page), status,
                            headers=NO_STORE)
    if clear:
        response.headers.append("set-cookie", _cookie("", clear=True))
    return response


def _same_origin(request: Request) -> bool:
    """A browser names the page a form was posted from; a sign-in posted from another site
    (login CSRF) is refused. `Origin` decides when it is sent; without it, a browser's
    `Sec-Fetch-Site` other than same-origin (or `none`, an address typed by the user) or a
    `Referer` from another origin is refused as well. A client that sends none of them (curl,
    a script) is not a browser being tricked."""
    from urllib.parse import urlsplit

    own = str(request.base_url).rstrip("/")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.rstrip("/") == own
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return False
    referer = request.headers.get("referer")
    if referer is not None:
        try:
            parts = urlsplit(referer.strip())
        except ValueError:
            return False
        return f"{parts.scheme}://{parts.netloc}" == own
    return True


def signed_out(request: Request, next_page: str) -> Response:
    """The sign-in form of a page asked for without a valid sign-in; a cookie whose token was
    revoked is cleared."""
    stale = SESSION_COOKIE in request.cookies
    return _sign_in(error="your sign-in is no longer valid (the token was revoked or is "
                    "unknown); sign in again" if stale else None, clear=stale,
                    next_page=next_page)


@router.get("/", response_class=HTMLResponse, summary="The Monday review page.",
            description="The page of `valhalla status --format html` from live data "
            "(`?at=` as `--at`); scope `read`. Signed out: the sign-in form only.")
def review(request: Request, call: PageCall,
           at: Annotated[str | None, Query(description="Replay this instant.")] = None
           ) -> Response:
    from valhalla_cli.review_page import render_review
    from valhalla_cli.services import status
    from valhalla_cli.wire import jsonable

    if call.principal is None:
        return signed_out(request, "/")
    view = status.overview(call.session, call.settings, call.instant(at))
    return HTMLResponse(render_review(jsonable(view), signed_in_as=call.principal.name),
                        headers=NO_STORE)


@router.post("/login", response_class=HTMLResponse,
             summary="Sign in to the review page with a token (a form post).")
async def sign_in(request: Request, call: PageCall) -> Response:
    from valhalla_cli.services import api_tokens

    if not _same_origin(request):
        return _sign_in(403, "a sign-in must come from this server's own page")
    body = await read_body(request)
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    token = fields.get("token", "").strip()
    next_page = fields.get("next", "/")
    next_page = next_page if next_page in NEXT_PAGES else "/"
    principal = (await run_in_threadpool(api_tokens.authenticate, call.session, token)
                 if token else None)
    if principal is None:
        return _sign_in(401, "that token is not valid (unknown or revoked)", next_page=next_page)
    request.state.token_name = principal.name
    response = RedirectResponse(next_page, status_code=303, headers=NO_STORE)
    response.headers.append("set-cookie", _cookie(token))
    return response


@router.post("/logout", summary="Sign out of the review page (clears the cookie).")
async def sign_out() -> Response:
    response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    response.headers.append("set-cookie", _cookie("", clear=True))
    return response
