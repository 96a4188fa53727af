"""Operators racing on one offer, with real processes on both engines: a stage is appended
once, and two different next stages cannot both follow the current one."""

import subprocess
import sys

import pytest
from conftest import REPO, db_count

pytestmark = pytest.mark.slow

AT = "2027-01-04T10:00:00-05:00"


def _spawn(db_url, *args):
    return subprocess.Popen([sys.executable, "-m", "valhalla_cli", "--db", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _production_offer(cli):
    for args in (("offer", "policy-set", "ON", "--enable", "--reason", "pilot"),
                 ("golive", "enable", "--reason", "go")):
        assert cli(*args, "--at", AT, "--json").exit_code == 0
    made = cli("offer", "compute", "ON", "--arv", "450000", "--repairs", "50000", "--at", AT,
               "--json")
    assert made.exit_code == 0 and made.json["mode"] == "production"
    return made.json["evidence_id"]


def test_racing_sends_append_one_stage(cli, db, db_url):
    evidence = _production_offer(cli)
    procs = [_spawn(db_url, "offer", "outcome", str(evidence), "--status", "sent", "--at",
                    "2027-01-05T12:00", "--json") for _ in range(4)]
    codes = [p.wait(timeout=120) for p in procs]
    errors = [p.stderr.read() for p in procs]
    assert codes == [0, 0, 0, 0], errors
    assert all("Traceback" not in e for e in errors)
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 1
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'outcome'") == 1
    assert sum("nothing changed" in e for e in errors) == 3


def test_accept_and_reject_racing_one_wins(cli, db, db_url):
    evidence = _production_offer(cli)
    assert cli("offer", "outcome", str(evidence), "--status", "sent", "--at",
               "2027-01-05T12:00").exit_code == 0
    stages = ["accepted", "rejected"] * 2
    procs = [_spawn(db_url, "offer", "outcome", str(evidence), "--status", stage, "--at",
                    "2027-01-06T12:00", "--json") for stage in stages]
    codes = [p.wait(timeout=120) for p in procs]
    assert all("Traceback" not in p.stderr.read() for p in procs)
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 2
    winner = db_count(db, "SELECT status FROM offer_outcome WHERE status <> 'sent'")
    # The winner and its twin (a no-op) exit 0; the other stage is refused (rejected is final,
    # or accepted cannot be followed by rejected).
    assert sorted(codes) == [0, 0, 1, 1]
    assert all(code == 0 for code, stage in zip(codes, stages, strict=True) if stage == winner)
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'offer_accepted'") == 1
