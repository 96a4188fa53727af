"""The SMS provider's webhook: Twilio's request signature, the replay store and the answers."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from conftest import Cli, db_count

from api.conftest import TWILIO_AUTH_TOKEN
from valhalla_cli.services.webhooks import (
    claim_message,
    twilio_signature,
    valid_twilio_signature,
)

# Twilio's published example (twilio-php's "Validate Incoming Requests" guide, after
# https://www.twilio.com/docs/usage/security): auth token 12345, this URL and these POST
# fields sign to RSOYDt4T1cUTdK1PDd93/VVr8B8=.
EXAMPLE_TOKEN = "12345"
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                  "From": "+14158675309", "To": "+18005551212"}
EXAMPLE_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
INBOUND = "/api/webhooks/sms/inbound"


def test_the_signature_of_twilios_documented_example():
    pairs = list(EXAMPLE_PARAMS.items())
    assert twilio_signature(EXAMPLE_TOKEN, EXAMPLE_URL, pairs) == EXAMPLE_SIGNATURE
    assert valid_twilio_signature(EXAMPLE_TOKEN, EXAMPLE_URL, pairs, EXAMPLE_SIGNATURE)
    # parameter order as posted does not matter: they are sorted by name
    assert valid_twilio_signature(EXAMPLE_TOKEN, EXAMPLE_URL, list(reversed(pairs)),
                                  EXAMPLE_SIGNATURE)


@pytest.mark.parametrize("change", ["token", "url", "param", "missing", "no-token"])
def test_any_change_breaks_the_signature(change):
    token, url, pairs, signature = (EXAMPLE_TOKEN, EXAMPLE_URL, list(EXAMPLE_PARAMS.items()),
                                    EXAMPLE_SIGNATURE)
    if change == "token":
        token = "54321"
    elif change == "url":
        url = url.replace("https", "http")
    elif change == "param":
        pairs = [(k, v + "0" if k == "Digits" else v) for k, v in pairs]
    elif change == "missing":
        signature = None
    else:
        token = None
    assert not valid_twilio_signature(token, url, pairs, signature)


def test_a_message_sid_is_handled_once(db):
    from valhalla_cli.clock import utcnow

    with db.transaction(write=True) as session:
        assert claim_message(session, message_sid="SM1", from_number="+14165550100",
                             at=utcnow())
    with db.transaction(write=True) as session:
        assert not claim_message(session, message_sid="SM1", from_number="+14165550100",
                                 at=utcnow())
        assert claim_message(session, message_sid="SM2", from_number="+14165550100",
                             at=utcnow())
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt") == 2


def _form(sid: str = "SM100", body: str = "STOP") -> dict[str, str]:
    return {"MessageSid": sid, "From": "+14165550100", "To": "+14165559999", "Body": body,
            "AccountSid": "AC1"}


def test_a_missing_or_wrong_signature_is_403_and_changes_nothing(server, db):
    url = server.url + INBOUND
    form = _form()
    with server.client(None) as client:
        missing = client.post(INBOUND, data=form)
        wrong = client.post(INBOUND, data=form, headers={
            "X-Twilio-Signature": twilio_signature("not-the-token", url, form.items())})
        tampered = client.post(INBOUND, data={**form, "Body": "hello"}, headers={
            "X-Twilio-Signature": twilio_signature(TWILIO_AUTH_TOKEN, url, form.items())})
    for answer in (missing, wrong, tampered):
        assert answer.status_code == 403, answer.text
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt") == 0
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression") == 0
    # a bearer token is no substitute for the provider's signature
    with server.client("admin") as client:
        assert client.post(INBOUND, data=form).status_code == 403


def _signed_post(server, form: dict[str, str]):
    signature = twilio_signature(TWILIO_AUTH_TOKEN, server.url + INBOUND, form.items())
    with server.client(None) as client:
        return client.post(INBOUND, data=form, headers={"X-Twilio-Signature": signature})


def _add_lead(db_url: str, lead_id: str = "L-7001", phone: str = "+14165550100") -> None:
    result = Cli(db_url)("lead", "add", lead_id, "--province", "ON", "--phone", phone)
    assert result.exit_code == 0, result.stderr


def _suppressed(db, phone: str = "+14165550100") -> int:
    return db_count(db, "SELECT COUNT(*) FROM contact_suppression WHERE phone = :p", p=phone)


def test_a_signed_stop_opts_the_leads_number_out_and_answers_the_confirmation(server, db):
    _add_lead(server.db_url)
    answer = _signed_post(server, _form("SM200", "STOP please"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.text)
    message = root.find("Message")
    assert root.tag == "Response" and message is not None
    assert "no more messages" in (message.text or "")  # the lead's language: English only
    assert _suppressed(db) == 1
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message WHERE lead_id = 'L-7001' "
                    "AND action = 'opted_out'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt WHERE message_sid = 'SM200' "
                    "AND outcome = 'opted_out'") == 1
    shown = Cli(server.db_url)("lead", "show", "L-7001", "--format", "json")
    assert shown.json["suppressed"] is True
    assert {c["channel"]: c["reason"] for c in shown.json["contact"]}["SMS"] == "suppressed"


def test_any_other_body_is_recorded_and_answers_an_empty_response(server, db):
    _add_lead(server.db_url)
    answer = _signed_post(server, _form("SM300", "Who is this?"))
    assert answer.status_code == 200, answer.text
    root = ElementTree.fromstring(answer.text)
    assert root.tag == "Response" and list(root) == []
    assert _suppressed(db) == 0
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message WHERE action = 'recorded'") == 1


def test_a_replayed_message_sid_is_a_no_op(server, db):
    _add_lead(server.db_url)
    first = _signed_post(server, _form("SM400", "STOP"))
    again = _signed_post(server, _form("SM400", "STOP"))
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert ElementTree.fromstring(first.text).find("Message") is not None
    assert list(ElementTree.fromstring(again.text)) == []  # nothing sent twice
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message") == 1
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt") == 1
    assert _suppressed(db) == 1


def test_a_wrongly_signed_stop_from_a_leads_number_changes_nothing(server, db):
    _add_lead(server.db_url)
    form = _form("SM500", "STOP")
    with server.client(None) as client:
        wrong = client.post(INBOUND, data=form, headers={
            "X-Twilio-Signature": twilio_signature("not-the-token", server.url + INBOUND,
                                                   form.items())})
        missing = client.post(INBOUND, data=form)
    assert wrong.status_code == missing.status_code == 403
    assert _suppressed(db) == 0
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message") == 0
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt") == 0
