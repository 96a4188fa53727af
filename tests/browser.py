"""Headless Chromium for the review-page tests (SPEC 19), and what such a test asserts.

Chromium is Debian's package (`apt-get install chromium`; `.ci/run` installs it when absent),
driven by the `playwright` package through `executable_path` (Playwright's own browser download
is never used). Without either, the browser tests skip with the reason.

`check_page` opens a page, records every console message, page error and request, asserts the
text of every section against the JSON status of the same instant, and writes a screenshot to
SCREENSHOTS (git-ignored; the README names it).
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "artifacts" / "screenshots"
SECTION_IDS = ("golive", "risk", "levers", "heimdall", "sla", "kpi", "tasks", "dncl",
               "scorecard", "runbook")
NOT_AVAILABLE = "not available in this version"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}


def chromium_path() -> str | None:
    for candidate in (os.environ.get("VALHALLA_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


class Browser:
    """One headless Chromium for the session; a fresh context (no cookies) per page."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        path = chromium_path()
        self._manager = sync_playwright()
        self._playwright = self._manager.start()
        # --no-sandbox: CI and the developers' machines run as root, where Chromium's sandbox
        # refuses to start.
        self.browser = self._playwright.chromium.launch(executable_path=path,
                                                        args=["--no-sandbox"])

    def close(self) -> None:
        self.browser.close()
        self._playwright.stop()


def _missing(reason: str) -> None:
    # CI installs Chromium (.ci/run) and sets REVIEW_BROWSER_REQUIRED: there a skip would hide
    # a broken install, so it fails instead.
    if os.environ.get("REVIEW_BROWSER_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def browser_or_skip() -> Browser:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install --group dev)")
    if chromium_path() is None:
        _missing("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return Browser()


class Visit:
    """A page under watch: console messages, page errors and every request it made."""

    def __init__(self, browser: Browser, viewport: dict[str, int] | None = None) -> None:
        self.context = browser.browser.new_context(viewport=viewport or DESKTOP)
        self.page = self.context.new_page()
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def close(self) -> None:
        self.context.close()

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def assert_quiet(self) -> None:
        """No console error or warning, no uncaught error."""
        noisy = [(kind, text) for kind, text in self.console if kind in ("error", "warning")]
        assert noisy == [] and self.errors == [], (noisy, self.errors)

    def assert_requests_only_to(self, prefix: str) -> None:
        strays = [url for url in self.requests if not url.startswith(prefix)]
        assert self.requests and strays == [], strays

    def screenshot(self, name: str, *, print_media: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if print_media:
            self.page.emulate_media(media="print")
        self.page.screenshot(path=str(path), full_page=True)
        if print_media:
            self.page.emulate_media(media="screen")
        return path


# --- how a figure reads on the page (written here independently of the renderer) --------------

def money(value: str) -> str:
    return f"{Decimal(value):,.2f}"


def pct(value: float | None, places: int = 1) -> str:
    return "–" if value is None else f"{value:.{places}f} %"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def instant(value: str | None, zone: str = "America/Toronto") -> str:
    """Business-local, to the second, with the zone's city: '2027-06-15 11:00:00 Toronto'."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not value:
        return "–"
    local = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M:%S} {zone.rsplit('/', 1)[-1].replace('_', ' ')}"


def figure(value: float | int | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0")


def squash(text: str) -> str:
    return " ".join(text.split())


def assert_sections_match(visit: Visit, view: dict[str, Any]) -> None:
    """Every section of SPEC 19 shows the figures of `valhalla status --json` at the same --at."""
    page = visit.page
    for section in SECTION_IDS:
        assert page.locator(f"section#{section} h2").count() == 1, section

    summary = squash(visit.text("#summary"))
    zone = view["business_timezone"]
    assert view["business_date"] in summary and instant(view["generated_at"], zone) in summary
    if view["ok"]:
        assert "OK to enable go-live" in summary and "NOT OK" not in summary
    else:
        assert "NOT OK to enable go-live" in summary
        assert "failing: " + ", ".join(view["runbook"]["failing"]) in summary

    alarms = (view["golive"]["kill_switch"] or view["risk"]["breaches"]
              or view["throttled_levers"] or view["runbook"]["failing"])
    assert (page.locator("#alerts").count() == 1) == bool(alarms)
    checks = {c["name"]: c for c in view["runbook"]["checks"]}
    if alarms:
        alerts = squash(visit.text("#alerts"))
        if view["golive"]["kill_switch"]:
            assert "KILL SWITCH ENGAGED" in squash(visit.text("#alert-kill-switch")).upper()
            assert checks["golive"]["fix"] in alerts
        for b in view["risk"]["breaches"]:
            text = squash(visit.text(f"#alert-breach-{b['engine']}"))
            assert f"over its daily cap by {money(b['over'])}" in text
        for lever in view["throttled_levers"]:
            text = squash(visit.text(f"#alert-lever-{lever}"))
            assert checks["regression"]["fix"] in text
        covered = {"golive": view["golive"]["kill_switch"], "risk": view["risk"]["breaches"],
                   "regression": view["throttled_levers"]}
        for name in view["runbook"]["failing"]:
            if covered.get(name):  # its cause has an alert of its own, checked above
                assert page.locator(f"#alert-check-{name}").count() == 0
                continue
            text = squash(visit.text(f"#alert-check-{name}"))
            assert squash(checks[name]["detail"]) in text
            assert (checks[name]["fix"] or "No command repairs this") in text

    g = view["golive"]
    golive = squash(visit.text("section#golive"))
    assert ("NOT LIVE" if not g["live"] else "LIVE") in golive
    assert ("ENGAGED" if g["kill_switch"] else "released") in golive
    if g["last_change"]:
        assert f"{g['last_change']['what']} by {g['last_change']['by']}" in golive
        assert squash(g["last_change"]["reason"]) in golive
    else:
        assert "none since install" in golive

    breached = {b["engine"]: b for b in view["risk"]["breaches"]}
    assert view["risk"]["day"] in visit.text("section#risk")
    for e in view["risk"]["engines"]:
        row = squash(visit.text(f"section#risk [data-engine='{e['engine']}']"))
        assert f"headroom {money(e['headroom'])} of cap {money(e['cap'])}" in row, row
        assert f"exposure {money(e['exposure'])}" in row
        assert f"{pct(e['utilization_pct'])} used" in row
        assert ("BREACHED" in row) == (e["engine"] in breached), row
        if e["engine"] in breached:
            assert f"over by {money(breached[e['engine']]['over'])}" in row

    for lv in view["levers"]:
        row = squash(visit.text(f"section#levers [data-lever='{lv['lever']}']"))
        if lv["throttled"]:
            assert "THROTTLED" in row and instant(lv["since"], zone) in row
            assert pct(lv["drop_pct"]) in row and squash(lv["reason"]) in row
        else:
            assert "THROTTLED" not in row

    empty = [d for d in view["heimdall"] if not d["samples"]]
    if empty:
        # The domains without samples share one line instead of a card each.
        line = squash(visit.text("#heimdall-no-samples"))
        assert "0 sandbox samples in " in line
        for d in empty:
            assert f"{d['domain']} ({d['mode']}, needs {d['min_samples']})" in line
    assert page.locator("section#heimdall svg").count() == len(view["heimdall"]) - len(empty)
    for d in view["heimdall"]:
        if not d["samples"]:
            continue
        block = squash(visit.text(f"section#heimdall [data-domain='{d['domain']}']"))
        assert d["mode"] in block
        assert f"samples {d['samples']:,} of {d['min_samples']} needed" in block
        assert f"lower bound {rate(d['wilson_lower'])} vs threshold " \
               f"{rate(d['min_success_rate'])}" in block
        assert ("eligible for promotion" in block) == d["eligible"]

    sla = squash(visit.text("section#sla"))
    s = view["sla"]
    assert f"{s['since']} to {s['until']}: {s['completed']:,} completed, " \
           f"{pct(s['within_2h_pct'])} within 2 h" in sla
    assert f"target {pct(s['target_within_2h_pct'], 0)}" in sla
    for day in view["sla_daily"]:
        if not page.locator(f"section#sla tr[data-day='{day['day']}']").is_visible():
            continue  # a phone shows the chart only
        row = squash(visit.text(f"section#sla tr[data-day='{day['day']}']"))
        assert row == f"{day['day']} {day['completed']:,} {day['within_2h']:,} " \
                      f"{pct(day['within_2h_pct'])}", row
    assert page.locator("section#sla svg rect").count() == sum(
        1 for d in view["sla_daily"] if d["within_2h_pct"] is not None)

    kpi = view["kpi"]
    assert f"{kpi['since']} to {kpi['until']}" in visit.text("section#kpi")
    if not kpi["metrics"]:
        assert "No KPI events in the last 30 days" in visit.text("section#kpi")
    for m in kpi["metrics"]:
        card = page.locator(f"section#kpi [data-metric='{m['metric']}']")
        noun = "event" if m["count"] == 1 else "events"
        assert f"{m['count']:,} {noun}" in squash(card.inner_text())
        bars = [t.text_content() for t in card.locator("svg rect title").all()]
        assert bars == [f"{d['day']}: {d['count']}" for d in m["days"] if d["count"]]

    tasks = squash(visit.text("section#tasks"))
    t = view["tasks"]
    for label, key in (("DUE NOW", "due"), ("READY TO DISPATCH", "ready"),
                       ("OVERDUE (> 2 H)", "overdue"), ("CLAIMED", "claimed")):
        assert f"{label} {t[key]:,}" in tasks.upper(), (label, tasks)
    held = {k: v for k, v in t.items() if k.startswith("held")}
    assert (NOT_AVAILABLE in tasks) == (not held)
    for key, value in held.items():
        label = "HELD" if key == "held" else f"HELD ({key[5:].replace('_', ' ').upper()})"
        assert f"{label} {value:,}" in tasks.upper(), (key, tasks)
    d = view["dncl"]
    dncl = squash(visit.text("section#dncl"))
    stale = [a for a in d["areas"] if not a["fresh"]]
    assert f"good for {d['fresh_days']} days" in dncl, dncl
    assert page.locator("section#dncl.prominent").count() == (1 if stale else 0)
    assert ("no list imported yet" in dncl) == (not d["imported"]), dncl
    if not d["imported"]:
        assert "calls go only to exempt leads" in dncl and f"Fix: {d['fix']}" in dncl
        assert page.locator("section#dncl tr[data-area]").count() == 0
    for a in d["areas"]:
        row = squash(visit.text(f"section#dncl tr[data-area='{a['area_code']}']"))
        assert row == (f"{a['area_code']} {a['as_of']} {a['age_days']} {a['numbers']:,} "
                       f"{'fresh' if a['fresh'] else 'STALE'}"), row
    if stale:
        text = squash(visit.text("section#dncl #dncl-stale"))
        codes = "area code" if len(stale) == 1 else "area codes"
        assert f"{len(stale)} {codes} older than {d['fresh_days']} days" in text, text
        for a in stale:
            assert f"{a['area_code']} ({a['age_days']} days, as of {a['as_of']})" in text, text
        assert f"Fix: {d['fix']}" in text
    else:
        assert page.locator("#dncl-stale").count() == 0
        if d["imported"]:
            codes = "area code" if len(d["areas"]) == 1 else "area codes"
            assert f"all fresh {len(d['areas'])} {codes}" in dncl, dncl
    for section, key in (("dncl", "dncl"), ("scorecard", "scorecard")):
        text = visit.text(f"section#{section}")
        assert (NOT_AVAILABLE in text) == (key not in view), (section, text)

    card = view.get("scorecard")
    if card is not None:
        text = squash(visit.text("section#scorecard"))
        assert f"{card['since']} to {card['until']}" in text
        if card["missed"]:
            assert "missed: " + ", ".join(card["missed"]) in text
        for m in card["metrics"]:
            row = squash(visit.text(f"section#scorecard tr[data-metric='{m['metric']}']"))
            met = "no data" if m["met"] is None else ("met" if m["met"] else "missed")
            want = squash(f"{m['metric']} {figure(m['value'])} {m['target']} {met} "
                          f"{m['detail'] or '–'}")
            # On a phone the rows are cards: an empty cell ("–") is not shown, nor the command
            # of a target that is met or has no data yet (only a miss needs it there).
            short = squash(f"{m['metric']} {figure(m['value'])} {m['target']} {met}")
            # A metric with no data yet is, on a phone, its name beside its verdict.
            bare = f"{m['metric']} no data" if m["met"] is None else None
            assert row in (want, want.removesuffix(" –"), short, bare), row

    for c in view["runbook"]["checks"]:
        row = squash(visit.text(f"section#runbook tr[data-check='{c['name']}']"))
        if row == f"{c['name']} ok":  # a phone: a passing check is its name and verdict
            continue
        assert row.startswith(f"{c['name']} {c['status']} {squash(c['detail'])}"), row
        assert row.endswith(c["fix"]) if c["fix"] else row.endswith(
            ("–", squash(c["detail"]))), row
