"""How an endpoint is declared: its path, scope, parameters and the one service call it makes.

Every endpoint is a plain function `handler(call) -> Answer` that reads its parsed parameters,
calls one service with the request's session and renders nothing itself: the answer's data is
serialized by `output.json_text`, the same function behind the CLI's `--format json`. The
request's transaction, the schema gate, authentication, scopes and the mapping of errors to
status codes live in `api.app`, once for every endpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from valhalla_cli.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from valhalla_cli.services.api_tokens import Principal
    from valhalla_cli.services.refusals import Refusal
    from valhalla_cli.settings import Settings

MAX_BODY_BYTES = 1024 * 1024
_KINDS = ("str", "int", "float", "bool", "list", "rows")
_OPENAPI_TYPES: dict[str, dict[str, Any]] = {"str": {"type": "string"}, "int": {"type": "integer"},
                                      "float": {"type": "number"}, "bool": {"type": "boolean"},
                                      "list": {"type": "array", "items": {"type": "string"}},
                                      "rows": {"type": "array", "items": {"type": "object"}}}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class BodyTooLarge(Exception):
    """A request body over MAX_BODY_BYTES (413)."""


@dataclass(frozen=True)
class Param:
    """One request parameter, named as the CLI option it mirrors (snake_case)."""

    name: str
    kind: str = "str"
    required: bool = False
    default: Any = None
    help: str = ""
    in_path: bool = False
    minimum: int | None = None  # as the CLI option's `min=`

    def __post_init__(self) -> None:
        assert self.kind in _KINDS, self.kind


@dataclass
class Call:
    """What a handler gets: the parsed parameters, the request's session and settings."""

    params: dict[str, Any]
    session: Session
    settings: Settings
    principal: Principal
    base_url: str = ""  # the server's URL as the caller reached it (no trailing slash)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def actor(self) -> str:
        return self.settings.actor

    def instant(self, name: str = "at") -> datetime:
        from valhalla_cli.inputs import parse_instant

        return parse_instant(self.params.get(name), self.settings.business_timezone,
                             field=name)

    def date(self, name: str) -> date | None:
        from valhalla_cli.clock import parse_date

        value = self.params.get(name)
        return parse_date(value, option=name) if value is not None else None


@dataclass
class Answer:
    """A handler's result: the data the CLI would print, and whether it is a rule's "no"."""

    data: Any
    refusal: Refusal | None = None  # the service's "no", when the answer is one (409)
    text: str | None = None  # a text body instead of JSON (the runbook as Markdown)
    media_type: str = "application/json"
    # Reads that finish the answer after the request's write transaction has committed, in a
    # read transaction of their own: a write endpoint whose answer needs many reads (the call
    # desk's card) holds SQLite's one writer only for the write itself.
    then: Callable[[Session], Answer] | None = None


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scope: str
    cli: str
    summary: str
    params: tuple[Param, ...]
    handler: Callable[[Call], Answer]
    # What a 200 answers, as "module:Type" or "module:Type[]" for a list (resolved only when
    # the OpenAPI document is built, so importing the routers imports no service).
    returns: str | None = None

    @property
    def write(self) -> bool:
        return self.method == "POST"


@dataclass
class PackRouter:
    """The endpoints of one pack, under one URL prefix, as a FastAPI router."""

    pack: str
    prefix: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def get(self, path: str, *, cli: str, params: Sequence[Param] = (),
            scope: str = "read", returns: str | None = None
            ) -> Callable[[Callable[[Call], Answer]], Callable[[Call], Answer]]:
        return self._add("GET", path, scope, cli, params, returns)

    def post(self, path: str, *, cli: str, scope: str, params: Sequence[Param] = (),
             returns: str | None = None
             ) -> Callable[[Callable[[Call], Answer]], Callable[[Call], Answer]]:
        return self._add("POST", path, scope, cli, params, returns)

    def _add(self, method: str, path: str, scope: str, cli: str, params: Sequence[Param],
             returns: str | None = None
             ) -> Callable[[Callable[[Call], Answer]], Callable[[Call], Answer]]:
        def register(handler: Callable[[Call], Answer]) -> Callable[[Call], Answer]:
            summary = (handler.__doc__ or cli).strip().splitlines()[0]
            self.endpoints.append(Endpoint(method, self.prefix + path, scope, cli, summary,
                                           tuple(params), handler, returns))
            return handler
        return register

    def api_router(self, run: Callable[[Request, Endpoint], Any]) -> APIRouter:
        router = APIRouter(tags=[self.pack])
        for endpoint in self.endpoints:
            router.add_api_route(
                endpoint.path, _route(run, endpoint), methods=[endpoint.method],
                summary=endpoint.summary, description=_description(endpoint),
                operation_id=f"{endpoint.method.lower()}_{_op_name(endpoint.path)}",
                openapi_extra=_openapi(endpoint), include_in_schema=True,
            )
        return router


def _route(run: Callable[[Request, Endpoint], Any], endpoint: Endpoint) -> Callable[..., Any]:
    async def route(request: Request) -> Any:
        return await run(request, endpoint)

    route.__name__ = _op_name(endpoint.path)
    return route


def _op_name(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path.strip("/")).strip("_")


def _description(endpoint: Endpoint) -> str:
    where = "query parameters" if endpoint.method == "GET" else \
        "a JSON object body or query parameters"
    return (f"Mirrors `{endpoint.cli}` (same JSON as its `--format json`). Scope: "
            f"`{endpoint.scope}`. Parameters as {where}. 409 is a rule's no (the whole answer "
            "with its `reason`), 422 bad input (nothing changed).")


def _openapi(endpoint: Endpoint) -> dict[str, Any]:
    parameters = []
    properties: dict[str, Any] = {}
    required = []
    for param in endpoint.params:
        schema = dict(_OPENAPI_TYPES[param.kind])
        if param.default is not None:
            schema["default"] = param.default
        if param.in_path:
            parameters.append({"name": param.name, "in": "path", "required": True,
                               "schema": schema, "description": param.help})
            continue
        parameters.append({"name": param.name, "in": "query", "required":
                           param.required and endpoint.method == "GET", "schema": schema,
                           "description": param.help})
        properties[param.name] = {**schema, "description": param.help}
        if param.required:
            required.append(param.name)
    extra: dict[str, Any] = {"parameters": parameters}
    if endpoint.write and properties:
        body_schema: dict[str, Any] = {"type": "object", "properties": properties,
                                       "additionalProperties": False}
        if required:
            body_schema["required"] = required
        extra["requestBody"] = {"required": False,
                                "content": {"application/json": {"schema": body_schema}}}
    extra["responses"] = {
        "200": {"description": f"What `{endpoint.cli} --format json` prints.",
                "content": {"application/json": {"schema": answer_schema(endpoint.returns)}}},
        "409": {"description": "A rule's no: the whole answer, with its reason."},
        "422": {"description": "Bad input: {\"error\": {\"code\": \"bad_input\", ...}}; "
                "nothing changed."},
        "401": {"description": "No token, a wrong one or a revoked one."},
        "403": {"description": "The token's scope does not allow this."},
        "503": {"description": "Database unavailable, locked or schema out of date."},
    }
    return extra


def answer_schema(returns: str | None) -> dict[str, Any]:
    """The JSON Schema of an answer, from the result type the service returns (its JSON form:
    money as strings, instants as RFC 3339); any JSON object or list when not declared."""
    if returns is None:
        return {"type": ["object", "array"]}
    from importlib import import_module

    from pydantic import TypeAdapter

    module, _, name = returns.partition(":")
    many = name.endswith("[]")
    kind: Any = getattr(import_module(module), name.removesuffix("[]"))
    target: Any = list.__class_getitem__(kind) if many else kind
    schema = TypeAdapter(target).json_schema(mode="serialization")
    return _inline(schema, schema.pop("$defs", {}))


def _inline(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """A schema without `$ref`s into its own `$defs` (an operation's schema must stand alone in
    the OpenAPI document); a type nested past 12 levels is left as any value."""
    if isinstance(node, list):
        return [_inline(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        if depth > 12:
            return {}
        return _inline(defs[ref.removeprefix("#/$defs/")], defs, depth + 1)
    return {key: _inline(value, defs, depth) for key, value in node.items()}


# --- reading and parsing parameters --------------------------------------------------------------

async def read_raw(request: Request, endpoint: Endpoint) -> dict[str, list[Any]]:
    """Every value given for each name: path, query string and (for a POST) the body."""
    raw: dict[str, list[Any]] = {}
    for name, value in request.path_params.items():
        raw.setdefault(name, []).append(value)
    for name, value in request.query_params.multi_items():
        raw.setdefault(name, []).append(value)
    if not endpoint.write:
        return raw
    body = await read_body(request)
    if not body.strip():
        return raw
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        values: dict[str, Any] = {}
        for name, value in pairs:
            values.setdefault(name, []).append(value)
        source = {k: (v if len(v) > 1 else v[0]) for k, v in values.items()}
    else:
        try:
            source = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadInput("the request body is not valid JSON") from None
        except RecursionError:
            # Arrays or objects nested deeper than the decoder's stack (`[` x 100 000 is 200
            # KB, well under the size limit): a hostile body, not a bug.
            raise BadInput("the request body is nested too deeply to be a JSON object of "
                           "parameters") from None
        if not isinstance(source, dict):
            raise BadInput("the request body must be a JSON object of parameters")
    for name, value in source.items():
        if name in raw:
            raise BadInput(f"parameter {name!r} is given both in the body and in the URL")
        raw[name] = [value]
    return raw


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_params(endpoint: Endpoint, raw: dict[str, list[Any]]) -> dict[str, Any]:
    """Typed values for the endpoint's parameters; anything unknown or malformed is bad input."""
    known = {p.name: p for p in endpoint.params}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise BadInput(f"unknown parameter {unknown[0]!r} (this endpoint takes: {names})")
    parsed: dict[str, Any] = {}
    for param in endpoint.params:
        values = raw.get(param.name)
        if values is None or (len(values) == 1 and values[0] is None):
            if param.required:
                raise BadInput(f"parameter {param.name!r} is required")
            parsed[param.name] = param.default
            continue
        parsed[param.name] = _coerce(param, values)
    return parsed


def _coerce(param: Param, values: list[Any]) -> Any:
    if param.kind == "rows":  # a file's rows, given as a JSON list of objects
        value = values[0] if len(values) == 1 else values
        if not isinstance(value, list) or not all(
                isinstance(row, dict) and all(v is None or (isinstance(v, (str, int, float))
                                                            and not isinstance(v, bool))
                                              for v in row.values()) for row in value):
            raise BadInput(f"parameter {param.name!r} must be a list of objects of plain "
                           "values (strings or numbers)")
        return value
    if param.kind == "list":
        items: list[Any] = []
        for value in values:
            items.extend(value if isinstance(value, list) else [value])
        if not all(isinstance(v, str) for v in items):
            raise BadInput(f"parameter {param.name!r} must be a list of strings")
        return items
    if len(values) > 1:
        raise BadInput(f"parameter {param.name!r} is given more than once")
    value = values[0]
    name = param.name
    if param.kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BadInput(f"parameter {name!r} must be a string")
        return value if isinstance(value, str) else str(value)
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise BadInput(f"parameter {name!r} must be true or false, not {value!r}")
    if param.kind == "int":
        from valhalla_cli.inputs import BIGINT_MIN, parse_int

        if not isinstance(value, (str, int)):
            raise BadInput(f"{name}: {value!r} is not a whole number")
        return parse_int(value, field=name, minimum=BIGINT_MIN if param.minimum is None
                         else param.minimum)
    # float
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadInput(f"parameter {name!r} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise BadInput(f"parameter {name!r} must be a number, not {value!r}")
    return float(value)
