"""How an endpoint is declared on FastAPI: its request model, its scope and the `Answer` it returns.

A handler takes its parameters as a pydantic model (`Params`: unknown names are bad input) —
`Annotated[Model, Query()]` for a GET, the JSON body for a POST —, its path parameters with
`Path()`, and `call: Call`, which `PackRouter` binds to the request pipeline of `api.gate`
for the endpoint's scope (one transaction, the schema gate, the token and the scope). It calls
one service and returns an `Answer`, serialized by `wire.json_text`, the same function behind
the CLI's `--format json`. A POST's parameters may also be given in the query string or as a
form-encoded body: `post_fields` turns them into the one JSON object the model validates.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from valhalla_cli.api.body import read_body
from valhalla_cli.api.errors import refusal_headers
from valhalla_cli.api.gate import UNREADABLE, Gate
from valhalla_cli.api.gate import Call as Call  # what a handler is given
from valhalla_cli.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from valhalla_cli.api.database import ServerDatabase
    from valhalla_cli.services.refusals import Refusal


# --- the parameters ------------------------------------------------------------------------------

class Params(BaseModel):
    """A request's parameters, named as the CLI options they mirror (snake_case); any other name
    is bad input, so a typo (`enable` for `enabled`) is never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _text(value: Any) -> Any:
    # A JSON number given for a text parameter is read as its text (`"amount": 5000`), as the
    # CLI reads every option from text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _whole(value: Any) -> Any:
    # The CLI's rule for whole numbers: ASCII digits, within what a BIGINT column holds.
    from valhalla_cli.inputs import parse_int

    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{value!r} is not a whole number")
    try:
        return parse_int(value, field="value")
    except BadInput as exc:
        raise ValueError(exc.message.removeprefix("value: ")) from None


def _number(value: Any) -> Any:
    # A finite number (JSON has no NaN or infinity, and neither has a confidence or a drop).
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)) \
            or not math.isfinite(number):
        raise ValueError(f"{value!r} is not a number")
    return float(number)


def _listed(value: Any) -> Any:
    # One value given for a list parameter is a list of one (`?window=...` once).
    return value if isinstance(value, list) else [value]


def _plain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for value in row.values():
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (str, int, float))):
                raise ValueError("each row's values must be strings or numbers")
    return rows


Text = Annotated[str, BeforeValidator(_text)]
Int = Annotated[int, BeforeValidator(_whole)]
Number = Annotated[float, BeforeValidator(_number)]
Texts = Annotated[list[Text], BeforeValidator(_listed)]
# A file's rows over HTTP: a list of objects of plain values (the CLI reads them from a file).
Rows = Annotated[list[dict[str, Any]], AfterValidator(_plain_rows)]


# --- what a handler gets and returns -------------------------------------------------------------

@dataclass
class Answer:
    """A handler's result: the data the CLI would print, and the service's "no" if it is one."""

    data: Any
    refusal: Refusal | None = None  # the service's "no", when the answer is one (409)
    text: str | None = None  # a text body instead of JSON (the runbook as Markdown)
    media_type: str = "application/json"
    # Reads that finish the answer after the request's write transaction has committed, in a
    # read transaction of their own: a write endpoint whose answer needs many reads (the call
    # desk's card) holds SQLite's one writer only for the write itself.
    then: Callable[[Session], Answer] | None = None


def rendered(answer: Answer) -> Response:
    """A final answer as HTTP: 200, or 409 with the refusal's reason code and sentence."""
    from valhalla_cli.wire import json_text

    refusal = answer.refusal
    if refusal is None:
        if answer.text is not None:
            return Response(answer.text, 200, media_type=answer.media_type)
        return Response(json_text(answer.data), 200, media_type="application/json")
    headers = refusal_headers(refusal.reason, refusal.message)
    if answer.text is not None:
        return Response(answer.text, 409, media_type=answer.media_type, headers=headers)
    return Response(json_text(refused_body(answer.data, refusal)), 409, headers=headers,
                    media_type="application/json")


def refused_body(data: Any, refusal: Refusal) -> Any:
    """The whole answer of a "no", with `refusal`: its reason code and the sentence the CLI
    prints on standard error for it (an answer that is a list stays a list: see the headers)."""
    from valhalla_cli.refusal_line import refusal_line
    from valhalla_cli.wire import jsonable

    body = jsonable(data)
    if isinstance(body, dict):
        body["refusal"] = {"reason": refusal.reason, "message": refusal_line(refusal.message)}
    return body


class Later(Response):
    """An answer finished after the request's transaction has committed (`Answer.then`): its
    reads run in read transactions of their own, without the write lock."""

    def __init__(self, answer: Answer, database: ServerDatabase) -> None:
        super().__init__()
        self.answer, self.database = answer, database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await run_in_threadpool(self._finish)
        await rendered(answer)(scope, receive, send)

    def _finish(self) -> Answer:
        answer = self.answer
        while answer.then is not None:
            with self.database.get().transaction() as session:
                answer = answer.then(session)
        return answer


# --- a POST's parameters from the query string or a form ------------------------------------------

async def post_fields(request: Request) -> dict[str, Any]:
    """A POST's parameters as one JSON object: the body's (JSON, or form-encoded) and the query
    string's (the seed's `curl …/upsert?province=ON&enabled=true`); a name given in both is bad
    input, a name given twice in one is a list."""
    fields = _by_name(request.query_params.multi_items())
    body = await read_body(request)
    if not body.strip():
        return fields
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        source = _by_name(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
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
        if name in fields:
            raise BadInput(f"parameter {name!r} is given both in the body and in the URL")
        fields[name] = value
    return fields


def _by_name(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            before = fields[name]
            fields[name] = [*before, value] if isinstance(before, list) else [before, value]
        else:
            fields[name] = value
    return fields


class PackRoute(APIRoute):
    """FastAPI's route, with a POST's parameters gathered by `post_fields` into the JSON body
    its request model validates (a GET's query string goes to its model as FastAPI reads it).
    Bad input found here is said after the token check (a caller without a token learns
    nothing); a body over the limit is 413 at once."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            async def query_route(request: Request) -> Response:
                # No GET takes a list: a name given twice is bad input, not "the last one wins".
                counts = Counter(name for name, _ in request.query_params.multi_items())
                repeated = sorted(name for name, count in counts.items() if count > 1)
                if repeated:
                    request.scope[UNREADABLE] = BadInput(
                        f"parameter {repeated[0]!r} is given more than once")
                return await handler(request)

            return query_route

        async def route(request: Request) -> Response:
            try:
                fields = await post_fields(request)
            except BadInput as exc:
                request.scope[UNREADABLE] = exc
                fields = {}
            data = json.dumps(fields).encode("utf-8")
            headers = [(k, v) for k, v in request.scope["headers"]
                       if k not in (b"content-type", b"content-length")]
            scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json"),
                                                  (b"content-length", str(len(data)).encode())]}

            async def receive() -> Message:
                return {"type": "http.request", "body": data, "more_body": False}

            return await handler(Request(scope, receive))

        return route


# --- declaring endpoints -------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as the README's table and the CLI parity test read it."""

    method: str
    path: str
    scope: str
    cli: str
    params: tuple[Parameter, ...]
    # What a 200 answers, as "module:Type" or "module:Type[]" for a list (resolved only when
    # the OpenAPI document is built, so importing the routers imports no service).
    returns: str | None = None


RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "A rule's no: the whole answer, with `refusal` (its reason code and "
          "the sentence the CLI prints; headers `Valhalla-Reason` and `Valhalla-Refusal`)."},
    422: {"description": "Bad input: {\"error\": {\"code\": \"bad_input\", \"message\": …}}; "
          "nothing changed."},
    401: {"description": "No token, a wrong one or a revoked one."},
    403: {"description": "The token's scope does not allow this."},
    503: {"description": "Database unavailable, locked or schema out of date."},
}


class PackRouter:
    """The endpoints of one pack under one URL prefix: a FastAPI router, and the list of its
    endpoints with the CLI command each mirrors."""

    def __init__(self, pack: str, prefix: str) -> None:
        self.pack, self.prefix = pack, prefix
        self.api = APIRouter(prefix=prefix, tags=[pack], route_class=PackRoute)
        self.endpoints: list[Endpoint] = []

    def get(self, path: str, *, cli: str, scope: str = "read", returns: str | None = None
            ) -> Callable[[Callable[..., Answer]], Callable[..., Answer]]:
        return self._add("GET", path, scope, cli, returns)

    def post(self, path: str, *, cli: str, scope: str, returns: str | None = None
             ) -> Callable[[Callable[..., Answer]], Callable[..., Answer]]:
        return self._add("POST", path, scope, cli, returns)

    def _add(self, method: str, path: str, scope: str, cli: str, returns: str | None
             ) -> Callable[[Callable[..., Answer]], Callable[..., Answer]]:
        def register(handler: Callable[..., Answer]) -> Callable[..., Answer]:
            gate = Annotated[Call, Depends(Gate(scope, write=method == "POST"),
                                           scope="function")]
            hints = get_type_hints(handler, include_extras=True)
            signature = inspect.signature(handler)
            parameters = [p.replace(annotation=gate if hints[p.name] is Call else hints[p.name])
                          for p in signature.parameters.values()]
            call_name = next(p.name for p in parameters if p.annotation is gate)

            def endpoint(**values: Any) -> Response:
                answer = handler(**values)
                if answer.then is not None:
                    return Later(answer, values[call_name].database)
                return rendered(answer)

            endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=parameters, return_annotation=Response)
            endpoint.__name__ = handler.__name__
            summary = (handler.__doc__ or cli).strip().splitlines()[0]
            self.api.add_api_route(
                path, endpoint, methods=[method], summary=summary,
                description=_description(method, cli, scope, handler.__doc__ or ""),
                operation_id=f"{method.lower()}_{_op_name(self.prefix + path)}",
                responses={200: {"description": f"What `{cli} --format json` prints.",
                                 "content": {"application/json": {}}}, **RESPONSES})
            self.endpoints.append(Endpoint(method, self.prefix + path, scope, cli,
                                           _parameters(path, hints), returns))
            return handler
        return register


def _parameters(path: str, hints: Mapping[str, Any]) -> tuple[Parameter, ...]:
    """The endpoint's parameter names: its path's, then its request model's fields (by alias)."""
    names = [Parameter(name) for name in re.findall(r"{(\w+)}", path)]
    for hint in hints.values():
        model = get_args(hint)[0] if get_origin(hint) is Annotated else hint
        if isinstance(model, type) and issubclass(model, Params):
            names.extend(Parameter(f.alias or name, f.description or "")
                         for name, f in model.model_fields.items())
    return tuple(names)


def _op_name(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path.strip("/")).strip("_")


def _description(method: str, cli: str, scope: str, doc: str) -> str:
    where = ("query parameters" if method == "GET" else
             "a JSON object body, a form-encoded body or query parameters")
    rest = "\n".join(doc.strip().splitlines()[1:]).strip()
    return ((rest + "\n\n" if rest else "")
            + f"Mirrors `{cli}` (same JSON as its `--format json`). Scope: `{scope}`. "
            f"Parameters as {where}. 409 is a rule's no (the whole answer with its `refusal`), "
            "422 bad input (nothing changed).")


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
    return inline(schema, schema.pop("$defs", {}), "#/$defs/")


def inline(node: Any, defs: Mapping[str, Any], prefix: str, depth: int = 0) -> Any:
    """A schema without `$ref`s into `defs` (an operation's schema stands alone in the OpenAPI
    document); a type nested past 12 levels is left as any value."""
    if isinstance(node, list):
        return [inline(item, defs, prefix, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(prefix):
        if depth > 12:
            return {}
        return inline(defs[ref.removeprefix(prefix)], defs, prefix, depth + 1)
    return {key: inline(value, defs, prefix, depth) for key, value in node.items()}
