"""The SMS provider's webhook: Twilio's request signature, the replay store and the answers."""

from __future__ import annotations

import pytest
from conftest import db_count

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_valid_signature_reaches_lead_inbound(server, db):
    url = server.url + INBOUND
    form = _form()
    with server.client(None) as client:
        answer = client.post(INBOUND, data=form, headers={
            "X-Twilio-Signature": twilio_signature(TWILIO_AUTH_TOKEN, url, form.items())})
    # Until the lead inbound service (issue 12) is on main, a signed message is not
    # acknowledged unhandled: 503, so the provider retries it, and no receipt is kept.
    assert answer.status_code == 503, answer.text
    assert db_count(db, "SELECT COUNT(*) FROM sms_webhook_receipt") == 0
