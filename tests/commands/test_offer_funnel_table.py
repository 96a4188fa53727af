"""`offer funnel` reads `offer_funnel`, one row per sent offer kept by `offer outcome`: its
answers are those of the outcomes themselves (recomputed here from `offer_outcome` and the
evidence), for every grouping, and migration 0022 backfills the table from existing outcomes."""

import statistics
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from conftest import db_count
from sqlalchemy import text

AT = "2027-01-04T10:00:00-05:00"
PERIOD = ("--since", "2027-01-01", "--until", "2027-01-31", "--at", "2027-02-10T10:00")

# (province, market, property type, stages): prices against max_offer 255 000.00 (ON, QC
# policies alike); one acceptance above max_offer with its reason.
LIVES = [
    ("ON", "TORONTO", "SFR", [("sent", 5), ("accepted", 6), ("contracted", 9, "250000"),
                                   ("closed", 25)]),
    ("ON", "TORONTO", "CONDO", [("sent", 5), ("countered", 6, "270000"), ("accepted", 7),
                                ("contracted", 11, "252500.50")]),
    ("ON", "OTTAWA", "SFR", [("sent", 6), ("accepted", 9, "256000", "over"),
                                  ("contracted", 16, "260000")]),
    ("ON", "OTTAWA", "CONDO", [("sent", 6), ("accepted", 11)]),
    ("ON", "TORONTO", "SFR", [("sent", 7), ("rejected", 8)]),
    ("QC", "MONTREAL", "CONDO", [("sent", 7), ("countered", 8), ("rejected", 10)]),
    ("QC", "MONTREAL", "SFR", [("sent", 8), ("withdrawn", 9)]),
    ("QC", "LAVAL", "SFR", [("sent", 8), ("accepted", 12), ("contracted", 14)]),
    ("QC", None, "CONDO", [("sent", 12)]),
    ("ON", "OTTAWA", "SFR", [("sent", 12), ("countered", 13)]),
]
STAGES = ("sent", "countered", "accepted", "rejected", "contracted", "closed", "withdrawn")


def _ok(result, code=0):
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.json


def _history(cli):
    for province in ("ON", "QC"):
        _ok(cli("offer", "policy-set", province, "--enable", "--reason", "pilot", "--at", AT,
                "--json"))
    _ok(cli("golive", "enable", "--reason", "go", "--at", AT, "--json"))

    def offer(province, market, kind, at=AT):
        out = _ok(cli("offer", "compute", province, *(("--market", market) if market else ()),
                      "--type", kind, "--arv", "450000", "--repairs", "50000",
                      "--at", at, "--json"))
        return out["evidence_id"]

    for province, market, kind, steps in LIVES:
        evidence = offer(province, market, kind)
        for status, day, *extra in steps:
            args = ["offer", "outcome", str(evidence), "--status", status,
                    "--at", f"2027-01-{day:02d}T12:00:00-05:00", "--json"]
            if extra:
                args += ["--amount", extra[0]]
            if extra[1:]:
                args += ["--over-max-reason", "the seller's floor, approved by the owner"]
            _ok(cli(*args))
    # Sent in February: outside January's cohort; and one never sent.
    late = offer("ON", "TORONTO", "SFR", at="2027-02-01T10:00:00-05:00")
    _ok(cli("offer", "outcome", str(late), "--status", "sent", "--at",
            "2027-02-02T10:00:00-05:00", "--json"))
    offer("ON", "TORONTO", "SFR")


def _expected(db, by):
    """The funnel recomputed from the outcomes themselves, independently of `offer_funnel`."""
    lo, hi = datetime(2027, 1, 1, 5, tzinfo=UTC), datetime(2027, 2, 1, 5, tzinfo=UTC)
    with db.transaction() as session:
        evidence = {row.id: row for row in session.execute(text(
            "SELECT id, province, market, property_type, max_offer_cents FROM offer_evidence"))}
        stages: dict[int, dict[str, tuple]] = {}
        for row in session.execute(text(
                "SELECT evidence_id, status, at, amount_cents FROM offer_outcome")):
            at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(row.at)
            stages.setdefault(row.evidence_id, {})[row.status] = (
                at.replace(tzinfo=UTC) if at.tzinfo is None else at, row.amount_cents)
    groups: dict[object, list[int]] = {}
    for evidence_id, reached in stages.items():
        if lo <= reached["sent"][0] < hi:
            key = getattr(evidence[evidence_id], by) if by else "all"
            groups.setdefault(key, []).append(evidence_id)
    rows = {}
    for key, ids in groups.items():
        n = {s: sum(1 for i in ids if s in stages[i]) for s in STAGES}
        days = {s: [(stages[i][s][0] - stages[i]["sent"][0]).total_seconds() / 86400
                    for i in ids if s in stages[i]] for s in ("accepted", "contracted")}
        gaps = [stages[i]["contracted"][1] - evidence[i].max_offer_cents for i in ids
                if "contracted" in stages[i] and stages[i]["contracted"][1] is not None]
        decided = n["accepted"] + n["rejected"]
        rows[key] = {
            **n, "decided": decided,
            "over_max": sum(1 for i in ids if "accepted" in stages[i]
                            and (stages[i]["accepted"][1] or 0) > evidence[i].max_offer_cents),
            "accept_rate": round(n["accepted"] / decided, 3) if decided else None,
            "contract_rate": round(n["contracted"] / n["sent"], 3),
            "median_days_to_accept": round(statistics.median(days["accepted"]), 2)
            if days["accepted"] else None,
            "median_days_to_contract": round(statistics.median(days["contracted"]), 2)
            if days["contracted"] else None,
            "contracts_priced": len(gaps),
            "avg_contract_gap": str((Decimal(sum(gaps)) / len(gaps) / 100).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP)) if gaps else None,
        }
    return rows


def _report(cli, by):
    out = _ok(cli("offer", "funnel", *PERIOD, *(("--by", by) if by else ()), "--json"))
    if by is None:
        return {"all": out}
    return {row[by]: row for row in out}


def _same(report, expected):
    assert set(report) == set(expected)
    for key, want in expected.items():
        got = {k: report[key][k] for k in want}
        assert got == want, key


@pytest.mark.parametrize("by", [None, "province", "market", "property_type"])
def test_the_funnel_answers_what_the_outcomes_say(cli, db, by):
    _history(cli)
    expected = _expected(db, by)
    assert sum(row["sent"] for row in expected.values()) == 10
    _same(_report(cli, by), expected)


def test_offer_outcome_keeps_one_funnel_row_per_sent_offer(cli, db):
    _history(cli)
    assert db_count(db, "SELECT COUNT(*) FROM offer_funnel") == 11  # every sent offer
    assert db_count(db, "SELECT COUNT(*) FROM offer_funnel WHERE over_max") == 1
    assert db_count(db, "SELECT COUNT(*) FROM offer_funnel WHERE accepted_at IS NOT NULL") == 5
    # contracted prices known: -5 000.00, -2 499.50, +5 000.00 (LAVAL's had no price)
    assert db_count(db, "SELECT SUM(contract_gap_cents) FROM offer_funnel") == -249950


def test_a_refused_outcome_leaves_the_funnel_as_it_was(cli, db):
    _history(cli)
    before = _report(cli, "market")
    evidence = db_count(db, "SELECT evidence_id FROM offer_funnel WHERE rejected_at IS NOT NULL "
                            "ORDER BY evidence_id LIMIT 1")
    _ok(cli("offer", "outcome", str(evidence), "--status", "accepted", "--at",
            "2027-01-20T12:00:00-05:00", "--json"), 1)
    assert _report(cli, "market") == before


def test_migration_0022_backfills_the_funnel_from_the_outcomes(cli, db):
    _history(cli)
    before = {by: _report(cli, by) for by in (None, "market")}
    assert cli("db", "downgrade", "0021", "--yes").exit_code == 0
    assert "offer_funnel" not in _tables(db)
    assert cli("db", "upgrade").exit_code == 0
    assert db_count(db, "SELECT COUNT(*) FROM offer_funnel") == 11
    assert {by: _report(cli, by) for by in (None, "market")} == before
    _same(before["market"], _expected(db, "market"))


def _tables(db):
    from sqlalchemy import inspect

    with db.transaction() as session:
        return set(inspect(session.connection()).get_table_names())
