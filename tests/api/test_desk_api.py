"""The call desk's endpoints (`/api/desk*`) against a real server, on both engines: the queue,
Next call (the dispatch claim, once among many callers), the card, the decision at the moment
of the call, dispositions as `ladder complete`, and calls through the Twilio double."""

from __future__ import annotations

import threading
from xml.etree import ElementTree

import pytest
from conftest import db_count

from api.conftest import TWILIO_AUTH_TOKEN, start_server
from valhalla_cli.services.webhooks import twilio_signature

AT = "2026-12-04T10:00:00-05:00"  # a Friday morning in Toronto: calls are open
LATER = "2026-12-04T10:05:00-05:00"
BUSINESS = '[business]\nname = "Maple Home Buyers"\ncallback = "+14165550111"\n'
LADDER = '[ladder]\nsteps = ["CALL 0m", "SMS 1d", "CALL 2d"]\nlease = "15m"\n'
INBOUND = "/api/webhooks/sms/inbound"


def _config(extra: str = "") -> str:
    return (BUSINESS + LADDER + f'[api]\ntwilio_auth_token = "{TWILIO_AUTH_TOKEN}"\n' + extra)


def _token(db, name: str, scope: str = "operate", owner: str | None = None,
           phone: str | None = None) -> str:
    from datetime import UTC, datetime

    from valhalla_cli.services import api_tokens

    with db.transaction(write=True) as session:
        return api_tokens.create(session, name=name, scope=scope, actor="test",
                                 at=datetime.now(UTC), owner=owner, phone=phone).token


def _ladders(cli, config_path, rows: list[tuple[str, str | None, str]]) -> None:
    """Ladders (lead, owner, phone) with express consent, started at AT."""
    path = config_path.parent / "ladders.csv"
    lines = ["lead_id,province,owner,phone,consent,consent_at,start_at"]
    lines += [f"{lead},ON,{owner or ''},{phone},express,2026-11-02T10:00:00-05:00,{AT}"
              for lead, owner, phone in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = cli("--config", str(config_path), "ladder", "import", str(path), "--format", "json")
    assert done.exit_code == 0, done.stderr


def _live(cli, config_path) -> None:
    assert cli("--config", str(config_path), "golive", "enable", "--reason",
               "test").exit_code == 0


@pytest.fixture
def desk(db_url, db, tmp_path, cli):
    config = tmp_path / "desk.toml"
    config.write_text(_config(), encoding="utf-8")
    srv = start_server(db_url, tmp_path, config_text=_config())
    srv.tokens = {"read": _token(db, "t-read", "read"), "admin": _token(db, "t-admin", "admin"),
                  "operate": _token(db, "t-operate", "operate")}
    srv.config_path = config
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def _as(server, token: str, method: str, path: str, **kwargs):
    import httpx

    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        return client.request(method, path, **kwargs)


def test_token_create_takes_an_owner_and_a_phone(cli, db):
    made = cli("api", "token", "create", "alice", "--scope", "operate", "--owner", "va1",
               "--phone", "(416) 555-0142", "--format", "json")
    assert made.exit_code == 0, made.stderr
    assert made.json["owner"] == "va1" and made.json["phone"] == "+14165550142"
    listed = cli("api", "token", "list", "--format", "json")
    [row] = [r for r in listed.json if r["name"] == "alice"]
    assert row["owner"] == "va1" and row["phone"] == "+14165550142"
    bad = cli("api", "token", "create", "bob", "--scope", "operate", "--phone", "555")
    assert bad.exit_code == 2 and "bob" not in cli("api", "token", "list", "--json").stdout
    bad_owner = cli("api", "token", "create", "bob", "--scope", "operate", "--owner", "va\t1")
    assert bad_owner.exit_code == 2 and len(bad_owner.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_queue_next_card_and_disposition(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101"),
                                     ("L-2", None, "+14165550102"),
                                     ("L-3", "va2", "+14165550103")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1", phone="+14165550142")
    queue = _as(desk, alice, "GET", "/api/desk", params={"at": AT})
    assert queue.status_code == 200, queue.text
    body = queue.json()
    # the owner's calls first, then unowned ones; never another owner's
    assert [c["lead_id"] for c in body["calls"]] == ["L-1", "L-2"]
    assert body["due"] == 2 and body["overdue"] == 0 and body["inbox"] == []
    late = _as(desk, alice, "GET", "/api/desk", params={"at": "2026-12-04T12:30:00-05:00"})
    assert late.json()["overdue"] == 2

    first = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT})
    assert first.status_code == 200, first.text
    card = first.json()["task"]
    assert card["lead_id"] == "L-1" and card["to"] == "+14165550101"
    assert card["language"] == "en" and card["claim_token"]
    assert card["local_times"][0]["timezone"] == "America/Toronto"
    assert card["local_times"][0]["local_time"].startswith("2026-12-04T10:00")
    assert card["allowed_because"]["basis"] == "consent"
    assert card["allowed_because"]["consent"] == "express"
    assert "alice" in card["script"] and "Maple Home Buyers" in card["script"]
    assert "+14165550111" in card["script"]
    assert card["history"] == [] and card["conversation"] == []
    # while the card has no disposition, next answers the same card: no second claim
    again = _as(desk, alice, "POST", "/api/desk/next", json={"at": LATER})
    assert again.json()["task"]["task_id"] == card["task_id"]
    assert again.json()["task"]["claim_token"] == card["claim_token"]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed'") == 1

    bad = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
              json={"claim_token": card["claim_token"], "outcome": "sent", "at": LATER})
    assert bad.status_code == 422
    stale = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
                json={"claim_token": "not-the-token", "outcome": "no_answer", "at": LATER})
    assert stale.status_code == 409 and "lease lost" in stale.json()["message"]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed'") == 1
    done = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
               json={"claim_token": card["claim_token"], "outcome": "no_answer", "at": LATER})
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["status"] == "done" and answer["outcome"] == "no_answer"
    assert answer["ladder_stopped"] is False and answer["within_sla"] is True
    assert set(answer) >= {"task_id", "status", "outcome", "response_minutes", "within_sla",
                           "ladder_stopped"}
    second = _as(desk, alice, "POST", "/api/desk/next", json={"at": LATER}).json()["task"]
    assert second["lead_id"] == "L-2"
    assert _as(desk, alice, "POST", f"/api/desk/{second['task_id']}/disposition",
               json={"claim_token": second["claim_token"], "outcome": "contacted",
                     "at": LATER}).status_code == 200
    assert _as(desk, alice, "POST", "/api/desk/next",
               json={"at": LATER}).json() == {"task": None}
    # The first card's attempt is in L-1's history once its next step is handed out.
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'L-2' AND "
                        "status = 'cancelled'") == 2


@pytest.mark.slow
def test_scopes_owners_and_refusals(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101")])
    alice = _token(db, "alice", owner="va1")
    for method, path in (("GET", "/api/desk"), ("POST", "/api/desk/next"),
                         ("GET", "/api/desk/1/check"), ("POST", "/api/desk/1/disposition"),
                         ("POST", "/api/desk/1/call")):
        assert _as(desk, desk.tokens["read"], method, path).status_code == 403, path
        import httpx

        assert httpx.request(method, desk.url + path).status_code == 401, path
    other = _as(desk, alice, "GET", "/api/desk", params={"owner": "va2", "at": AT})
    assert other.status_code == 403
    admin = _as(desk, desk.tokens["admin"], "GET", "/api/desk", params={"owner": "va1",
                                                                       "at": AT})
    assert admin.status_code == 200 and [c["lead_id"] for c in admin.json()["calls"]] == ["L-1"]
    # not live: next is refused with dispatch's reason, nothing claimed
    refused = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT})
    assert refused.status_code == 409 and refused.json()["reason"] == "golive_disabled"
    _live(cli, desk.config_path)
    assert cli("--config", str(desk.config_path), "golive", "kill-switch", "engage",
               "--reason", "test").exit_code == 0
    killed = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT})
    assert killed.status_code == 409 and killed.json()["reason"] == "kill_switch_engaged"
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed'") == 0
    assert _as(desk, alice, "GET", "/api/desk/999/check").status_code == 422


@pytest.mark.slow
def test_a_stop_while_the_card_is_open_turns_the_check_to_no(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1")
    card = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    check = _as(desk, alice, "GET", f"/api/desk/{card['task_id']}/check", params={"at": AT})
    assert check.status_code == 200 and check.json()["allowed"] is True
    form = {"MessageSid": "SM1", "From": "+14165550101", "To": "+14165559999", "Body": "STOP",
            "AccountSid": "AC1"}
    signature = twilio_signature(TWILIO_AUTH_TOKEN, desk.url + INBOUND, form.items())
    import httpx

    posted = httpx.post(desk.url + INBOUND, data=form,
                        headers={"X-Twilio-Signature": signature})
    assert posted.status_code == 200
    now = _as(desk, alice, "GET", f"/api/desk/{card['task_id']}/check")
    assert now.status_code == 200
    assert now.json()["allowed"] is False and now.json()["reason"] == "suppressed"
    # and the claim is void: its disposition is refused, nothing recorded
    late = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
               json={"claim_token": card["claim_token"], "outcome": "contacted"})
    assert late.status_code == 409


@pytest.mark.slow
def test_a_disposition_is_what_ladder_complete_does(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101"),
                                     ("L-2", "va1", "+14165550102")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1")
    card = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    assert card["lead_id"] == "L-1"
    claimed = cli("--config", str(desk.config_path), "ladder", "dispatch", "--channel", "CALL",
                  "--at", AT, "--format", "json")
    [other] = claimed.json
    assert other["lead_id"] == "L-2"
    by_desk = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
                  json={"claim_token": card["claim_token"], "outcome": "appointment",
                        "note": "Tuesday 3 pm", "at": LATER})
    by_cli = cli("--config", str(desk.config_path), "ladder", "complete",
                 str(other["task_id"]), "--outcome", "appointment", "--claim-token",
                 other["claim_token"], "--note", "Tuesday 3 pm", "--at", LATER,
                 "--format", "json")
    assert by_desk.status_code == 200 and by_cli.exit_code == 0
    assert {**by_desk.json(), "task_id": 0} == {**by_cli.json, "task_id": 0}

    def ladder(lead: str) -> list[tuple]:
        from sqlalchemy import text

        with db.transaction() as session:
            return [tuple(r) for r in session.execute(text(
                "SELECT step, channel, status, outcome, response_minutes, note, status_reason "
                "FROM followup_task WHERE lead_id = :lead ORDER BY step"), {"lead": lead})]

    assert ladder("L-1") == ladder("L-2")
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'followup_completed'") == 2


@pytest.mark.slow
def test_do_not_call_suppresses_and_says_until_when(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1")
    card = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    done = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
               json={"claim_token": card["claim_token"], "outcome": "do_not_call",
                     "at": LATER})
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "opt_out" and done.json()["ladder_stopped"] is True
    assert done.json()["suppressed_on"] == "2026-12-04"
    assert done.json()["kept_until"] == "2029-12-18"
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression WHERE lead_id = 'L-1'") == 1
    check = _as(desk, alice, "GET", f"/api/desk/{card['task_id']}/check", params={"at": LATER})
    assert check.json()["reason"] == "suppressed"


@pytest.mark.slow
def test_wrong_number_detaches_the_number_as_ladder_complete_does(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1")
    card = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    done = _as(desk, alice, "POST", f"/api/desk/{card['task_id']}/disposition",
               json={"claim_token": card["claim_token"], "outcome": "wrong_number",
                     "at": LATER})
    assert done.status_code == 200, done.text
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id = 'L-1' AND phone IS NULL") == 1
    assert db_count(db, "SELECT COUNT(*) FROM wrong_number WHERE lead_id = 'L-1' AND "
                        "phone = '+14165550101'") == 1


def test_ladder_complete_wrong_number_detaches_the_number(cli):
    made = cli("ladder", "create", "L-9", "--province", "ON", "--phone", "+14165550109",
               "--consent", "express", "--at", AT)
    assert made.exit_code == 0, made.stderr
    shown = cli("ladder", "show", "L-9", "--format", "json").json
    first = shown[0]["tasks"][0]["task_id"]
    done = cli("ladder", "complete", str(first), "--outcome", "wrong_number", "--at", LATER,
               "--format", "json")
    assert done.exit_code == 0, done.stderr
    lead = cli("lead", "show", "L-9", "--format", "json").json
    assert lead["phone"] is None
    again = cli("lead", "add", "L-9", "--province", "ON", "--phone", "+14165550109")
    assert again.exit_code == 1 and "wrong number" in again.stderr


@pytest.mark.slow
def test_a_lease_that_ran_out_still_records_until_someone_else_claims(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101"),
                                     ("L-2", "va1", "+14165550102")])
    _live(cli, desk.config_path)
    alice, bob = _token(db, "alice", owner="va1"), _token(db, "bob", owner="va1")
    a = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    b = _as(desk, bob, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    assert a["task_id"] != b["task_id"]
    # 20 minutes on the phone (the lease is 15): nobody claimed alice's task, so it records
    done = _as(desk, alice, "POST", f"/api/desk/{a['task_id']}/disposition",
               json={"claim_token": a["claim_token"], "outcome": "voicemail",
                     "at": "2026-12-04T10:20:00-05:00"})
    assert done.status_code == 200, done.text
    # bob's lease ran out too, and alice's next call claims his task: bob's token is stale
    taken = _as(desk, alice, "POST", "/api/desk/next",
                json={"at": "2026-12-04T10:21:00-05:00"}).json()["task"]
    assert taken["task_id"] == b["task_id"] and taken["claim_token"] != b["claim_token"]
    lost = _as(desk, bob, "POST", f"/api/desk/{b['task_id']}/disposition",
               json={"claim_token": b["claim_token"], "outcome": "contacted",
                     "at": "2026-12-04T10:22:00-05:00"})
    assert lost.status_code == 409 and lost.json()["reason"] == "lease_lost"
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'L-2' AND "
                        "status = 'claimed'") == 1


@pytest.fixture
def two_workers(db_url, db, tmp_path, cli):
    """A server of two worker processes: callers meet in the database, not in one process."""
    config = tmp_path / "desk.toml"
    config.write_text(_config(), encoding="utf-8")
    srv = start_server(db_url, tmp_path, workers=2, config_text=_config())
    srv.config_path = config
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.mark.slow
def test_eight_callers_never_get_the_same_task(two_workers, db, cli):
    desk = two_workers
    leads = [(f"L-{i:02d}", "va1" if i % 3 else None, f"+1416555{i:04d}") for i in range(1, 41)]
    _ladders(cli, desk.config_path, leads)
    _live(cli, desk.config_path)
    tokens = [_token(db, f"caller-{n}", owner="va1") for n in range(8)]
    handed: list[tuple[int, int]] = []
    errors: list[str] = []
    barrier = threading.Barrier(8)
    lock = threading.Lock()

    def work(n: int) -> None:
        barrier.wait()
        while True:
            got = _as(desk, tokens[n], "POST", "/api/desk/next", json={"at": AT})
            if got.status_code != 200:
                with lock:
                    errors.append(got.text)
                return
            card = got.json()["task"]
            if card is None:
                return
            with lock:
                handed.append((n, card["task_id"]))
            done = _as(desk, tokens[n], "POST", f"/api/desk/{card['task_id']}/disposition",
                       json={"claim_token": card["claim_token"], "outcome": "no_answer",
                             "at": AT})
            if done.status_code != 200:
                with lock:
                    errors.append(done.text)
                return

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    ids = [task for _, task in handed]
    assert len(ids) == len(set(ids)) == 40
    assert len({n for n, _ in handed}) > 1
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                        "outcome = 'no_answer' AND attempt = 1") == 40


@pytest.mark.slow
def test_without_voice_the_call_endpoint_says_use_the_tel_link(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk.config_path)
    alice = _token(db, "alice", owner="va1", phone="+14165550142")
    card = _as(desk, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    assert card["tel"] == "tel:+14165550101"
    path = f"/api/desk/{card['task_id']}/call"
    assert _as(desk, alice, "POST", path, json={"at": AT}).status_code == 422
    stale = _as(desk, alice, "POST", path, json={"claim_token": "x", "at": AT})
    assert stale.status_code == 409 and stale.json()["reason"] == "lease_lost"
    plain = _as(desk, alice, "POST", path, json={"claim_token": card["claim_token"], "at": AT})
    assert plain.status_code == 409, plain.text
    assert plain.json()["reason"] == "voice_not_configured"
    assert plain.json()["tel"] == "tel:+14165550101" and "tel:" in plain.json()["message"]
    assert db_count(db, "SELECT COUNT(*) FROM call") == 0


@pytest.fixture
def voice(db_url, db, tmp_path, cli):
    from twilio_double import TwilioDouble

    with TwilioDouble() as double:
        text = BUSINESS + LADDER + double.config(extra='voice_from = "+14165550100"\n')
        config = tmp_path / "voice.toml"
        config.write_text(text, encoding="utf-8")
        srv = start_server(db_url, tmp_path, config_text=text)
        srv.config_path = config
        srv.double = double
        yield srv
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.mark.slow
def test_a_call_through_twilio_rings_the_caller_then_bridges_to_the_lead(voice, db, cli):
    double = voice.double
    _ladders(cli, voice.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, voice.config_path)
    alice = _token(db, "alice", owner="va1", phone="+14165550142")
    card = _as(voice, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    placed = _as(voice, alice, "POST", f"/api/desk/{card['task_id']}/call",
                 json={"claim_token": card["claim_token"], "at": AT})
    assert placed.status_code == 200, placed.text
    sid = placed.json()["sid"]
    assert sid.startswith("CA") and placed.json()["to"] == "+14165550101"
    [request] = double.call_creates()
    assert request.path == f"/2010-04-01/Accounts/{double.account_sid}/Calls.json"
    assert request.form["To"] == "+14165550142" and request.form["From"] == "+14165550100"
    assert request.form["Url"] == (f"{voice.url}/api/webhooks/voice/bridge?"
                                   f"task={card['task_id']}")
    assert request.form["Method"] == "GET"
    assert request.form["StatusCallback"] == f"{voice.url}/api/webhooks/voice/status"
    call = double.wait_call(sid)
    assert call["bridge_status"] == 200, call["twiml"]
    dial = ElementTree.fromstring(call["twiml"]).find("Dial")
    assert dial is not None and dial.get("callerId") == "+14165550100"
    assert dial.findtext("Number") == "+14165550101"
    assert [code for _, code in call["callbacks"]] == [200, 200, 200, 200]
    assert db_count(db, "SELECT COUNT(*) FROM call WHERE provider_sid = :sid AND status = "
                        "'completed' AND duration_seconds = 42", sid=sid) == 1
    # late and repeated callbacks change nothing: a final status stays
    status_url = f"{voice.url}/api/webhooks/voice/status"
    assert double.call_status(status_url, sid, "ringing") == 200
    assert double.call_status(status_url, sid, "completed", "42") == 200
    assert db_count(db, "SELECT COUNT(*) FROM call WHERE status = 'completed'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM call_event WHERE sid = :sid", sid=sid) == 4
    # signatures: a bridge or a status with a wrong one is 403 and changes nothing
    assert double.fetch_signed(call["url"], sign=False)[0] == 403
    assert double.call_status(status_url, sid, "failed", sign=False) == 403
    assert db_count(db, "SELECT COUNT(*) FROM call WHERE status = 'completed'") == 1
    # the call is in the card's history and in lead show
    again = _as(voice, alice, "POST", "/api/desk/next", json={"at": LATER}).json()["task"]
    [entry] = [h for h in again["history"] if h["kind"] == "call"]
    assert entry["status"] == "completed" and entry["duration_seconds"] == 42
    shown = cli("lead", "show", "L-1", "--format", "json")
    assert shown.json["calls"][0]["sid"] == sid
    assert shown.json["calls"][0]["duration_seconds"] == 42
    # a caller whose token has no phone is told to use the tel: link
    bob = _token(db, "bob", owner="va1")
    plain = _as(voice, bob, "POST", f"/api/desk/{card['task_id']}/call",
                json={"claim_token": card["claim_token"], "at": LATER})
    assert plain.status_code == 409 and plain.json()["reason"] == "voice_not_configured"
    assert len(double.call_creates()) == 1


@pytest.mark.slow
def test_a_call_the_decision_refuses_never_reaches_twilio(voice, db, cli):
    _ladders(cli, voice.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, voice.config_path)
    alice = _token(db, "alice", owner="va1", phone="+14165550142")
    card = _as(voice, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    # 21:30 in Toronto: the window has closed since the card opened
    closed = _as(voice, alice, "POST", f"/api/desk/{card['task_id']}/call",
                 json={"claim_token": card["claim_token"], "at": "2026-12-04T21:30:00-05:00"})
    assert closed.status_code == 409 and closed.json()["reason"] == "outside_window"
    assert voice.double.call_creates() == []
    assert db_count(db, "SELECT COUNT(*) FROM call") == 0


@pytest.mark.slow
def test_a_double_click_on_call_rings_the_callers_phone_once(voice, db, cli):
    double = voice.double
    # the caller is still on the phone: Twilio has not reported the call's end
    double.behaviour.call_statuses = [("initiated", None), ("ringing", None)]
    _ladders(cli, voice.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, voice.config_path)
    alice = _token(db, "alice", owner="va1", phone="+14165550142")
    card = _as(voice, alice, "POST", "/api/desk/next", json={"at": AT}).json()["task"]
    path = f"/api/desk/{card['task_id']}/call"
    body = {"claim_token": card["claim_token"], "at": AT}
    start, answers = threading.Barrier(2), []

    def click() -> None:
        start.wait(timeout=30)
        answers.append(_as(voice, alice, "POST", path, json=body))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    [refused] = [a.json() for a in answers if a.status_code == 409]
    assert refused["reason"] == "call_in_progress" and refused["tel"] == "tel:+14165550101"
    assert len(double.call_creates()) == 1
    sid = next(a.json()["sid"] for a in answers if a.status_code == 200)
    double.wait_call(sid)
    # a click while it rings is refused too; once it has ended the caller may call again
    again = _as(voice, alice, "POST", path, json=body)
    assert again.status_code == 409 and again.json()["reason"] == "call_in_progress"
    assert double.call_status(f"{voice.url}/api/webhooks/voice/status", sid, "no-answer",
                              "0") == 200
    redial = _as(voice, alice, "POST", path, json=body)
    assert redial.status_code == 200, redial.text
    assert len(double.call_creates()) == 2
    assert db_count(db, "SELECT COUNT(*) FROM call") == 2


@pytest.mark.slow
def test_the_queue_shows_the_owners_open_inbox_items_with_their_conversation(desk, db, cli):
    _ladders(cli, desk.config_path, [("L-1", "va1", "+14165550101"),
                                     ("L-2", "va2", "+14165550102")])
    import httpx

    for sid, phone in (("SM1", "+14165550101"), ("SM2", "+14165550102")):
        form = {"MessageSid": sid, "From": phone, "To": "+14165559999",
                "Body": "Call me after 5", "AccountSid": "AC1"}
        signature = twilio_signature(TWILIO_AUTH_TOKEN, desk.url + INBOUND, form.items())
        assert httpx.post(desk.url + INBOUND, data=form,
                          headers={"X-Twilio-Signature": signature}).status_code == 200
    alice = _token(db, "alice", owner="va1")
    queue = _as(desk, alice, "GET", "/api/desk").json()
    [item] = queue["inbox"]
    assert item["lead_id"] == "L-1" and item["kind"] == "reply"
    assert [line["text"] for line in item["conversation"]] == ["Call me after 5"]
    # the reply paused L-1's ladder: its call is not in the queue
    assert queue["calls"] == [] and queue["due"] == 0
