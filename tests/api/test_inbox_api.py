"""The inbox over HTTP (SPEC 22): the webhook answers keywords as TwiML and opens items; the
`/api/inbox` endpoints with their scopes and the CLI's bodies (both engines)."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from conftest import Cli, db_count

from api.conftest import TWILIO_AUTH_TOKEN, app_server
from valhalla_cli.services.webhooks import twilio_signature

INBOUND = "/api/webhooks/sms/inbound"
PHONE = "+14165550100"
ENV = {"VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
       "VALHALLA_BUSINESS_CALLBACK": "+14165550111", "VALHALLA_SENDER_PROVIDER": "log"}


@pytest.fixture
def server(db_url, tmp_path, capsys, monkeypatch):
    yield from app_server(db_url, tmp_path, capsys, monkeypatch, env=ENV)


def _signed(server, sid: str, body: str):
    form = {"MessageSid": sid, "From": PHONE, "To": "+14165559999", "Body": body,
            "AccountSid": "AC1"}
    signature = twilio_signature(TWILIO_AUTH_TOKEN, server.url + INBOUND, form.items())
    with server.client(None) as client:
        answer = client.post(INBOUND, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200, answer.text
    message = ElementTree.fromstring(answer.text).find("Message")
    return None if message is None else message.text


def _ladder(server) -> None:
    made = Cli(server.db_url)("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE,
                              "--consent", "express", "--owner", "ana")
    assert made.exit_code == 0, made.stderr


def test_the_webhook_answers_keywords_as_twiml_and_a_reply_opens_an_item(server, db):
    _ladder(server)
    helped = _signed(server, "SM1", "AIDE")
    assert "Maple Home Buyers" in helped and "ARRÊT" in helped
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 0
    assert "no more messages" in _signed(server, "SM2", "STOP")
    back = _signed(server, "SM3", "START")
    assert "Maple Home Buyers" in back and "subscribed again" in back
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent WHERE kind = 'express' AND "
                        "channel = 'SMS' AND evidence LIKE '%SM3%'") == 1
    assert _signed(server, "SM4", "Not interested, thanks") is None
    listed = server.get("/api/inbox", scope="read")
    assert listed.status_code == 200, listed.text
    [item] = listed.json()
    assert item["lead_id"] == "L-1" and item["kind"] == "refusal" and item["deadline"]
    shown = server.get("/api/inbox/L-1", scope="read")
    assert [line["text"] for line in shown.json()["conversation"]] == [
        "AIDE", "STOP", "START", "Not interested, thanks"]


def test_reply_and_close_need_operate_and_answer_as_the_cli(server, db):
    _ladder(server)
    live = Cli(server.db_url)("golive", "enable", "--reason", "test")
    assert live.exit_code == 0, live.stderr
    _signed(server, "SM1", "Yes, call me")
    body = {"text": "Happy to, when?", "at": "2027-01-15T10:00:00-05:00"}
    assert server.post("/api/inbox/L-1/reply", scope="read", json=body).status_code == 403
    assert server.get("/api/inbox", scope=None).status_code == 401
    long = server.post("/api/inbox/L-1/reply", scope="operate", json={**body, "text": "x" * 1601})
    assert long.status_code == 422 and "1600" in long.json()["error"]["message"]
    sent = server.post("/api/inbox/L-1/reply", scope="operate", json=body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["state"] == "accepted"
    assert sent.json()["text"].endswith("— Maple Home Buyers +14165550111. STOP to opt out")
    inquiry = server.post("/api/inbox/L-1/reply", scope="operate",
                          json={**body, "record_inquiry": True, "at": "2027-01-15T10:30:00-05:00"})
    assert inquiry.status_code == 200, inquiry.text
    bad = server.post("/api/inbox/L-1/close", scope="operate", json={"outcome": "later"})
    assert bad.status_code == 422
    closed = server.post("/api/inbox/L-1/close", scope="operate",
                         json={"outcome": "appointment", "at": "2027-01-15T11:00:00-05:00"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["tasks_cancelled"] == 6
    again = server.post("/api/inbox/L-1/close", scope="operate",
                        json={"outcome": "appointment", "at": "2027-01-15T11:00:00-05:00"})
    assert again.status_code == 409 and again.json()["reason"] == "no_open_item"
