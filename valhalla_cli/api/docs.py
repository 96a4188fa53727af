"""`/docs`: Swagger UI served from this server, so the API browser works on an offline host.

FastAPI's own `/docs` page loads Swagger UI's script and stylesheet from a CDN; Valhalla runs
on machines without internet access, where that page is blank. The assets come from the
installed `fastapi-offline` package (Swagger UI 5, which reads OpenAPI 3.1) and are served
under `/docs/assets/`; the page itself names no other host. Without that package `/docs` is a
self-contained page of our own that lists every endpoint from `/openapi.json` (no script from
elsewhere, no "Try it out").

The OpenAPI document is FastAPI's, from the request models, with what FastAPI cannot know added
once when it is first built: the bearer scheme (`components.securitySchemes.bearer`), so Swagger
UI's "Authorize" button takes a token and "Try it out" sends it as `Authorization: Bearer …`;
each endpoint's 200 answer (the service's result type, which the handler serializes itself);
and a POST's fields listed as query parameters too, as `routing.post_fields` takes them. Each
operation stands alone (no `$ref`), as the pages that read it expect.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
# The only files the page loads: no CDN, no fonts, nothing else.
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon.png": "image/png"}
BEARER = "bearer"


def assets_directory() -> Path | None:
    """Swagger UI's files from the installed `fastapi-offline` package (None without it)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def declare_bearer(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the bearer token scheme, required by every /api/ operation
    except the SMS webhook (which is signed by the provider instead)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http", "scheme": "bearer",
        "description": "A token from `valhalla api token create NAME --scope read|operate|admin`."}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/") or path.startswith("/api/webhooks/"):
            continue
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.setdefault("security", [{BEARER: []}])
    return schema


def completed(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with each endpoint's answer, its POST fields as query parameters too,
    and every operation standing alone."""
    from valhalla_cli.api.routers import ROUTERS
    from valhalla_cli.api.routing import answer_schema, inline

    components = schema.get("components", {}).get("schemas", {})
    paths = inline(schema.get("paths", {}), components, "#/components/schemas/")
    for endpoint in (e for pack in ROUTERS for e in pack.endpoints):
        operation = paths[endpoint.path][endpoint.method.lower()]
        answer = operation["responses"]["200"]["content"]["application/json"]
        answer["schema"] = answer_schema(endpoint.returns)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        properties = body.get("schema", {}).get("properties", {})
        operation.setdefault("parameters", []).extend(
            {"name": name, "in": "query", "required": False, "schema": field,
             "description": field.get("description", "")}
            for name, field in properties.items())
    schema["paths"] = paths
    return schema


def mount(app: FastAPI) -> None:
    """`GET /docs` and its assets; the app must be created with `docs_url=None`."""
    folder = assets_directory()
    openapi = app.openapi

    def openapi_with_bearer() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_bearer(completed(openapi()))
        return app.openapi_schema

    app.openapi = openapi_with_bearer  # type: ignore[method-assign]

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> Response:
        if folder is None:
            return HTMLResponse(_plain_page(app.title, openapi_with_bearer()))
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True})

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if folder is None or name not in ASSETS:
            return Response(status_code=404)
        return FileResponse(folder / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})


def _plain_page(title: str, schema: dict[str, Any]) -> str:
    """Every endpoint with its summary and parameters, as one page with inline styles."""
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, op in operations.items():
            if not isinstance(op, dict):
                continue
            params = ", ".join(html.escape(p["name"]) + ("*" if p.get("required") else "")
                               for p in op.get("parameters", []))
            rows.append(f"<tr><td><code>{method.upper()} {html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td><td>{params}</td></tr>")
    return ("<!doctype html><html lang=en><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>body{{font:14px system-ui,sans-serif;"
            "margin:1rem}table{border-collapse:collapse}td{border-top:1px solid #ddd;"
            "padding:.3rem .5rem;vertical-align:top}code{white-space:nowrap}</style>"
            f"<h1>{html.escape(title)}</h1><p>The machine-readable description is "
            "<a href='/openapi.json'>/openapi.json</a>. Every request under /api/ needs "
            "<code>Authorization: Bearer TOKEN</code>.</p><table>" + "".join(rows)
            + "</table></html>")
