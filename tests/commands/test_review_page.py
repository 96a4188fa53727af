"""The Monday review as a page (SPEC 19): `valhalla status --format html`, in a real browser.

Each scenario (a fresh install, a busy week, an alarm: kill switch thrown, a cap breached, a
lever throttled) renders the page to a file, opens it in headless Chromium and asserts every
section against `valhalla status --json` for the same --at; no console error, no request but
the file itself. Screenshots go to artifacts/screenshots/ (named in the README).
"""

from __future__ import annotations

import re

import pytest
import review_scenarios
from browser import PHONE, SCREENSHOTS, Visit, assert_sections_match, browser_or_skip, money
from conftest import snapshot_tables
from review_scenarios import AT


@pytest.fixture(scope="module")
def browser():
    chromium = browser_or_skip()
    yield chromium
    chromium.close()


def _page_and_view(cli, tmp_path):
    page = cli("status", "--at", AT, "--format", "html")
    view = cli("status", "--at", AT, "--json")
    assert page.exit_code == view.exit_code
    path = tmp_path / "review.html"
    path.write_text(page.stdout, encoding="utf-8")
    return page, view.json, path


SCENARIOS = {"fresh": None, "busy": review_scenarios.busy, "alarm": review_scenarios.alarm}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_page_from_the_file_shows_the_json_status(cli, db, tmp_path, browser, scenario, db_url):
    if SCENARIOS[scenario]:
        SCENARIOS[scenario](cli, db)
    page, view, path = _page_and_view(cli, tmp_path)
    visit = Visit(browser)
    try:
        visit.page.goto(path.as_uri())
        assert_sections_match(visit, view)
        visit.assert_quiet()
        visit.assert_requests_only_to(path.as_uri())
        if db_url.startswith("sqlite"):  # one set of pictures is enough
            visit.screenshot(f"file-{scenario}")
            (SCREENSHOTS / f"file-{scenario}.html").write_text(page.stdout, encoding="utf-8")
            if scenario == "alarm":
                visit.screenshot("file-alarm-print", print_media=True)
    finally:
        visit.close()
    if scenario == "alarm":
        phone = Visit(browser, PHONE)
        try:
            phone.page.goto(path.as_uri())
            # Nothing sticks out sideways on a phone: the page is as wide as the screen.
            width = phone.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], width
            assert_sections_match(phone, view)
            if db_url.startswith("sqlite"):
                phone.screenshot("file-alarm-phone")
        finally:
            phone.close()


def test_fresh_install_page_is_ok_and_self_contained(cli, db):
    before = snapshot_tables(db)
    result = cli("status", "--at", AT, "--format", "html")
    assert result.exit_code == 0 and result.stderr == ""
    html = result.stdout
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "OK to enable go-live" in html and 'id="alerts"' not in html
    # Self-contained: no script, no external style, font, image or link to fetch.
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"(src|href)\s*=", html, re.I)
    assert not re.search(r"url\(|@import|https?://", html, re.I)
    assert snapshot_tables(db) == before  # read-only


def test_alarm_page_is_a_no_with_every_alarm_up_front(cli, db):
    review_scenarios.alarm(cli, db)
    result = cli("status", "--at", AT, "--format", "html")
    assert result.exit_code == 1  # the whole page is printed, then the "no"
    assert result.stderr.strip() == ("valhalla: not OK to enable go-live: failing checks: "
                                     "golive, risk, regression (see `valhalla runbook status`)")
    html = result.stdout
    alerts = html[html.index('id="alerts"'):html.index('id="golive"')]
    for marker in ('id="alert-kill-switch"', 'id="alert-breach-marketing"',
                   'id="alert-lever-followups"', "valhalla golive kill-switch release",
                   "valhalla regression release followups", f"by {money('1250.75')}"):
        assert marker in alerts, marker
    # The operator's reason is shown, escaped: it never becomes markup.
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; fire drill" in html
    assert "<script>" not in html


def test_html_renders_only_for_status(cli):
    result = cli("runbook", "status", "--format", "html")
    assert result.exit_code == 2 and "--format must be one of" in result.stderr
