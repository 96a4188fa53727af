"""Readable on a phone: the review page at 390 px (stacked cards with the verdict first,
commands that never break mid-word, chart labels that never collide, the whole busy page under
4 000 px tall) and Heimdall's empty domains on one line. Chromium, SQLite (rendering does not
depend on the engine)."""

from __future__ import annotations

import pytest
import review_scenarios
from browser import PHONE, Visit, browser_or_skip
from review_scenarios import AT


@pytest.fixture(scope="module")
def browser():
    chromium = browser_or_skip()
    yield chromium
    chromium.close()


def _open(cli, tmp_path, browser, viewport=PHONE):
    page = cli("status", "--at", AT, "--format", "html")
    path = tmp_path / "review.html"
    path.write_text(page.stdout, encoding="utf-8")
    visit = Visit(browser, viewport)
    visit.page.goto(path.as_uri())
    return visit


def _overlaps(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_readable_on_a_phone_busy_page_is_short_cards_verdict_first(cli, db, tmp_path, browser,
                                                                     db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("rendering does not depend on the engine")
    review_scenarios.busy(cli, db)
    visit = _open(cli, tmp_path, browser)
    page = visit.page
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        width = page.evaluate("document.documentElement.scrollWidth")
        visit.screenshot("file-busy-phone")
        assert width <= PHONE["width"], width
        assert height < 4000, height
        # Each scorecard and runbook row is a card whose verdict comes first.
        for selector in ("section#scorecard tr[data-metric]", "section#runbook tr[data-check]"):
            rows = page.locator(selector).all()
            assert rows, selector
            for row in rows:
                verdict = row.locator("td.verdict").bounding_box()
                key = row.locator("td.key").bounding_box()
                assert verdict and key
                assert verdict["y"] <= key["y"] + 2 and verdict["x"] < key["x"], selector
                assert row.bounding_box()["width"] <= PHONE["width"]
        # A command is one line: it scrolls inside its own box, never breaks mid-word.
        codes = [code for code in page.locator("code").all() if code.is_visible()]
        assert codes
        for code in codes:
            assert code.evaluate("e => e.getClientRects().length") == 1
            assert code.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"
            box = code.bounding_box()
            assert box and box["height"] < 30, code.inner_text()
        # The SLA chart's labels never overlap one another.
        labels = [t.bounding_box() for t in page.locator("section#sla svg text").all()]
        labels = [b for b in labels if b and b["width"]]
        clashes = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]
                   if _overlaps(a, b)]
        assert clashes == []
        # The worklists are on the page, bounded: five rows and how many more.
        total = int(page.locator("#worklist-overdue").get_attribute("data-total"))
        assert total > 5
        assert page.locator("section#tasks #worklist-overdue li").count() == 5
        assert f"and {total - 5} more" in page.locator("#worklist-overdue").inner_text()
        first = page.locator("#worklist-overdue li").first.inner_text()
        assert "va1" in first and "step" in first  # lead, owner, step, age
        visit.assert_quiet()
    finally:
        visit.close()


def test_readable_on_a_phone_heimdall_without_samples_is_one_line(cli, tmp_path, browser,
                                                                  db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("rendering does not depend on the engine")
    visit = _open(cli, tmp_path, browser)
    try:
        line = visit.page.locator("#heimdall-no-samples")
        assert line.count() == 1
        assert visit.page.locator("section#heimdall .domain").count() == 0
        assert line.bounding_box()["height"] < 130
        assert "0 sandbox samples in each" in line.inner_text()
    finally:
        visit.close()
