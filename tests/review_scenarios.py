"""Databases for the review page (SPEC 19): a fresh install, a busy week, and an alarm.

Each builder drives the real CLI (and, for bulk history, the services a bulk import uses) so
that the page is checked against what an operator's database really holds. AT is the instant
every page and every JSON status of these tests is evaluated at.
"""

from __future__ import annotations

import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from valhalla_cli.services import heimdall, kpi

AT = "2027-06-15T11:00:00-04:00"  # a Tuesday in Toronto, contact windows open
T = datetime(2027, 6, 15, 15, 0, tzinfo=UTC)

# Response minutes of the three ladders started each day at 10:00: a week that dips below 90 %.
RESPONSES = {
    "2027-06-09": (4, 12, 25), "2027-06-10": (6, 45, 130), "2027-06-11": (3, 8, 15),
    "2027-06-12": (20, 150, 200), "2027-06-13": (9, 14, 33), "2027-06-14": (2, 5, 90),
    "2027-06-15": (1, 7, 11),
}


def _ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)


def import_dncl(cli: Any, area: str, numbers: list[str], *, as_of: str, at: str) -> None:
    """A National DNCL download of one area code (`AREA.csv`, `AREA,NUMBER` lines), imported."""
    with tempfile.TemporaryDirectory() as folder:
        download = Path(folder) / f"dncl-{as_of}.zip"
        with zipfile.ZipFile(download, "w") as archive:
            archive.writestr(f"{area}.csv", "".join(f"{area},{n}\n" for n in numbers))
        _ok(cli("dncl", "import", str(download), "--as-of", as_of, "--at", at))


def busy(cli, db) -> None:  # type: ignore[no-untyped-def]
    """Live, money at risk on every engine, a week of ladders, 30 days of KPIs, AI records, and
    a fresh National DNCL copy for 416."""
    _ok(cli("golive", "enable", "--reason", "pilot: Ontario", "--at", "2027-06-08T09:00"))
    import_dncl(cli, "416", ["5550199", "5550142", "5550187"], as_of="2027-06-10",
                at="2027-06-10T09:00")
    for ref, engine, amount in (("emd-1", "acquisitions", "12000"), ("emd-2", "acquisitions",
                                "6500.50"), ("ppc-1", "marketing", "13900"),
                                ("dc-1", "dispositions", "2500")):
        _ok(cli("risk", "reserve", engine, amount, "--ref", ref, "--at", "2027-06-15T09:30"))
    for day, responses in RESPONSES.items():
        for n, minutes in enumerate(responses):
            lead = f"L-{day[-2:]}{n}"
            start = datetime.fromisoformat(f"{day}T10:00:00-04:00")
            created = cli("ladder", "create", lead, "--province", "ON", "--market", "TORONTO",
                          "--owner", f"va{n + 1}", "--at", start.isoformat(), "--format", "json")
            _ok(created)
            task = created.json["tasks"][0]["task_id"]
            _ok(cli("ladder", "complete", str(task), "--outcome", "no_answer",
                    "--at", (start + timedelta(minutes=minutes)).isoformat()))
    first = datetime(2027, 5, 17, 14, 0, tzinfo=UTC)
    rows = []
    for day in range(30):
        for i in range(3 + (day * 7) % 11):
            rows.append({"metric": "offer_generated", "value": 1.0,
                         "occurred_at": first + timedelta(days=day, minutes=17 * i),
                         "source": "test"})
        for i in range(5 + (day * 5) % 9):
            rows.append({"metric": "buyer_feedback", "value": float((day + i) % 3 != 0),
                         "occurred_at": first + timedelta(days=day, minutes=23 * i),
                         "source": "test"})
    with db.transaction(write=True) as session:
        kpi.insert_many(session, rows)
        at = datetime(2027, 6, 1, 15, 0, tzinfo=UTC)
        for domain, total, good in (("lead_scoring", 40, 38), ("offer_pricing", 12, 9)):
            for i in range(total):
                rec = heimdall.record(session, domain=domain, confidence=0.9,
                                      subject=f"{domain}-{i}", actor="tester",
                                      at=at + timedelta(minutes=i), enforce=True)
                heimdall.record_outcome(session, recommendation_id=rec.recommendation_id,
                                        success=i < good, actor="tester",
                                        at=at + timedelta(hours=1, minutes=i),
                                        business_timezone="America/Toronto")


def dncl_stale(cli: Any, db: Any) -> None:
    """The busy week, with a second area code (905) whose DNCL copy is 45 days old at AT, and
    the tasks dispatch holds for it: a call to a 905 number (its list is stale, so the number
    counts as not checked) and an SMS with no [business] identity to send it under."""
    busy(cli, db)
    import_dncl(cli, "905", ["5550100", "5550111"], as_of="2027-05-01", at="2027-06-15T09:00")
    sms = cli("ladder", "create", "H-sms", "--province", "ON", "--phone", "+14165550160",
              "--consent", "express", "--at", "2027-06-15T10:40", "--format", "json")
    _ok(sms)
    created = cli("ladder", "create", "H-call", "--province", "ON", "--phone", "+19055550177",
                  "--at", "2027-06-15T10:30", "--format", "json")
    _ok(created)
    # Step 1 (SMS) done by hand, so step 2 (CALL, 5 minutes later) is the one dispatch sees.
    _ok(cli("ladder", "complete", str(created.json["tasks"][0]["task_id"]), "--outcome",
            "no_answer", "--at", "2027-06-15T10:32"))
    _ok(cli("ladder", "dispatch", "--at", "2027-06-15T10:50", "--format", "jsonl"))


def _drop_0_8_to_0_6() -> list[float]:
    return [1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20


def alarm(cli, db) -> None:  # type: ignore[no-untyped-def]
    """The busy week, then a thrown kill switch, a breached cap and a throttled lever."""
    busy(cli, db)
    # A settled loss past the marketing cap (15 000) on the business day of AT.
    _ok(cli("risk", "settle", "--ref", "ppc-1", "--pnl", "-16250.75", "--at", "2027-06-15T10:15"))
    start = datetime(2027, 1, 1, tzinfo=UTC)
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [
            {"metric": "followup_completed", "value": v,
             "occurred_at": start + i * timedelta(minutes=10), "source": "test"}
            for i, v in enumerate(_drop_0_8_to_0_6())])
    assert cli("regression", "evaluate", "--at", "2027-03-01T00:00:00Z").exit_code == 1
    _ok(cli("golive", "kill-switch", "engage", "--reason", "<script>alert('x')</script> fire drill",
            "--at", "2027-06-15T10:30"))
