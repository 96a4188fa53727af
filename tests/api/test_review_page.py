"""`GET /` on `valhalla serve` (SPEC 19): the review page behind the `read` scope, signed in once
with a token kept in an HttpOnly, SameSite=Strict cookie. The server's application through httpx,
and (for what a browser does with the form and the cookie) a real server and headless Chromium."""

from __future__ import annotations

import pytest
import review_scenarios
from browser import Visit, assert_sections_match, browser_or_skip
from conftest import Cli
from review_scenarios import AT

httpx = pytest.importorskip("httpx")

COOKIE = "valhalla_review"


def _client(server, **kwargs) -> httpx.Client:
    return server.client(None, follow_redirects=False, **kwargs)


def _sign_in(server, client, scope="read") -> httpx.Response:
    return client.post("/login", data={"token": server.tokens[scope]})


def test_signed_out_the_page_is_the_sign_in_form_only(server):
    with _client(server) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login">' in page.text
    assert 'name="token"' in page.text and 'type="password"' in page.text
    # No figure of the review: no section, no money, no check.
    for figure in ('id="risk"', 'id="runbook"', "50,000.00", "Risk today", "kill switch",
                   "heimdall", "GLOBAL"):
        assert figure not in page.text, figure
    assert "set-cookie" not in page.headers


def test_a_wrong_token_is_refused_with_the_form_again(server):
    with _client(server) as client:
        refused = client.post("/login", data={"token": "vh_not-a-token"})
        assert refused.status_code == 401
        assert '<form method="post" action="/login">' in refused.text
        assert "not valid" in refused.text and "set-cookie" not in refused.headers
        empty = client.post("/login", data={})
        assert empty.status_code == 401 and "set-cookie" not in empty.headers
        assert 'id="risk"' not in client.get("/").text


def test_sign_in_sets_an_httponly_strict_cookie_and_shows_the_page(server, cli, db):
    review_scenarios.alarm(cli, db)
    with _client(server) as client:
        signed = _sign_in(server, client)
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={server.tokens['read']};")
        attributes = [part.strip() for part in cookie.split(";")[1:]]
        assert "HttpOnly" in attributes and "SameSite=Strict" in attributes
        assert "Path=/" in attributes
        page = client.get("/", params={"at": AT})
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    for section in ('id="golive"', 'id="risk"', 'id="levers"', 'id="heimdall"', 'id="sla"',
                    'id="kpi"', 'id="tasks"', 'id="dncl"', 'id="scorecard"', 'id="runbook"',
                    'id="alert-kill-switch"', 'id="alert-breach-marketing"',
                    'id="alert-lever-followups"', "Signed in as t-read"):
        assert section in page.text, section
    # The same page as the CLI's for the same instant, but for the sign-out button.
    # (with the server's config file: a runbook fix names the config file in use)
    config = server.log_path.parent / "serve-config.toml"
    cli_page = cli("--config", str(config), "status", "--at", AT, "--format", "html").stdout
    assert _without_sign_out(page.text) == _without_sign_out(cli_page)
    assert server.tokens["read"] not in server.log()  # the log names the token, never shows it
    assert "token=t-read" in server.log()


def _without_sign_out(html: str) -> str:
    start = html.find('  <div class="small muted">Signed in as')
    if start == -1:
        return html
    end = html.index("</div>", start) + len("</div>\n")
    return html[:start] + html[end:]


def test_a_bad_instant_is_bad_input(server):
    with _client(server) as client:
        assert _sign_in(server, client).status_code == 303
        bad = client.get("/", params={"at": "next monday"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_input"


def test_the_cookie_never_authorizes_a_change(server):
    with _client(server) as client:
        assert _sign_in(server, client, "admin").status_code == 303
        assert client.get("/api/governance/go-live/state").status_code == 200  # a read: yes
        engage = client.post("/api/governance/go-live/kill-switch/engage",
                             json={"reason": "from a cookie"})
    assert engage.status_code == 401
    state = Cli(server.db_url)("golive", "state", "--format", "json").json
    assert state["kill_switch"] is False


def test_sign_out_clears_the_cookie(server):
    with _client(server) as client:
        assert _sign_in(server, client).status_code == 303
        out = client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/"
        cleared = out.headers["set-cookie"]
        assert cleared.startswith(f"{COOKIE}=;") and "Max-Age=0" in cleared
        assert "HttpOnly" in cleared and "SameSite=Strict" in cleared
        after = client.get("/")
    assert after.status_code == 200 and 'action="/login"' in after.text
    assert 'id="risk"' not in after.text


def test_a_revoked_token_signs_the_browser_out(server):
    with _client(server) as client:
        assert _sign_in(server, client).status_code == 303
        revoked = Cli(server.db_url)("api", "token", "revoke", "t-read", "--reason", "left")
        assert revoked.exit_code == 0
        page = client.get("/")
    assert page.status_code == 200 and 'action="/login"' in page.text
    assert "no longer valid" in page.text and 'id="risk"' not in page.text
    assert "Max-Age=0" in page.headers["set-cookie"]


def test_a_sign_in_posted_from_another_site_is_refused(server):
    with _client(server) as client:
        refused = client.post("/login", data={"token": server.tokens["read"]},
                              headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


@pytest.mark.parametrize("headers", [
    {"Referer": "http://evil.example/page"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Referer": "http://evil.example/"},
])
def test_issue19_defect_16_a_sign_in_without_origin_but_from_another_site_is_refused(server,
                                                                                      headers):
    with _client(server) as client:
        refused = client.post("/login", data={"token": server.tokens["read"]}, headers=headers)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_issue19_defect_16_a_sign_in_from_the_own_page_or_a_script_still_works(server):
    own = {"Referer": server.url + "/", "Sec-Fetch-Site": "same-origin"}
    for headers in (own, {}):
        with _client(server) as client:
            answer = client.post("/login", data={"token": server.tokens["read"]},
                                 headers=headers)
        assert answer.status_code == 303, (headers, answer.text[:200])
        assert "set-cookie" in answer.headers


@pytest.fixture(scope="module")
def browser():
    chromium = browser_or_skip()
    yield chromium
    chromium.close()


@pytest.mark.slow  # a real server process: Chromium reaches it over loopback
def test_in_a_browser_sign_in_see_the_page_sign_out(live_server, cli, db, browser, db_url):
    server = live_server
    review_scenarios.busy(cli, db)
    config = server.log_path.parent / "serve-config.toml"  # the server's: fixes name it
    view = cli("--config", str(config), "status", "--at", AT, "--json").json
    visit = Visit(browser)
    shots = db_url.startswith("sqlite")
    try:
        page = visit.page
        page.goto(server.url + "/")
        assert page.locator("section#risk").count() == 0
        assert page.locator("form[action='/login'] input#token").count() == 1
        if shots:
            visit.screenshot("server-sign-in")
        page.fill("#token", server.tokens["read"])
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/")
        assert "Signed in as t-read" in page.inner_text("#summary")
        (cookie,) = visit.context.cookies()
        assert cookie["name"] == COOKIE and cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        # The page cannot read its own cookie.
        assert COOKIE not in page.evaluate("document.cookie")
        page.goto(server.url + "/?at=" + AT.replace("+", "%2B"))
        assert_sections_match(visit, view)
        if shots:
            visit.screenshot("server-signed-in")
        page.click("form[action='/logout'] button")
        page.wait_for_url(server.url + "/")
        assert page.locator("form[action='/login']").count() == 1
        assert visit.context.cookies() == []
        visit.assert_quiet()
        visit.assert_requests_only_to(server.url + "/")
    finally:
        visit.close()
