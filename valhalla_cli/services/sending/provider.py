"""Talking to the SMS provider: Twilio's Messages resource over HTTPS, or the `log` provider
(and its Calls resource, for the call desk).

Plain standard-library HTTP (urllib): three calls of a documented form-and-JSON API need no
client library, and the answers this module must see exactly — the HTTP status, Twilio's error
`code`, `Retry-After` — are what a library would wrap in its own exceptions.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from valhalla_cli.settings import TwilioSettings

TIMEOUT_SECONDS = 10.0
API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class Answer:
    """What the provider said to one request.

    kind: accepted (HTTP 2xx with a sid) | refused (HTTP 4xx) | unreachable (timeout,
    connection error, HTTP 5xx)."""

    kind: str
    http_status: int | None = None
    sid: str | None = None
    status: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    retry_after: float | None = None
    date_created: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def parse_provider_instant(value: Any) -> datetime | None:
    """Twilio's dates are RFC 2822 ('Mon, 07 Dec 2026 04:00:00 +0000'); ISO 8601 is accepted
    too."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _code(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class Twilio:
    """The three calls Valhalla makes: create a message, list messages to a number, fetch one."""

    def __init__(self, settings: TwilioSettings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout
        credentials = f"{settings.account_sid}:{settings.auth_token}".encode()
        self._auth = "Basic " + base64.b64encode(credentials).decode("ascii")
        # A proxy from the environment is honoured, except for a loopback provider (a test
        # double, a local relay), which a proxy could not reach.
        host = urllib.parse.urlsplit(settings.api_base).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if host in (
            "127.0.0.1", "localhost", "::1") else []
        self._opener = urllib.request.build_opener(*handlers)
        self._root = (f"{settings.api_base}/{API_VERSION}/Accounts/"
                      f"{urllib.parse.quote(str(settings.account_sid))}")

    def _request(self, method: str, url: str,
                 form: dict[str, str] | list[tuple[str, str]] | None = None) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": self._auth, "Accept": "application/json",
            **({"Content-Type": "application/x-www-form-urlencoded"} if data else {})})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, body, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            try:
                body = exc.read()
            except (OSError, ValueError):
                body = b""
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Answer("unreachable", error_message=f"{type(reason).__name__}: {reason}")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if status >= 500:
            return Answer("unreachable", status, error_message=f"HTTP {status}")
        if status >= 400:
            retry = None
            if headers is not None and headers.get("Retry-After"):
                try:
                    retry = max(0.0, float(headers["Retry-After"]))
                except ValueError:
                    retry = None
            return Answer("refused", status, error_code=_code(payload.get("code")),
                          error_message=str(payload.get("message") or f"HTTP {status}"),
                          retry_after=retry, fields=payload)
        return Answer("accepted", status,
                      sid=payload.get("sid"), status=payload.get("status"),
                      error_code=_code(payload.get("error_code")),
                      error_message=payload.get("error_message"),
                      date_created=parse_provider_instant(payload.get("date_created")),
                      fields=payload)

    def create(self, *, to: str, body: str) -> Answer:
        form = {"To": to, "Body": body}
        if self.settings.from_number:
            form["From"] = self.settings.from_number
        else:
            form["MessagingServiceSid"] = str(self.settings.messaging_service_sid)
        if self.settings.status_callback_url:
            form["StatusCallback"] = self.settings.status_callback_url
        answer = self._request("POST", f"{self._root}/Messages.json", form)
        if answer.kind == "accepted" and not answer.sid:  # taken, but under which sid?
            return Answer("unreachable", answer.http_status,
                          error_message="the provider's answer carries no sid")
        return answer

    def create_call(self, form: list[tuple[str, str]]) -> Answer:
        """Place a call (the Calls resource): `To`, `From`, `Url` and the status callback; a
        name may repeat (`StatusCallbackEvent`)."""
        answer = self._request("POST", f"{self._root}/Calls.json", form)
        if answer.kind == "accepted" and not answer.sid:
            return Answer("unreachable", answer.http_status,
                          error_message="the provider's answer carries no sid")
        return answer

    def fetch(self, sid: str) -> Answer:
        return self._request("GET", f"{self._root}/Messages/{urllib.parse.quote(sid)}.json")

    def list_to(self, *, to: str, since: datetime) -> list[dict[str, Any]] | None:
        """Every message to `to` sent on or after `since`'s date, pages followed; None when the
        provider could not be reached or refused."""
        query = urllib.parse.urlencode({"To": to, "DateSent>": since.date().isoformat(),
                                        "PageSize": "100"})
        # Twilio's filter is spelled `DateSent>=`: the key `DateSent>` and its value.
        url = f"{self._root}/Messages.json?" + query
        found: list[dict[str, Any]] = []
        for _ in range(1000):
            answer = self._request("GET", url)
            if answer.kind != "accepted":
                return None
            found.extend(m for m in answer.fields.get("messages", []) if isinstance(m, dict))
            next_uri = answer.fields.get("next_page_uri")
            if not next_uri:
                return found
            url = self.settings.api_base + str(next_uri)
        return found


def log_sid() -> str:
    """The `log` provider's sid: LOG and 32 hex digits, the shape of Twilio's SM... sids."""
    return "LOG" + secrets.token_hex(16)
