"""A backlog of tasks that cannot be sent never delays one that can (issue 19, defect 12): a
file of leads without numbers queued ahead of ten deliverable ladders, on both engines, with
one run at a time and with overlapping runs."""

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO, db_count

AT = "2027-01-15T10:30"  # a Friday morning in Toronto: the windows are open
BACKLOG = 6_000  # phone-less ladders: 12 000 due tasks (steps 1 and 2), past one run's budget
DELIVERABLE = 10


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


def _queue_behind_a_backlog(cli, tmp_path, backlog: int = BACKLOG,
                            deliverable: int = DELIVERABLE) -> None:
    """The issue's scenario: ladders without a phone start at 09:30, then ladders with a
    number and express consent start at 10:00, behind them in due order."""
    phoneless = tmp_path / "np.csv"
    phoneless.write_text("lead_id,province,start_at\n" + "".join(
        f"NP-{i},ON,2027-01-15T09:30\n" for i in range(backlog)), encoding="utf-8")
    assert cli("ladder", "import", str(phoneless), "--at", "2027-01-15T09:00").exit_code == 0
    ok = tmp_path / "ok.csv"
    ok.write_text("lead_id,province,phone,consent,consent_at,start_at\n" + "".join(
        f"OK-{i},ON,+1416555{i:04d},express,2027-01-02T09:00,2027-01-15T10:00\n"
        for i in range(deliverable)), encoding="utf-8")
    assert cli("ladder", "import", str(ok), "--at", "2027-01-15T09:00").exit_code == 0
    assert cli("golive", "enable", "--reason", "test").exit_code == 0


def _claimed_deliverable(db) -> int:
    return db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed' "
                        "AND lead_id LIKE 'OK-%' AND step = 1")


def _followups_check(cli) -> dict:
    report = cli("runbook", "status", "--at", AT, "--json").json
    return next(c for c in report["checks"] if c["name"] == "followups")


def test_first_run_dispatches_the_deliverable_tasks_despite_a_backlog(cli, db, tmp_path):
    _queue_behind_a_backlog(cli, tmp_path)
    first = cli("ladder", "dispatch", "--at", AT, "--limit", "100", "--format", "jsonl")
    assert first.exit_code == 0, first.stderr
    assert sorted(t["lead_id"] for t in first.jsonl) == [f"OK-{i}" for i in range(DELIVERABLE)]
    # The run also swept a run's budget of the backlog, and says the budget went to it.
    swept = re.search(r"skipped \(no_phone (\d+)\)", first.stderr)
    assert swept and 5_000 <= int(swept.group(1)) < 6_000, first.stderr
    assert "backlog" in first.stderr and "runbook" in first.stderr, first.stderr
    check = _followups_check(cli)
    assert check["status"] == "warn" and "no_phone" in check["detail"], check
    assert "backlog" in check["detail"] and check["fix"], check
    # The backlog drains a budget per run: skipped tasks leave the due scan, never re-examined.
    runs = 0
    while "backlog" in cli("ladder", "dispatch", "--at", AT, "--limit", "100").stderr:
        runs += 1
        assert runs < 5
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'skipped' "
                        "AND status_reason = 'no_phone'") == 2 * BACKLOG
    assert _followups_check(cli)["status"] == "ok"
    assert _claimed_deliverable(db) == DELIVERABLE


@pytest.mark.slow  # real processes racing
def test_overlapping_runs_dispatch_the_deliverable_tasks_each_once(cli, db, db_url, tmp_path):
    _queue_behind_a_backlog(cli, tmp_path)
    # SQLite runs queue on its write lock; two of them (10 000 candidates between them under
    # the old single budget) already fell short of the deliverable tasks. PostgreSQL runs
    # really overlap, reading the same candidates.
    runs = 2 if db_url.startswith("sqlite") else 4
    argv = [sys.executable, "-m", "valhalla_cli", "--db", db_url, "ladder", "dispatch", "--at",
            AT, "--limit", "100", "--format", "jsonl"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=REPO) for _ in range(runs)]
    outcomes = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * runs, [err for _, err in outcomes]
    handed = [line for out, _ in outcomes for line in out.splitlines() if line.strip()]
    tasks = [json.loads(line) for line in handed]
    assert sorted(t["lead_id"] for t in tasks) == [f"OK-{i}" for i in range(DELIVERABLE)]
    assert len({t["task_id"] for t in tasks}) == DELIVERABLE  # each once
    assert _claimed_deliverable(db) == DELIVERABLE


def test_texts_without_consent_and_calls_without_a_dncl_copy_never_delay_new_tasks(cli, db,
                                                                                   tmp_path):
    """Leads with a number but no consent: their texts are skipped (no_consent), which makes
    their calls due, and without a DNCL copy those are held (dncl_not_checked) and come back
    every hour. Deliverable ladders added between runs go out in the very next run, every
    time."""
    backlog = tmp_path / "nc.csv"
    backlog.write_text("lead_id,province,phone,start_at\n" + "".join(
        f"NC-{i},ON,+1416555{i:04d},2027-01-15T09:30\n" for i in range(BACKLOG)),
        encoding="utf-8")
    assert cli("ladder", "import", str(backlog), "--at", "2027-01-15T09:00").exit_code == 0
    assert cli("golive", "enable", "--reason", "test").exit_code == 0
    # The last run comes after the held calls are due again (an hour after they were held);
    # by then the earlier claims' leases have expired too, and are handed out again.
    for run, at in enumerate((AT, AT, AT, "2027-01-15T11:45")):
        fresh = tmp_path / f"ok{run}.csv"
        fresh.write_text("lead_id,province,phone,consent,consent_at,start_at\n" + "".join(
            f"OK-{run}-{i},ON,+1647555{run}{i:03d},express,2027-01-02T09:00,"
            f"2027-01-15T10:0{run}\n" for i in range(5)), encoding="utf-8")
        assert cli("ladder", "import", str(fresh), "--at", "2027-01-15T09:00").exit_code == 0
        result = cli("ladder", "dispatch", "--at", at, "--limit", "100", "--format", "jsonl")
        assert result.exit_code == 0, result.stderr
        fresh_steps = sorted(t["lead_id"] for t in result.jsonl if t["attempt"] == 1)
        assert fresh_steps == [f"OK-{run}-{i}" for i in range(5)], (run, result.stderr)
    # Meanwhile the backlog was swept: every text skipped, the calls held for the DNCL.
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id LIKE 'NC-%' AND "
                        "step = 1 AND status = 'skipped' AND status_reason = 'no_consent'"
                    ) == BACKLOG
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id LIKE 'NC-%' AND "
                        "step = 2 AND status = 'pending' AND status_reason = 'dncl_not_checked'"
                    ) > 0


@pytest.mark.slow
def test_the_issues_full_scenario_300_behind_20000_with_four_overlapping_runs(cli, db, db_url,
                                                                               tmp_path):
    """20 000 phone-less ladders (40 000 due tasks) ahead of 300 deliverable ones: four runs
    started together, 100 each, hand out all 300, each once."""
    _queue_behind_a_backlog(cli, tmp_path, backlog=20_000, deliverable=300)
    argv = [sys.executable, "-m", "valhalla_cli", "--db", db_url, "ladder", "dispatch", "--at",
            AT, "--limit", "100", "--format", "jsonl"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=REPO) for _ in range(4)]
    outcomes = [proc.communicate(timeout=900) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err for _, err in outcomes]
    tasks = [json.loads(line) for out, _ in outcomes for line in out.splitlines() if line.strip()]
    assert len(tasks) == 300 and len({t["task_id"] for t in tasks}) == 300
    assert {t["lead_id"] for t in tasks} == {f"OK-{i}" for i in range(300)}
    assert _claimed_deliverable(db) == 300
