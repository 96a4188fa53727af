"""The call desk's rules: the retention date, the dispositions, the script, and call statuses
that only move forward (late, repeated or early callbacks), on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import db_count

from valhalla_cli.errors import BadInput
from valhalla_cli.services import desk

T0 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("day", "until"), [
    (date(2026, 12, 4), date(2029, 12, 18)),
    (date(2028, 2, 29), date(2031, 3, 14)),  # no 29 February in 2031: the 28th, then 14 days
    (date(2027, 12, 25), date(2031, 1, 8)),
])
def test_an_internal_do_not_call_entry_is_kept_3_years_and_14_days(day, until):
    assert desk.kept_until(day) == until


def test_only_the_seven_dispositions_are_accepted():
    assert desk.check_disposition(" Do_Not_Call ") == "do_not_call"
    for wrong in ("sent", "opt_out", "", None, "later"):
        with pytest.raises(BadInput):
            desk.check_disposition(wrong)


def test_the_script_identifies_the_caller_in_the_leads_language():
    en = desk.script(language="en", caller="alice", business="Maple Home Buyers",
                     callback="+14165550111", name="Sam")
    assert en == ("Hello Sam, this is alice calling from Maple Home Buyers. You can reach us "
                  "at +14165550111.")
    fr = desk.script(language="fr", caller="alice", business="Maple Home Buyers",
                     callback="+14165550111", name=None)
    assert fr.startswith("Bonjour, ici alice, de Maple Home Buyers") and "+14165550111" in fr


def _call(db, sid: str, status: str = "queued") -> None:
    from valhalla_cli.models import Call

    with db.transaction(write=True) as session:
        session.add(Call(task_id=1, lead_id="L-1", owner="va1", token_name="alice",
                         provider_sid=sid, status=status, to="+14165550101",
                         from_number="+14165550100", created_at=T0, updated_at=T0))


def _record(db, sid: str, status: str, duration: str | None = None, minutes: int = 0) -> None:
    with db.transaction(write=True) as session:
        desk.record_status(session, sid=sid, status=status, duration=duration,
                           at=T0 + timedelta(minutes=minutes))


def _state(db, sid: str) -> tuple:
    from sqlalchemy import text

    with db.transaction() as session:
        return tuple(session.execute(text(
            "SELECT status, duration_seconds FROM call WHERE provider_sid = :sid"),
            {"sid": sid}).one())


def test_call_statuses_move_forward_only(db):
    _call(db, "CA1")
    _record(db, "CA1", "ringing", minutes=1)
    assert _state(db, "CA1") == ("ringing", None)
    _record(db, "CA1", "completed", "37", minutes=3)
    _record(db, "CA1", "in-progress", minutes=2)  # arrives late
    _record(db, "CA1", "completed", "37", minutes=4)  # twice
    _record(db, "CA1", "failed", minutes=5)  # a final status stays
    assert _state(db, "CA1") == ("completed", 37)
    assert db_count(db, "SELECT COUNT(*) FROM call_event WHERE sid = 'CA1'") == 4


def test_a_status_before_its_call_is_known_is_kept(db):
    _record(db, "CA9", "completed", "12")
    assert db_count(db, "SELECT COUNT(*) FROM call_event WHERE sid = 'CA9'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM call") == 0


def test_a_status_that_is_not_twilios_is_bad_input_and_changes_nothing(db):
    _call(db, "CA2")
    for status, duration in (("answered", None), ("requesting", None), ("completed", "ten")):
        with pytest.raises(BadInput):
            _record(db, "CA2", status, duration)
    assert _state(db, "CA2") == ("queued", None)
    assert db_count(db, "SELECT COUNT(*) FROM call_event") == 0


def test_why_a_call_is_allowed_names_the_consent_or_the_dncl_copy(cli, db, tmp_path):
    import zipfile

    from valhalla_cli.inputs import parse_instant

    at = "2026-12-04T10:00:00-05:00"
    with zipfile.ZipFile(tmp_path / "dncl.zip", "w") as archive:
        archive.writestr("416.csv", "416,5550100\n")
    assert cli("dncl", "import", str(tmp_path / "dncl.zip"), "--at", at).exit_code == 0
    for lead, phone in (("L-5", "+14165550155"), ("L-6", "+14165550100"),
                        ("L-7", "+14165550177")):
        assert cli("lead", "add", lead, "--province", "ON", "--phone", phone,
                   "--at", at).exit_code == 0
    assert cli("lead", "consent", "L-7", "--kind", "inquiry", "--evidence", "asked",
               "--at", at).exit_code == 0
    when = parse_instant(at, "America/Toronto", field="at")
    with db.transaction() as session:
        def why(lead: str, phone: str):
            return desk.allowed_because(session, lead_id=lead, phone=phone, at=when,
                                        business_timezone="America/Toronto")

        checked = why("L-5", "+14165550155")
        assert checked is not None and checked["basis"] == "dncl"
        assert str(checked["dncl_as_of"]) == "2026-12-04"
        assert why("L-6", "+14165550100") is None  # on the list, no exemption
        exempt = why("L-7", "+14165550177")
        assert exempt is not None and exempt["basis"] == "consent"
        assert exempt["consent"] == "inquiry" and exempt["evidence"] == "asked"


def test_a_status_that_outran_its_call_shows_in_the_calls_of_the_lead(db):
    # the callback committed before the call's own transaction recorded the sid
    _record(db, "CA5", "ringing", minutes=1)
    _record(db, "CA5", "completed", "25", minutes=2)
    _call(db, "CA5")
    with db.transaction() as session:
        [view] = desk.calls_of_lead(session, "L-1")
        [entry] = [h for h in desk.history(session, lead_id="L-1") if h.kind == "call"]
    assert (view.status, view.duration_seconds) == ("completed", 25)
    assert (entry.status, entry.duration_seconds) == ("completed", 25)
