"""`GET /desk` (SPEC 23): the call desk page. Its sign-in, scope, owner and security headers
over HTTP, and what a caller does with it in headless Chromium: two callers of one owner at
once, dispositions recorded as `ladder complete` records them, a STOP while a card is open,
`do_not_call`, the keys, and the page at desktop and phone width (screenshots kept)."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator

import pytest
from browser import SCREENSHOTS, Visit, browser_or_skip
from conftest import db_count, run_valhalla

from api.conftest import TWILIO_AUTH_TOKEN, start_server
from valhalla_cli.services.webhooks import twilio_signature

httpx = pytest.importorskip("httpx")
# Every test here works against a real `valhalla serve` process (a browser needs a URL).
pytestmark = pytest.mark.slow

COOKIE = "valhalla_review"
AT = "2027-01-15T10:00:00-05:00"  # a Friday morning in Toronto: calls are allowed
AT_QUERY = AT.replace("+", "%2B")
INBOUND = "/api/webhooks/sms/inbound"
ENV = {"VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
       "VALHALLA_BUSINESS_CALLBACK": "+14165550111", "VALHALLA_SENDER_PROVIDER": "log"}
# Calls first: every lead's first step is a call due at once.
CONFIG = (f'[api]\ntwilio_auth_token = "{TWILIO_AUTH_TOKEN}"\n'
          '[ladder]\nsteps = ["CALL 0m", "SMS 1d", "CALL 2d"]\n')
LEADS = {"L-1": ("Ada Tremblay", "+14165550101"), "L-2": ("Bo Singh", "+14165550102"),
         "L-3": ("Cy Roy", "+14165550103"), "L-4": ("Di Chen", "+14165550104")}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def desk(db_url, tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    srv = start_server(db_url, tmp_path, env=ENV, config_text=CONFIG)
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def vh(server, *args: str):
    config = server.log_path.parent / "serve-config.toml"
    return run_valhalla("--config", str(config), *args, db_url=server.db_url, env=ENV)


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


def token(server, name: str, scope: str, *extra: str) -> str:
    made = ok(vh(server, "api", "token", "create", name, "--scope", scope, *extra, "--json"))
    server.tokens[name] = made.json["token"]
    return made.json["token"]


def lead(server, lead_id: str, owner: str = "va1") -> None:
    name, phone = LEADS[lead_id]
    ok(vh(server, "ladder", "create", lead_id, "--province", "ON", "--phone", phone, "--name",
          name, "--owner", owner, "--consent", "express", "--at", AT, "--json"))


def go_live(server) -> None:
    ok(vh(server, "golive", "enable", "--reason", "desk test", "--at", AT))


def inbound(server, sid: str, phone: str, body: str) -> None:
    form = {"MessageSid": sid, "From": phone, "To": "+14165559999", "Body": body,
            "AccountSid": "AC1"}
    signature = twilio_signature(TWILIO_AUTH_TOKEN, server.url + INBOUND, form.items())
    with server.client(None) as client:
        answer = client.post(INBOUND, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200, answer.text


@contextlib.contextmanager
def signed_in(server, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=False) as client:
        signed = client.post("/login", data={"token": server.tokens[name], "next": "/desk"})
        assert signed.status_code == 303 and signed.headers["location"] == "/desk", signed.text
        yield client


# --- over HTTP --------------------------------------------------------------------------------

def test_signed_out_the_desk_is_the_sign_in_form_that_returns_to_the_desk(desk):
    with httpx.Client(base_url=desk.url, timeout=60) as client:
        page = client.get("/desk")
    assert page.status_code == 200
    assert '<form method="post" action="/login">' in page.text
    assert '<input type="hidden" name="next" value="/desk">' in page.text
    assert "Next call" not in page.text and "<script" not in page.text


def test_a_sign_in_returns_only_to_the_pages_of_this_server(desk):
    read = token(desk, "reader", "read")
    with httpx.Client(base_url=desk.url, timeout=60, follow_redirects=False) as client:
        away = client.post("/login", data={"token": read, "next": "http://evil.example/"})
    assert away.status_code == 303 and away.headers["location"] == "/"


def test_a_read_token_is_403_and_an_operate_token_gets_the_page_with_its_nonce(desk):
    token(desk, "reader", "read")
    token(desk, "ana", "operate")
    with signed_in(desk, "reader") as client:
        refused = client.get("/desk")
    assert refused.status_code == 403
    assert "'read' scope" in html.unescape(refused.text) and "Next call" not in refused.text
    with signed_in(desk, "ana") as client:
        page = client.get("/desk", params={"at": AT})
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy).group(1)
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    # The one script carries this response's nonce; a second page gets another.
    assert page.text.count("<script") == 1 and f'<script nonce="{nonce}">' in page.text
    assert 'data-at="2027-01-15T15:00:00Z"' in page.text
    assert "Next call" in page.text and "Signed in as ana" in page.text
    with signed_in(desk, "ana") as client:
        again = client.get("/desk")
    assert nonce not in again.headers["content-security-policy"]
    assert 'data-at=""' in again.text


def test_a_bad_instant_is_bad_input(desk):
    token(desk, "ana", "operate")
    with signed_in(desk, "ana") as client:
        bad = client.get("/desk", params={"at": "yesterday-ish"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_input"


def test_only_an_admin_may_choose_the_owner(desk):
    token(desk, "ana", "operate", "--owner", "va1")
    token(desk, "boss", "admin")
    with signed_in(desk, "ana") as client:
        other = client.get("/desk", params={"owner": "va2"})
        own = client.get("/desk", params={"owner": "va1"})
    assert other.status_code == 403
    assert "only an admin token may open another owner" in html.unescape(other.text)
    assert own.status_code == 200 and 'data-owner=""' in own.text
    with signed_in(desk, "boss") as client:
        chosen = client.get("/desk", params={"owner": "va2"})
    assert chosen.status_code == 200 and "Call desk — va2" in chosen.text
    assert 'data-owner="va2"' in chosen.text


def test_the_cookie_changes_nothing_without_the_sessions_form_token(desk, db):
    from valhalla_cli.api.auth import form_token

    token(desk, "ana", "operate")
    lead(desk, "L-1")
    inbound(desk, "SM1", LEADS["L-1"][1], "Who is this? Call me after 5")
    close = {"outcome": "contacted", "note": "called back"}
    with signed_in(desk, "ana") as client:
        forged = client.post("/api/inbox/L-1/close", json=close)
        wrong = client.post("/api/inbox/L-1/close", json=close,
                            headers={"X-Valhalla-Form": form_token("vh_another-session")})
        assert forged.status_code == 401 and wrong.status_code == 401
        status = run_valhalla("inbox", "--json", db_url=desk.db_url).json
        assert [item["lead_id"] for item in status] == ["L-1"]
        page = client.get("/desk")
        form = re.search(r'data-form="([0-9a-f]{64})"', page.text).group(1)
        closed = client.post("/api/inbox/L-1/close", json=close,
                             headers={"X-Valhalla-Form": form})
    assert closed.status_code == 200, closed.text
    assert run_valhalla("inbox", "--json", db_url=desk.db_url).json == []


# --- in a browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    chromium = browser_or_skip()
    yield chromium
    chromium.close()


def open_desk(browser, server, name: str, viewport=None, query: str = f"?at={AT_QUERY}"):
    visit = Visit(browser, viewport or DESKTOP)
    page = visit.page
    page.goto(server.url + "/desk")
    page.fill("#token", server.tokens[name])
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/desk")
    page.wait_for_function("() => document.getElementById('due').textContent !== '–'")
    visit.requests.clear()  # from here on, the desk of the replayed instant
    page.goto(server.url + "/desk" + query)
    # (functions, not strings: the page's CSP forbids eval, which a string predicate needs)
    page.wait_for_function("() => document.getElementById('due').textContent !== '–'")
    return visit


def card_of(visit) -> tuple[int, str]:
    card = visit.page.wait_for_selector("[data-task-id]")
    return int(card.get_attribute("data-task-id")), card.get_attribute("data-lead-id")


def wait_outcome(visit, text: str) -> str:
    visit.page.wait_for_function(
        "t => document.getElementById('outcome').textContent.includes(t)", arg=text)
    return visit.text("#outcome")


def test_two_callers_of_one_owner_never_get_the_same_task(desk, browser, db_url):
    go_live(desk)
    for lead_id in LEADS:
        lead(desk, lead_id)
    token(desk, "ana", "operate", "--owner", "va1")
    token(desk, "ben", "operate", "--owner", "va1")
    ana, ben = open_desk(browser, desk, "ana"), open_desk(browser, desk, "ben")
    try:
        assert ana.text("#due") == "4" and ben.text("#due") == "4"
        seen: list[int] = []
        for _round in range(2):
            # Both press Next call at once: a click returns before its request is answered,
            # so the two claims race on the server.
            for visit in (ana, ben):
                visit.page.click("#next")
            held = [card_of(ana), card_of(ben)]
            assert held[0][0] != held[1][0], held
            seen += [task for task, _lead in held]
            for visit in (ana, ben):
                visit.page.get_by_role("button", name="Contacted").click()
                wait_outcome(visit, "Contacted recorded")
        assert len(set(seen)) == 4
        ana.page.click("#next")
        ana.page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Nothing is due')")
        assert ana.page.locator("[data-task-id]").count() == 0
        for visit in (ana, ben):
            visit.assert_quiet()
            visit.assert_requests_only_to(desk.url + "/")
            # `/desk?at=T` replays T: every request of the page carries it.
            api = [url for url in visit.requests if "/api/" in url]
            assert api and all("at=2027-01-15T15%3A00%3A00Z" in url for url in api), api
    finally:
        ana.close()
        ben.close()


def _ladder(server, lead_id: str) -> list[tuple]:
    [shown] = ok(vh(server, "ladder", "show", lead_id, "--json")).json
    return [(t["step"], t["channel"], t["status"], t["outcome"], t["due_at"], t["attempt"],
             t["response_minutes"]) for t in shown["tasks"]]


def test_a_disposition_updates_the_ladder_as_the_cli_would(desk, browser):
    go_live(desk)
    lead(desk, "L-1")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        visit.page.get_by_role("button", name="Next call").click()
        task, lead_id = card_of(visit)
        assert lead_id == "L-1" and visit.text("#card-name") == "Ada Tremblay"
        # A disposition is required before the next call.
        assert visit.page.get_by_role("button", name="Next call").is_disabled()
        visit.page.get_by_role("button", name="No answer").click()
        wait_outcome(visit, "No answer recorded")
        assert visit.page.locator("[data-task-id]").count() == 0
        visit.assert_quiet()
    finally:
        visit.close()
    # The same on a twin lead with the CLI: dispatch, then ladder complete with the claim token.
    lead(desk, "L-2")
    [claim] = ok(vh(desk, "ladder", "dispatch", "--channel", "CALL", "--limit", "1",
                    "--at", AT, "--json")).json
    assert claim["lead_id"] == "L-2"
    ok(vh(desk, "ladder", "complete", str(claim["task_id"]), "--outcome", "no_answer",
          "--claim-token", claim["claim_token"], "--at", AT))
    desk_ladder, cli_ladder = _ladder(desk, "L-1"), _ladder(desk, "L-2")
    assert desk_ladder == cli_ladder
    assert desk_ladder[0][2:4] == ("done", "no_answer")
    assert task not in (claim["task_id"],)


def test_a_stop_while_the_card_is_open_turns_the_call_button_into_the_reason(desk, browser):
    go_live(desk)
    lead(desk, "L-1")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        page = visit.page
        page.get_by_role("button", name="Next call").click()
        card_of(visit)
        call = page.get_by_role("link", name="Call", exact=True)
        assert call.get_attribute("href") == "tel:" + LEADS["L-1"][1]
        inbound(desk, "SM9", LEADS["L-1"][1], "STOP")
        call.click()
        reason = page.wait_for_selector("#call-reason")
        assert "Do not call" in reason.inner_text()
        assert page.get_by_role("link", name="Call", exact=True).count() == 0
        assert page.get_by_role("button", name="Call", exact=True).count() == 0
        if desk.db_url.startswith("sqlite"):
            visit.screenshot("desk-call-refused")
        visit.assert_quiet()
        visit.assert_requests_only_to(desk.url + "/")
    finally:
        visit.close()


def test_do_not_call_suppresses_the_number_and_says_until_when(desk, browser):
    go_live(desk)
    lead(desk, "L-1")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        visit.page.get_by_role("button", name="Next call").click()
        card_of(visit)
        visit.page.get_by_role("button", name="Do not call").click()
        said = wait_outcome(visit, "do-not-call list")
        # Three years and fourteen days after the day it was recorded.
        assert "added to the do-not-call list on 2027-01-15, kept until 2030-01-29" in said
        visit.assert_quiet()
    finally:
        visit.close()
    answer = vh(desk, "market", "can-contact", "ON", "--channel", "CALL", "--phone",
                LEADS["L-1"][1], "--at", AT, "--json")
    assert answer.json["allowed"] is False, answer.stdout


def test_the_keys_next_call_and_the_dispositions(desk, browser):
    go_live(desk)
    lead(desk, "L-1")
    lead(desk, "L-2")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        page = visit.page
        page.keyboard.press("n")
        first, _lead = card_of(visit)
        page.keyboard.press("n")  # no second card before a disposition
        assert card_of(visit)[0] == first
        page.keyboard.press("2")  # Voicemail
        wait_outcome(visit, "Voicemail recorded")
        page.keyboard.press("n")
        second, _lead = card_of(visit)
        assert second != first
        # Typing a note does not press keys.
        page.fill("#note", "n1 left a message")
        assert page.locator("[data-task-id]").count() == 1
        page.keyboard.press("Escape")  # leaves the field
        page.keyboard.press("3")  # Contacted
        wait_outcome(visit, "Contacted recorded")
        visit.assert_quiet()
    finally:
        visit.close()
    first_calls = {_ladder(desk, lead_id)[0][2:4] for lead_id in ("L-1", "L-2")}
    assert first_calls == {("done", "voicemail"), ("done", "contacted")}


def test_the_desk_at_desktop_and_phone_width(desk, browser, db_url):
    go_live(desk)
    for lead_id in LEADS:
        lead(desk, lead_id)
    inbound(desk, "SM1", LEADS["L-4"][1], "Yes, I might sell. Call me after <b>5</b> & ask for Di")
    token(desk, "ana", "operate", "--owner", "va1")
    shots = db_url.startswith("sqlite")
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        visit = open_desk(browser, desk, "ana", viewport)
        try:
            page = visit.page
            page.get_by_role("button", name="Next call").click()
            card_of(visit)
            assert "Maple Home Buyers" in visit.text("#script")
            # Text stays text: the lead's message is shown, never parsed as markup.
            page.wait_for_selector("#inbox .item")
            assert "<b>5</b> & ask for Di" in visit.text("#inbox")
            assert page.locator("#inbox b").count() == 0
            for name in ("No answer", "Voicemail", "Contacted", "Appointment", "Not interested",
                         "Wrong number", "Do not call"):
                assert page.get_by_role("button", name=name).is_visible(), name
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], (label, wide)
            if shots:
                visit.screenshot(f"desk-{label}")
            visit.assert_quiet()
            visit.assert_requests_only_to(desk.url + "/")
            page.get_by_role("button", name="No answer").click()
            wait_outcome(visit, "No answer recorded")
        finally:
            visit.close()
    if shots:
        assert (SCREENSHOTS / "desk-desktop.png").exists()
        assert (SCREENSHOTS / "desk-phone.png").exists()


def test_a_lost_lease_says_so_and_records_nothing(desk, browser, db):
    go_live(desk)
    lead(desk, "L-1")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        visit.page.get_by_role("button", name="Next call").click()
        task, _lead = card_of(visit)
        # Meanwhile the operator releases the task and the cron claims it again.
        ok(vh(desk, "ladder", "release", str(task), "--reason", "sender restarted", "--at", AT))
        [claim] = ok(vh(desk, "ladder", "dispatch", "--channel", "CALL", "--at", AT,
                        "--json")).json
        assert claim["task_id"] == task
        visit.page.get_by_role("button", name="Contacted").click()
        said = wait_outcome(visit, "Lease lost")
        assert "nothing was recorded" in said
        assert visit.page.locator("[data-task-id]").count() == 0
        assert visit.page.get_by_role("button", name="Next call").is_enabled()
        # The browser logs the 409 answer itself; nothing else went wrong.
        assert [text for kind, text in visit.console if kind in ("error", "warning")] == [
            "Failed to load resource: the server responded with a status of 409 (Conflict)"]
        assert visit.errors == []
    finally:
        visit.close()
    assert _ladder(desk, "L-1")[0][2:4] == ("claimed", None)


def test_the_inbox_reply_box_and_close_post_to_the_inbox(desk, browser, db):
    go_live(desk)
    lead(desk, "L-1")
    lead(desk, "L-2", owner="va2")  # another owner's item is not on this desk
    inbound(desk, "SM1", LEADS["L-1"][1], "Is this about my house on Elm St?")
    inbound(desk, "SM2", LEADS["L-2"][1], "Who gave you my number?")
    token(desk, "ana", "operate", "--owner", "va1")
    visit = open_desk(browser, desk, "ana")
    try:
        page = visit.page
        item = page.wait_for_selector("#inbox .item[data-lead-id='L-1']")
        assert page.locator("#inbox .item").count() == 1
        assert "Is this about my house on Elm St?" in item.inner_text()
        page.get_by_label("Reply to Ada Tremblay").fill("Yes, Ada: may I call you today?")
        page.get_by_label("record inquiry").check()
        page.get_by_role("button", name="Send reply").click()
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Reply sent')")
        sent = db_count(db, "SELECT COUNT(*) FROM outbound_message WHERE lead_id = 'L-1' AND "
                            "body LIKE 'Yes, Ada: may I call you today?%'")
        assert sent == 1
        page.get_by_label("Outcome for Ada Tremblay").select_option("contacted")
        page.get_by_role("button", name="Close item").click()
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Closed Ada')")
        page.wait_for_selector("text=No lead waits for an answer.")
        visit.assert_quiet()
    finally:
        visit.close()
    open_items = run_valhalla("inbox", "--owner", "va1", "--json", db_url=desk.db_url).json
    assert open_items == []


def test_calling_through_the_business_number_rings_the_caller_then_the_lead(
        db_url, tmp_path, monkeypatch, browser, db):
    from twilio_double import TwilioDouble

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with TwilioDouble() as double:
        config = double.config(extra='voice_from = "+14165550111"\n') + (
            f'[api]\ntwilio_auth_token = "{double.auth_token}"\n'
            '[ladder]\nsteps = ["CALL 0m", "SMS 1d", "CALL 2d"]\n')
        srv = start_server(db_url, tmp_path, env=ENV, config_text=config)
        try:
            go_live(srv)
            lead(srv, "L-1")
            token(srv, "ana", "operate", "--owner", "va1", "--phone", "+14165550123")
            visit = open_desk(browser, srv, "ana")
            try:
                page = visit.page
                page.get_by_role("button", name="Next call").click()
                card_of(visit)
                assert page.get_by_role("link", name="Call", exact=True).count() == 0
                page.get_by_role("button", name="Call", exact=True).click()
                page.wait_for_function(
                    "() => document.getElementById('status').textContent.includes('rings')")
                [request] = double.call_creates()
                assert request.form["To"] == "+14165550123"  # the caller's phone first
                assert request.form["From"] == "+14165550111"
                [sid] = list(double.calls)
                bridged = double.wait_call(sid)
                assert bridged["bridge_status"] == 200
                assert 'callerId="+14165550111"' in bridged["twiml"]
                assert LEADS["L-1"][1] in bridged["twiml"]
                visit.assert_quiet()
            finally:
                visit.close()
        finally:
            srv.stop()
        assert "Traceback" not in srv.log(), srv.log()
    assert db_count(db, "SELECT COUNT(*) FROM call WHERE task_id IS NOT NULL") == 1
