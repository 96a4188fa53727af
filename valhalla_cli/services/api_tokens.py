"""Bearer tokens of the HTTP API: create (shown once), list, revoke, authenticate, scopes.

Only the SHA-256 of a token is stored. Authentication hashes the presented token and compares
it with every active token's hash in constant time, so neither the lookup nor the comparison
tells an attacker how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.models import ApiToken
from valhalla_cli.models.types import view_of
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack
from valhalla_cli.vocabulary import TOKEN_SCOPES

PACK = Pack.API
SCOPES = TOKEN_SCOPES
TOKEN_PREFIX = "vh_"
# 32 random bytes = 256 bits of entropy (a token needs at least 32 bytes of entropy).
TOKEN_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def scope_allows(granted: str, needed: str) -> bool:
    """read < operate < admin: a scope may do everything the ones below it may."""
    return SCOPES.index(granted) >= SCOPES.index(needed)


def parse_scope(value: str) -> str:
    scope = (value or "").strip().lower()
    if scope not in SCOPES:
        raise BadInput(f"--scope must be one of {', '.join(SCOPES)}, not {value!r}")
    return scope


def parse_name(value: str) -> str:
    name = (value or "").strip()
    if not _NAME.match(name):
        raise BadInput(f"token name {value!r} must be 1-80 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit")
    return name


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenView:
    name: str
    scope: str
    active: bool
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    owner: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class CreatedToken:
    name: str
    scope: str
    token: str
    created_at: datetime
    owner: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the token's name and scope (never the token itself)."""

    name: str
    scope: str
    owner: str | None = None  # the call desk's owner (a ladder's `owner`) the token works for
    phone: str | None = None  # the caller's phone, rung first by a call through the provider

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


def _view(row: ApiToken) -> TokenView:
    return view_of(TokenView, row, active=row.revoked_at is None)


def create(session: Session, *, name: str, scope: str, actor: str, at: datetime,
           owner: str | None = None, phone: str | None = None) -> CreatedToken:
    """Create a token; its clear text is returned here once and never stored. `owner` is whose
    CALL tasks the token works at the call desk (validated as `ladder create --owner`), `phone`
    the caller's number (a Canadian number, stored in E.164)."""
    from valhalla_cli.inputs import parse_text
    from valhalla_cli.phones import parse_phone

    name, scope = parse_name(name), parse_scope(scope)
    owner = parse_text(owner, field="--owner")
    phone = parse_phone(phone) if phone is not None else None
    taken = select(col(ApiToken.id)).where(col(ApiToken.name) == name)
    if session.scalars(taken).first() is not None:
        raise BadInput(f"a token named {name!r} already exists (revoked names stay taken): "
                       "choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(name=name, scope=scope, token_sha256=token_digest(token), created_at=at,
                   created_by=actor, owner=owner, phone=phone)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise BadInput(f"a token named {name!r} already exists: choose another name") from None
    audit.record(session, pack=PACK, action="token_create", actor=actor, at=at, subject=name,
                 after={"name": name, "scope": scope, "owner": owner, "phone": phone})
    return CreatedToken(name=name, scope=scope, token=token, created_at=at, owner=owner,
                        phone=phone)


def list_tokens(session: Session) -> list[TokenView]:
    rows = session.scalars(select(ApiToken).order_by(col(ApiToken.name)))
    return [_view(row) for row in rows]


def revoke(session: Session, *, name: str, actor: str, at: datetime,
           reason: str | None = None) -> TokenView:
    """Revoke a token at once; revoking a revoked token changes nothing."""
    from valhalla_cli.inputs import parse_reason

    reason = parse_reason(reason)
    row = session.scalars(select(ApiToken).where(col(ApiToken.name) == name.strip())).first()
    if row is None:
        raise NotFound(f"no API token named {name!r} (see `valhalla api token list`)")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = at, actor
        session.flush()
        audit.record(session, pack=PACK, action="token_revoke", actor=actor, at=at,
                     subject=row.name, before={"active": True}, after={"active": False},
                     reason=reason)
    return _view(row)


@lru_cache(maxsize=1)
def _active_tokens_query() -> Any:
    # Built once: constructing the statement costs more than running it, on every request.
    return (select(col(ApiToken.name), col(ApiToken.scope), col(ApiToken.token_sha256),
                   col(ApiToken.owner), col(ApiToken.phone))
            .where(col(ApiToken.revoked_at).is_(None)))


def authenticate(session: Session, token: str) -> Principal | None:
    """The active token matching `token`, or None."""
    presented = token_digest(token).encode("ascii")
    found: Principal | None = None
    rows = session.execute(_active_tokens_query())
    for name, scope, digest, owner, phone in rows:
        # Compare with every row (no early exit) so timing does not depend on the match.
        if hmac.compare_digest(presented, digest.encode("ascii")) and found is None:
            found = Principal(name=name, scope=scope, owner=owner, phone=phone)
    return found
