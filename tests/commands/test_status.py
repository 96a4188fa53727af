"""`valhalla status`: the Monday overview, on a fresh install and after work moved the figures."""

import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from conftest import snapshot_tables

from valhalla_cli.services import kpi

AT = "2027-06-15T11:00:00-04:00"  # a Tuesday in Toronto, contact windows open
T = datetime(2027, 6, 15, 15, 0, tzinfo=UTC)

TOP_KEYS = {"generated_at", "business_date", "business_timezone", "ok", "reason", "golive",
            "risk", "throttled_levers", "levers", "heimdall", "sla", "sla_daily", "tasks", "dncl",
            "kpi", "runbook", "scorecard", "delivery", "worklists", "inbox"}
DNCL_FIX = "valhalla dncl import DOWNLOAD.zip --as-of DATE"


def status(cli, *extra, at=AT):
    return cli("status", "--at", at, *extra)


def test_fresh_install(cli, db):
    before = snapshot_tables(db)
    result = status(cli, "--json")
    assert result.exit_code == 0, result.stderr
    view = result.json
    assert set(view) == TOP_KEYS
    assert view["ok"] is True and view["reason"] is None
    assert view["generated_at"] == "2027-06-15T15:00:00Z"
    assert view["business_date"] == "2027-06-15"
    assert view["business_timezone"] == "America/Toronto"
    assert view["golive"] == {"enabled": False, "kill_switch": False, "live": False,
                              "enforce": True, "reason": "golive_disabled", "last_change": None}
    engines = {e["engine"]: e for e in view["risk"]["engines"]}
    assert {n: (e["cap"], e["exposure"], e["headroom"]) for n, e in engines.items()} == {
        "GLOBAL": ("50000.00", "0.00", "50000.00"),
        "acquisitions": ("25000.00", "0.00", "25000.00"),
        "marketing": ("15000.00", "0.00", "15000.00"),
        "dispositions": ("10000.00", "0.00", "10000.00"),
    }
    assert view["risk"]["day"] == "2027-06-15" and view["risk"]["breaches"] == []
    assert view["throttled_levers"] == []
    assert [(lv["lever"], lv["throttled"]) for lv in view["levers"]] == [
        ("followups", False), ("offers", False)]
    assert {(d["domain"], d["mode"], d["enabled"], d["samples"], d["eligible"],
             d["min_samples"], d["min_success_rate"])
            for d in view["heimdall"]} == {
        (d, "sandbox", True, 0, False, 30, 0.7)
        for d in ("lead_scoring", "offer_pricing", "buyer_matching", "followup_timing")}
    assert view["sla"]["since"] == "2027-06-09" and view["sla"]["until"] == "2027-06-15"
    assert view["sla"]["completed"] == 0 and view["sla"]["within_2h_pct"] is None
    assert view["sla_daily"] == [
        {"day": f"2027-06-{d:02d}", "completed": 0, "within_2h": 0, "within_2h_pct": None,
         "meets_target": None} for d in range(9, 16)]
    assert view["kpi"] == {"since": "2027-05-17", "until": "2027-06-15", "days": 30,
                           "metrics": []}
    assert view["tasks"] == {"due": 0, "ready": 0, "overdue": 0, "claimed": 0,
                             "held_dncl_not_checked": 0, "held_no_identification": 0}
    # No list yet: the page says so ("calls go only to exempt leads") and names the fix.
    assert view["dncl"] == {"imported": False, "fresh_days": 31, "fix": DNCL_FIX, "areas": []}
    book = view["runbook"]
    assert book["ok_to_enable_go_live"] is True and book["failing"] == []
    # no offer policy enabled, no DNCL copy, no [business] identity and (SQLite: Valhalla's own
    # `db backup`; PostgreSQL backups are server-side and unseen, so that check is ok) no backup
    # yet on a fresh install
    expected = ["dncl", "messages", "offers"] + (["backup"] if cli.url.startswith("sqlite")
                                                  else [])
    assert book["warnings"] == expected
    assert [c["name"] for c in book["checks"]] == [
        "database", "timezones", "golive", "risk", "heimdall", "regression", "market",
        "dncl", "messages", "followups", "delivery", "sender", "inbox", "offers", "backup"]
    assert result.stderr == ""
    assert snapshot_tables(db) == before  # read-only


def test_today_is_the_business_date_of_at(cli):
    # 02:00 UTC on the 15th is still the 14th in Toronto.
    view = status(cli, "--json", at="2027-06-15T02:00:00Z").json
    assert view["business_date"] == "2027-06-14" and view["risk"]["day"] == "2027-06-14"
    assert (view["sla"]["since"], view["sla"]["until"]) == ("2027-06-08", "2027-06-14")


def _drop_0_8_to_0_6():
    return [1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20


def test_figures_move_with_reservations_ladders_and_throttles(cli, db):
    assert cli("golive", "enable", "--reason", "monday", "--at", AT).exit_code == 0
    reserved = cli("risk", "reserve", "acquisitions", "1000.00", "--ref", "emd-1", "--at", AT)
    assert reserved.exit_code == 0, reserved.stderr
    # A ladder started at 11:00: step 1 due at once, step 2 five minutes later.
    assert cli("ladder", "create", "lead-1", "--province", "ON", "--at", AT, "--phone",
               "+14165550111", "--consent", "express").exit_code == 0
    claims = cli("ladder", "dispatch", "--at", (T + timedelta(minutes=10)).isoformat(),
                 "--format", "jsonl", env={"VALHALLA_BUSINESS_NAME": "Maple",
                                           "VALHALLA_BUSINESS_CALLBACK": "+14165550100"}
                 ).jsonl
    assert [c["step"] for c in claims] == [1]

    claimed = status(cli, "--json", at=(T + timedelta(minutes=15)).isoformat()).json
    assert claimed["tasks"] == {"due": 1, "ready": 0, "overdue": 0, "claimed": 1,
                                "held_dncl_not_checked": 0, "held_no_identification": 0}

    done = cli("ladder", "complete", str(claims[0]["task_id"]), "--outcome", "no_answer",
               "--claim-token", claims[0]["claim_token"],
               "--at", (T + timedelta(minutes=20)).isoformat())
    assert done.exit_code == 0, done.stderr

    later = (T + timedelta(hours=3)).isoformat()
    result = status(cli, "--json", at=later)
    assert result.exit_code == 0, result.stderr
    view = result.json
    assert view["golive"]["live"] is True and view["golive"]["reason"] is None
    assert view["golive"]["last_change"]["what"] == "enabled"
    engines = {e["engine"]: e for e in view["risk"]["engines"]}
    assert (engines["acquisitions"]["exposure"], engines["acquisitions"]["headroom"]) == (
        "1000.00", "24000.00")
    assert engines["GLOBAL"]["headroom"] == "49000.00"
    assert engines["acquisitions"]["utilization_pct"] == pytest.approx(4.0)
    # Step 2 (due 11:05) is ready now and more than 2 h late at 14:00.
    assert view["tasks"] == {"due": 1, "ready": 1, "overdue": 1, "claimed": 0,
                             "held_dncl_not_checked": 0, "held_no_identification": 0}
    sla = view["sla"]
    assert sla["completed"] == 1 and sla["median_response_minutes"] == 20.0
    assert sla["within_30m_pct"] == 100.0 and sla["meets_target"] is True
    assert sla["overdue_now"] == 1
    daily = {d["day"]: d for d in view["sla_daily"]}
    assert daily["2027-06-15"] == {"day": "2027-06-15", "completed": 1, "within_2h": 1,
                                   "within_2h_pct": 100.0, "meets_target": True}
    assert sum(d["completed"] for d in view["sla_daily"]) == sla["completed"]
    # The ladder's own KPIs, the same figures as `kpi summary --days 30`.
    metrics = {m["metric"]: m for m in view["kpi"]["metrics"]}
    assert {m: (s["count"], s["days"][-1]["count"]) for m, s in metrics.items()} == {
        "ladder_created": (1, 1), "followup_completed": (1, 1)}
    summary = cli("kpi", "summary", "--days", "30", "--at", later, "--json").json
    assert [(m["metric"], [d["count"] for d in m["days"]]) for m in summary] == [
        (m["metric"], [d["count"] for d in m["days"]]) for m in view["kpi"]["metrics"]]

    # The followups lever trips on a drop of followup_completed (events before the ladder's).
    start = datetime(2027, 1, 1, tzinfo=UTC)
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [
            {"metric": "followup_completed", "value": v,
             "occurred_at": start + i * timedelta(minutes=10), "source": "test"}
            for i, v in enumerate(_drop_0_8_to_0_6())])
    assert cli("regression", "evaluate", "--at", "2027-03-01T00:00:00Z").exit_code == 1

    before = snapshot_tables(db)
    refused = status(cli, "--json", at=later)
    assert refused.exit_code == 1
    view = refused.json  # the whole answer is printed before the "no"
    assert view["ok"] is False and view["reason"] == "runbook_not_ok"
    assert view["throttled_levers"] == ["followups"]
    lever = next(lv for lv in view["levers"] if lv["lever"] == "followups")
    assert lever["throttled"] is True and lever["drop_pct"] == pytest.approx(25.0)
    assert view["runbook"]["failing"] == ["regression"]
    assert refused.stderr.strip() == (
        "valhalla: not OK to enable go-live: failing checks: regression "
        "(see `valhalla runbook status`)")
    assert snapshot_tables(db) == before


def test_kill_switch_is_a_no(cli):
    assert cli("golive", "kill-switch", "engage", "--reason", "fire drill",
               "--at", AT).exit_code == 0
    result = status(cli, "--json")
    assert result.exit_code == 1
    assert result.json["golive"]["reason"] == "kill_switch_engaged"
    assert result.json["golive"]["last_change"]["reason"] == "fire drill"
    assert result.json["runbook"]["failing"] == ["golive"]
    assert "golive" in result.stderr


def test_markdown_is_a_ticket_ready_report(cli):
    result = status(cli, "--format", "markdown")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("# Valhalla status: OK to enable go-live\n\n"
                           "Generated 2027-06-15 11:00:00 Toronto; business date 2027-06-15 "
                           "(America/Toronto).\n")
    for heading in ("## Go-live", "## Risk today (2027-06-15)", "## Regression levers",
                    "## Heimdall", "## Follow-up SLA, last 7 days",
                    "## Follow-up SLA per business day", "## Follow-up tasks", "## Runbook"):
        assert f"\n{heading}\n\n| " in text, heading
    assert "| engine | cap | exposure | headroom | utilization_pct | enabled |" in text
    assert "| GLOBAL | 50,000.00 | 0.00 | 50,000.00 | 0.0 | true |" in text
    assert "| 2027-06-15 | 0 | 0 |  |  |" in text
    assert "## KPI events, 2027-05-17 to 2027-06-15\n\nno KPI events in the window\n" in text
    assert "| offers | warn |" in text and "`valhalla offer policy-set ON --enable`" in text
    assert ("\n## National DNCL (fresh for 31 days)\n\nno list imported yet (calls go only to "
            f"exempt leads): `{DNCL_FIX}`\n") in text


def test_tsv_is_one_key_value_line_per_figure(cli):
    lines = status(cli, "--format", "tsv").stdout.splitlines()
    assert lines[0] == "key\tvalue"
    pairs = dict(line.split("\t", 1) for line in lines[1:])
    assert len(pairs) == len(lines) - 1  # keys are unique
    assert pairs["ok"] == "true"
    assert pairs["risk.engines.GLOBAL.headroom"] == "50000.00"
    assert pairs["levers.offers.throttled"] == "false"
    assert pairs["heimdall.lead_scoring.mode"] == "sandbox"
    assert pairs["tasks.overdue"] == "0"
    assert pairs["runbook.checks.offers.status"] == "warn"
    assert pairs["sla_daily.2027-06-15.completed"] == "0"
    assert pairs["kpi.days"] == "30"
    assert pairs["dncl.imported"] == "false" and pairs["dncl.fresh_days"] == "31"


def test_table_and_jsonl(cli):
    table = cli("status", "--at", AT, "--format", "table", env={"COLUMNS": "100"})
    assert table.exit_code == 0
    for title in ("Go-live  NOT LIVE (golive_disabled)", "Runbook  OK to enable go-live",
                  "Risk today 2027-06-15", "Heimdall", "Follow-ups: SLA 2027-06-09 to "
                  "2027-06-15", "DNCL     no list imported yet (calls go only to exempt "
                  "leads)", "Runbook checks not ok"):
        assert title in table.stdout, title
    assert max(len(line) for line in table.stdout.splitlines()) <= 100  # fits 100 columns
    (line,) = status(cli, "--format", "jsonl").jsonl
    assert set(line) == TOP_KEYS


def test_dncl_freshness_fresh_then_stale(cli, tmp_path):
    """The DNCL section holds the very rows of `valhalla dncl status`; a list older than 31
    days fails the runbook, so `status` says no, in every format."""
    download = tmp_path / "dncl.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr("416.csv", "416,5550199\n")
    imported = cli("dncl", "import", str(download), "--as-of", "2027-01-10", "--at",
                   "2027-01-10T08:00", "--json")
    assert imported.exit_code == 0, imported.stderr

    fresh_at = "2027-01-15T12:00"
    fresh = status(cli, "--json", at=fresh_at)
    assert fresh.exit_code == 0, fresh.stderr
    dncl = fresh.json["dncl"]
    assert {k: v for k, v in dncl.items() if k != "areas"} == {
        "imported": True, "fresh_days": 31, "fix": DNCL_FIX}
    assert [{k: a[k] for k in ("area_code", "as_of", "age_days", "numbers", "fresh")}
            for a in dncl["areas"]] == [
        {"area_code": "416", "as_of": "2027-01-10", "age_days": 5, "numbers": 1, "fresh": True}]
    assert dncl["areas"] == cli("dncl", "status", "--at", fresh_at, "--json").json
    assert "dncl" not in fresh.json["runbook"]["warnings"]

    stale_at = "2027-02-12T12:00"  # 33 days after the download
    stale = status(cli, "--json", at=stale_at)
    assert stale.exit_code == 1
    dncl = stale.json["dncl"]
    assert dncl["imported"] is True
    assert [(a["area_code"], a["age_days"], a["fresh"]) for a in dncl["areas"]] == [
        ("416", 33, False)]
    assert dncl["areas"] == cli("dncl", "status", "--at", stale_at, "--json").json
    assert stale.json["runbook"]["failing"] == ["dncl"]

    pairs = dict(line.split("\t", 1)
                 for line in status(cli, "--format", "tsv", at=stale_at).stdout.splitlines()[1:])
    assert (pairs["dncl.imported"], pairs["dncl.areas.416.age_days"],
            pairs["dncl.areas.416.fresh"], pairs["dncl.areas.416.numbers"]) == (
        "true", "33", "false", "1")
    markdown = status(cli, "--format", "markdown", at=stale_at).stdout
    assert ("\n## National DNCL (fresh for 31 days)\n\n"
            "| area_code | as_of | age_days | numbers | fresh |\n") in markdown
    assert "| 416 | 2027-01-10 | 33 | 1 | false |" in markdown
    assert f"**Stale:** 416 (33 days): `{DNCL_FIX}`" in markdown
    table = cli("status", "--at", stale_at, "--format", "table", env={"COLUMNS": "100"}).stdout
    assert "DNCL: 1 area code, STALE (> 31 days): 416 (33 days)" in " ".join(table.split())
    table = cli("status", "--at", fresh_at, "--format", "table", env={"COLUMNS": "100"}).stdout
    assert "DNCL: 1 area code, all fresh (≤ 31 days)" in table


def test_invalid_ladder_config_still_shows_the_rest(cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[ladder]\nsla_minutes = 0\n")
    result = cli("--config", str(config), "status", "--at", AT, "--json")
    assert result.exit_code == 1
    assert result.json["sla"] is None and result.json["tasks"] is None
    assert result.json["runbook"]["failing"] == ["followups"]


@pytest.mark.parametrize("args", [
    ("--at", "next monday"),
    ("--at", "2027-13-01"),
    ("--format", "yaml"),
    ("--json", "--format", "tsv"),
])
def test_bad_input_is_exit_2_and_changes_nothing(cli, db, args):
    before = snapshot_tables(db)
    result = cli("status", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert snapshot_tables(db) == before


def test_window_compliance_computes_spans_only_where_contacts_were_completed(cli, monkeypatch):
    """On a fresh install the scorecard's window compliance has no contact to judge: no closed
    span is computed for any province. Once a contact is completed in Ontario, Ontario's spans
    alone are, and the figure is the one `ladder breaches` gives."""
    from valhalla_cli.services import ladder_breaches

    provinces: list[str] = []
    real = ladder_breaches.closed_spans

    def spy(rules, lo, hi, cache=None):  # type: ignore[no-untyped-def]
        provinces.append(rules.province)
        return real(rules, lo, hi, cache)

    monkeypatch.setattr(ladder_breaches, "closed_spans", spy)

    def compliance() -> dict:
        view = status(cli, "--json").json
        return next(m for m in view["scorecard"]["metrics"]
                    if m["metric"] == "contact_window_compliance")

    empty = compliance()
    assert (empty["value"], empty["met"], empty["state"]) == (None, None, "no_data")
    assert provinces == []
    made = cli("ladder", "create", "L-late", "--province", "ON", "--owner", "ana",
               "--at", "2027-06-10T08:00:00", "--json").json
    call = next(t for t in made["tasks"] if t["channel"] == "CALL")
    assert cli("ladder", "complete", str(call["task_id"]), "--outcome", "no_answer",
               "--at", "2027-06-10T21:45:00", "--json").exit_code == 0  # after hours
    late = compliance()
    assert (late["value"], late["met"], late["state"]) == (0.0, False, "missed")
    assert provinces and set(provinces) == {"ON"}
    listed = cli("ladder", "breaches", "--since", "2027-05-17", "--until", "2027-06-15",
                 "--json").json
    assert [row["task_id"] for row in listed] == [call["task_id"]]
