"""Who is calling the HTTP API: where a request's token comes from, and the one check of it.

Every endpoint and page authenticates through `authenticate` (called by `api.gate.Gate`): the
token sources are tried in order and the first token found is checked against the stored hashes
(`services.api_tokens.authenticate`), so a second face of the same token never gets a check of
its own. The provider's webhooks are signed instead (`signed_fields`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import Request

from valhalla_cli.api.body import read_body
from valhalla_cli.api.errors import ApiDenied

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from valhalla_cli.services.api_tokens import Principal
    from valhalla_cli.settings import Settings


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# The cookie of the review page's sign-in (`api/review.py`): it holds the token typed
# into the form, HttpOnly and SameSite=Strict.
SESSION_COOKIE = "valhalla_review"


# The header a signed-in page's script sends with each change, holding `form_token`.
FORM_HEADER = "x-valhalla-form"


def form_token(cookie_token: str) -> str:
    """The per-session form token of the pages: derived from the (HttpOnly) sign-in cookie, so
    it is known only to a page this server rendered for that session."""
    import hashlib
    import hmac

    return hmac.new(cookie_token.encode("utf-8"), b"valhalla page form",
                    hashlib.sha256).hexdigest()


def session_cookie_token(request: Request) -> str | None:
    """The pages' sign-in cookie. A browser sends cookies on its own, so for a change (any
    method but GET and HEAD) the cookie counts only with the session's form token in the
    `X-Valhalla-Form` header, which another site's page can neither read nor send."""
    import hmac

    token = request.cookies.get(SESSION_COOKIE) or None
    if token is None or request.method in ("GET", "HEAD"):
        return token
    sent = request.headers.get(FORM_HEADER, "")
    return token if sent and hmac.compare_digest(sent, form_token(token)) else None


# Where a request's token may come from, tried in order; every source goes through the same
# check below.
TOKEN_SOURCES: list[Callable[[Request], str | None]] = [bearer_token, session_cookie_token]


def authenticate(session: Session, request: Request) -> Principal:
    """The caller's token, checked against the stored hashes; 401 when absent or not valid."""
    from valhalla_cli.services import api_tokens

    for source in TOKEN_SOURCES:
        token = source(request)
        if token is not None:
            principal = api_tokens.authenticate(session, token)
            if principal is None:
                raise ApiDenied(401, "unauthorized", "the token is not valid (unknown or "
                                "revoked)")
            request.state.token_name = principal.name
            return principal
    raise ApiDenied(401, "unauthorized", "this endpoint needs `Authorization: Bearer TOKEN` "
                    "(create one with `valhalla api token create NAME --scope read`)")


def require_scope(principal: Principal, scope: str) -> None:
    from valhalla_cli.services.api_tokens import scope_allows

    if not scope_allows(principal.scope, scope):
        raise ApiDenied(403, "forbidden", f"the token {principal.name!r} has the "
                        f"{principal.scope!r} scope; this endpoint needs {scope!r}")


def signed_url(request: Request, settings: Settings) -> str:
    """The URL the provider called: behind a proxy, the configured public URL."""
    public = settings.api.public_url
    query = request.url.query
    if public:
        return public + request.url.path + (f"?{query}" if query else "")
    return str(request.url)


async def signed_fields(request: Request, settings: Settings, *, caller: str
                        ) -> dict[str, str]:
    """The provider's form fields, once its X-Twilio-Signature over them is checked (403 when
    missing or wrong); `caller` names the webhook in the request log."""
    from urllib.parse import parse_qsl

    from valhalla_cli.services.webhooks import valid_twilio_signature

    body = await read_body(request)
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not valid_twilio_signature(settings.api.twilio_auth_token, signed_url(request, settings),
                                  pairs, request.headers.get("x-twilio-signature")):
        raise ApiDenied(403, "forbidden", "missing or wrong X-Twilio-Signature")
    request.state.token_name = caller
    return dict(pairs)
