"""The HTTP face keeps the CLI's promises: `/docs` works on a host without internet access.

The API browser is served from the server itself (Swagger UI's files from an installed
package), the OpenAPI document declares the bearer scheme so "Try it out" sends the token, and
the main endpoints describe their 200 answers.
"""

from __future__ import annotations

import re

import pytest
from browser import browser_or_skip


def test_http_face_keeps_the_cli_promises_docs_page_names_no_other_host(server):
    page = server.get("/docs", scope=None)
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert [u for u in urls if re.match(r"(https?:)?//", u)] == []
    for url in urls:
        if url.startswith("/docs/assets/"):
            asset = server.get(url, scope=None)
            assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_http_face_keeps_the_cli_promises_openapi_declares_bearer_and_answers(server):
    spec = server.get("/openapi.json", scope=None).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path.startswith("/api/") and not path.startswith("/api/webhooks/"):
                assert op.get("security") == [{"bearer": []}], (method, path)
            if path.startswith("/api/"):
                assert "schema" in op["responses"]["200"]["content"]["application/json"]
    create = spec["paths"]["/api/followups/ladder/create"]["post"]["responses"]["200"]
    props = create["content"]["application/json"]["schema"]["properties"]
    assert {"ladder_id", "lead_id", "created", "tasks", "reason"} <= set(props)
    contact = spec["paths"]["/api/governance/market/can-contact"]["get"]["responses"]["200"]
    zones = contact["content"]["application/json"]["schema"]["properties"]["zones"]
    assert "timezone" in zones["items"]["properties"]  # nested types are inlined, no $ref
    assert "$ref" not in str(spec["paths"])


@pytest.mark.slow  # a real server process: Chromium reaches it over loopback
def test_http_face_keeps_the_cli_promises_docs_try_it_out_offline_sends_the_token(
        live_server):
    """In Chromium with every request off this host refused: Swagger UI renders, the token
    given to "Authorize" goes with "Try it out"."""
    server = live_server
    chromium = browser_or_skip()
    context = chromium.browser.new_context()
    page = context.new_page()
    strays: list[str] = []
    sent: list[str | None] = []

    def route(request_route):
        url = request_route.request.url
        if not url.startswith(server.url):
            strays.append(url)
            request_route.abort()
            return
        if "/api/governance/go-live/state" in url:
            sent.append(request_route.request.headers.get("authorization"))
        request_route.continue_()

    try:
        page.route("**/*", route)
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=60_000)
        page.click("button.authorize")
        page.fill(".modal-ux input[type=text], .modal-ux input", server.tokens["read"])
        page.click(".modal-ux .auth-btn-wrapper button.authorize")
        page.click(".modal-ux button.close-modal")
        block = page.locator(".opblock", has_text="/api/governance/go-live/state").first
        block.locator(".opblock-summary").click()
        block.locator("button.try-out__btn").click()
        block.locator("button.execute").click()
        answered = block.locator(".live-responses-table tbody .response-col_status").first
        answered.wait_for(timeout=60_000)
        status = answered.inner_text()
    finally:
        context.close()
        chromium.close()
    assert strays == []
    assert sent == [f"Bearer {server.tokens['read']}"]
    assert status.strip().startswith("200")
