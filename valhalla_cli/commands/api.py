"""`valhalla api`: the HTTP API's bearer tokens (create, list, revoke)."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    FormatOpt,
    JsonOpt,
    database,
    emit,
    fmt_of,
    say,
    settings,
    show,
)
from valhalla_cli.vocabulary import TOKEN_SCOPES, words

app = typer.Typer(help="The HTTP API (valhalla serve): bearer tokens.", no_args_is_help=True)
token_app = typer.Typer(help=f"Bearer tokens: {words(TOKEN_SCOPES)} scope.", no_args_is_help=True)
app.add_typer(token_app, name="token")

# A token's fields reordered: whose it is (owner, phone) next to its name and scope.
TOKEN_COLUMNS = ("name", "scope", "owner", "phone", "active", "created_at", "created_by",
                 "revoked_at", "revoked_by")
NameArg = Annotated[str, typer.Argument(help="The token's name (the audit actor is api:NAME).")]


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    scope: Annotated[str, typer.Option(
        "--scope", "-s", help="read (every GET), operate (also the operational POSTs) or "
        "admin (everything).")],
    owner: Annotated[Optional[str], typer.Option(
        "--owner", help="The call desk's owner this token works for (a ladder's --owner).")
    ] = None,
    phone: Annotated[Optional[str], typer.Option(
        "--phone", help="The caller's phone, rung first when the desk calls through the "
        "business number.")] = None,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored).

    A token with --owner is a caller's at the call desk (/desk): it works that owner's calls.

    \b
    Example:
      valhalla api token create alice --scope operate --owner va1 --phone 416-555-0142
    """
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import api_tokens

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction(write=True) as session:
        created = api_tokens.create(session, name=name, scope=scope, actor=cfg.actor,
                                    at=utcnow(), owner=owner, phone=phone)
    emit(created, output, columns=("name", "scope", "owner", "phone", "token", "created_at"))
    say(ctx, "store the token now: it is shown only once")


@token_app.command("list")
def list_command(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the tokens (names, scopes, who made or revoked them; never the tokens).

    \b
    Example:
      valhalla api token list --json
    """
    from valhalla_cli.services import api_tokens

    show(ctx, lambda session: api_tokens.list_tokens(session), fmt, as_json,
         columns=TOKEN_COLUMNS)


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: NameArg,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", "-r", help="Why (recorded in the audit log).")] = None,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Revoke a token at once (its next request is 401). Audited.

    \b
    Example:
      valhalla api token revoke dialer --reason "dialer replaced"
    """
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import api_tokens

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    with database(ctx) as db, db.transaction(write=True) as session:
        view = api_tokens.revoke(session, name=name, reason=reason, actor=cfg.actor,
                                 at=utcnow())
    emit(view, output, columns=TOKEN_COLUMNS)
