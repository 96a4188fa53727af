"""`POST /api/webhooks/sms/status`: Twilio's status callbacks, posted SIGNED by the Twilio double
to a real `valhalla serve`, after a real `valhalla send` (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import ChangesNothing, db_count, run_valhalla

from api.conftest import TWILIO_AUTH_TOKEN

pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow  # a real server and real sends: about 30 s a test here


@pytest.fixture
def server(live_server):
    """A real process: the provider double posts its callbacks to the server's URL."""
    return live_server

from twilio_double import TwilioDouble  # noqa: E402

STATUS = "/api/webhooks/sms/status"
AT = "2027-01-15T10:00:00-05:00"
LATER = "2027-01-15T10:01:00-05:00"
PHONE = "+14165550142"
ENV = {"VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
       "VALHALLA_BUSINESS_CALLBACK": "+14165550100"}


@pytest.fixture
def double():
    # The server's [api] twilio_auth_token (the auth token's older name) signs its webhooks:
    # the double's account has the same token.
    with TwilioDouble(auth_token=TWILIO_AUTH_TOKEN) as running:
        running.now = lambda: datetime(2027, 1, 15, 15, 1, tzinfo=UTC)
        yield running


def _sent(server, double, tmp_path) -> dict:
    config = tmp_path / "send.toml"
    config.write_text(double.config(callback_url=server.url + STATUS), encoding="utf-8")
    for args in (("golive", "enable", "--reason", "t"),
                 ("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE, "--consent",
                  "express", "--consent-at", "2027-01-01T09:00", "--at", AT)):
        assert run_valhalla(*args, db_url=server.db_url, env=ENV).exit_code == 0
    result = run_valhalla("--config", str(config), "send", "--at", LATER, db_url=server.db_url,
                          env=ENV)
    assert result.exit_code == 0, result.stderr
    [line] = result.jsonl
    [request] = double.creates()
    assert request.form["StatusCallback"] == server.url + STATUS
    return line


def _state(db, message_id: int) -> str:
    return db_count(db, "SELECT state FROM outbound_message WHERE message_id = :i", i=message_id)


def test_signed_callbacks_move_the_state_forward_out_of_order_and_twice(server, db, double,
                                                                       tmp_path):
    line = _sent(server, double, tmp_path)
    url, sid = server.url + STATUS, line["sid"]
    assert double.callback(url, sid, "sent") == 200
    assert _state(db, line["message_id"]) == "sent"
    assert double.callback(url, sid, "delivered") == 200
    assert _state(db, line["message_id"]) == "delivered"
    events = db_count(db, "SELECT COUNT(*) FROM message_event WHERE sid = :s", s=sid)
    with ChangesNothing(db):
        assert double.callback(url, sid, "delivered") == 200  # the provider's retry
        assert double.callback(url, sid, "sent") == 200  # late and lower: kept once already
    assert db_count(db, "SELECT COUNT(*) FROM message_event WHERE sid = :s", s=sid) == events
    assert _state(db, line["message_id"]) == "delivered"
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'sms_delivered' AND "
                    "value = 1") == 1


def test_the_answer_is_200_with_an_empty_body(server, db, double, tmp_path):
    line = _sent(server, double, tmp_path)
    params = {"MessageSid": line["sid"], "SmsStatus": "undelivered", "ErrorCode": "30006",
              "To": PHONE, "From": "+14165550100", "AccountSid": double.account_sid}
    signature = double.signature(server.url + STATUS, params)
    with server.client(None) as client:
        answer = client.post(STATUS, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.content == b""
    assert _state(db, line["message_id"]) == "undelivered"
    assert db_count(db, "SELECT code FROM phone_status WHERE number = :p", p=PHONE) == 30006


def test_a_missing_or_wrong_signature_is_403_and_changes_nothing(server, db, double, tmp_path):
    line = _sent(server, double, tmp_path)
    url, sid = server.url + STATUS, line["sid"]
    with ChangesNothing(db):
        assert double.callback(url, sid, "delivered", sign=False) == 403
        assert double.callback(url, sid, "delivered", signature="bm90IGl0") == 403
        wrong = TwilioDouble(auth_token="another-token")
        params = {"MessageSid": sid, "MessageStatus": "delivered"}
        with server.client("admin") as client:  # a bearer token is no substitute
            answer = client.post(STATUS, data=params, headers={
                "X-Twilio-Signature": wrong.signature(url, params)})
        assert answer.status_code == 403
        wrong.server.server_close()


def test_a_callback_that_outruns_the_send_is_kept_and_applied_when_the_sid_is_recorded(
        server, db, double, tmp_path):
    url = server.url + STATUS
    assert double.callback(url, "SM" + "e" * 32, "delivered") == 200
    assert db_count(db, "SELECT COUNT(*) FROM message_event WHERE applied = :f",
                    f=False) == 1
    import secrets

    original = secrets.token_hex
    secrets.token_hex = lambda n=16: "e" * 32 if n == 16 else original(n)
    try:
        line = _sent(server, double, tmp_path)
    finally:
        secrets.token_hex = original
    assert line["sid"] == "SM" + "e" * 32
    assert _state(db, line["message_id"]) == "delivered"


def test_eight_clients_posting_the_same_callbacks_at_once_record_each_once(
        server, db, double, tmp_path):
    """Twilio retries and duplicates: 8 concurrent posts of the same two statuses record two
    events, one state change each way, and one `sms_delivered`."""
    import threading

    line = _sent(server, double, tmp_path)
    url, sid = server.url + STATUS, line["sid"]
    answers: list[int] = []
    barrier = threading.Barrier(8)

    def post(status: str) -> None:
        barrier.wait()
        answers.append(double.callback(url, sid, status))

    threads = [threading.Thread(target=post, args=("delivered" if i % 2 else "sent",))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8
    assert db_count(db, "SELECT COUNT(*) FROM message_event WHERE sid = :s AND status IN "
                    "('sent', 'delivered')", s=sid) == 2
    assert _state(db, line["message_id"]) == "delivered"
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'sms_delivered'") == 1
