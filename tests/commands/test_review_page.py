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


SCENARIOS = {"fresh": None, "busy": review_scenarios.busy, "alarm": review_scenarios.alarm,
             "dncl-stale": review_scenarios.dncl_stale}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_page_from_the_file_shows_the_json_status(cli, db, tmp_path, browser, scenario, db_url):
    if SCENARIOS[scenario]:
        SCENARIOS[scenario](cli, db)
    page, view, path = _page_and_view(cli, tmp_path)
    if scenario == "dncl-stale":  # the scenario really holds tasks, one for each reason
        assert (view["tasks"]["held_dncl_not_checked"],
                view["tasks"]["held_no_identification"]) == (1, 1)
        assert view["runbook"]["failing"] == ["dncl"]
    visit = Visit(browser)
    try:
        visit.page.goto(path.as_uri())
        assert_sections_match(visit, view)
        if scenario == "dncl-stale":
            held = visit.page.locator("section#tasks .fact.fail[data-held]")
            assert held.count() == 2
            assert visit.page.locator("section#dncl.prominent tr.fail[data-area='905']"
                                      ).count() == 1
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


def test_sections_of_newer_packs_show_when_the_status_has_them(cli, tmp_path, browser, db_url):
    """DNCL freshness, held tasks and the scorecard come from other packs' status fields: the
    page shows whatever figures the overview carries (here written into a real overview)."""
    from valhalla_cli.review_page import render_review

    view = cli("status", "--at", AT, "--json").json
    view["tasks"].update({"held_dncl_not_checked": 3, "held_no_identification": 0})
    view["dncl"].update(imported=True, areas=[
        {"area_code": "416", "as_of": "2027-06-01", "age_days": 14, "numbers": 120345,
         "fresh": True, "imported_at": "2027-06-01T13:00:00Z", "imported_by": "ops"},
        {"area_code": "604", "as_of": "2027-05-01", "age_days": 45, "numbers": 98000,
         "fresh": False, "imported_at": "2027-05-01T16:00:00Z", "imported_by": "ops"}])
    view["scorecard"] = {
        "since": "2027-05-04", "until": "2027-06-15", "generated_at": view["generated_at"],
        "ok": False, "reason": "targets_missed", "missed": ["offer_accept_rate"],
        "metrics": [
            {"metric": "runbook_gate", "value": 1.0, "target": "== 1.00", "comparison": "==",
             "threshold": 1.0, "met": True, "detail": "valhalla runbook status"},
            {"metric": "offer_accept_rate", "value": 0.3125, "target": "> 0.40",
             "comparison": ">", "threshold": 0.4, "met": False,
             "detail": "valhalla offer funnel --since 2027-05-04 --until 2027-06-15"},
            {"metric": "buyer_response_rate", "value": None, "target": "> 0.60",
             "comparison": ">", "threshold": 0.6, "met": None, "detail": "valhalla liquidity "
             "nodes"}]}
    path = tmp_path / "review.html"
    path.write_text(render_review(view), encoding="utf-8")
    visit = Visit(browser)
    try:
        visit.page.goto(path.as_uri())
        assert_sections_match(visit, view)
        dncl = visit.text("section#dncl")
        for area in view["dncl"]["areas"]:
            assert area["area_code"] in dncl and area["as_of"] in dncl
        visit.assert_quiet()
        if db_url.startswith("sqlite"):
            visit.screenshot("file-newer-sections")
    finally:
        visit.close()


def _html(db_url, tmpdir):
    from conftest import run_valhalla

    proc = run_valhalla("status", "--at", AT, "--format", "html", db_url=db_url,
                        env={"TMPDIR": str(tmpdir)})
    assert proc.exit_code in (0, 1), proc.stderr
    assert proc.stdout.startswith("<!DOCTYPE html>") and not proc.stderr
    return proc.stdout


def test_a_process_loads_the_page_compiled_and_a_broken_cache_is_never_an_error(db, db_url,
                                                                               tmp_path):
    """The compiled page is kept between processes (Jinja2's cache, under the temporary
    directory); a damaged cache file, or a cache directory that cannot be made, still gives
    the same page."""
    page = _html(db_url, tmp_path)
    kept = sorted(tmp_path.glob("_jinja2-cache-*/__jinja2_*.cache"))
    assert len(kept) == 2  # the review page and the base it extends
    assert _html(db_url, tmp_path) == page
    for cached in kept:
        cached.write_bytes(cached.read_bytes()[:40])  # truncated in the middle of the code
    assert _html(db_url, tmp_path) == page
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / kept[0].parent.name).write_text("a file where the cache directory would be")
    assert _html(db_url, occupied) == page
