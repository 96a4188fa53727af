"""A Twilio double: a loopback HTTP server speaking the part of Twilio's REST API that
`valhalla send` uses (the Messages resource), from Twilio's documented contract.

- `POST /2010-04-01/Accounts/{sid}/Messages.json` with HTTP basic authentication and the form
  fields To, From or MessagingServiceSid, Body, StatusCallback: 201 with the message's JSON
  (`sid`, `status`, `to`, `from`, `messaging_service_sid`, `body`, `date_created`,
  `error_code`, `error_message`); errors are HTTP 4xx with `{"code", "message", "more_info",
  "status"}`.
- `GET …/Messages.json?To=…&DateSent>=YYYY-MM-DD&PageSize=N`: the list filter, paged by
  `next_page_uri`.
- `GET …/Messages/{sid}.json`: one message, 404 (code 20404) when unknown.
- `POST …/Calls.json` (To, From, Url, Method, StatusCallback): 201 with the call's JSON
  (`sid` CA…, `status` queued, `to`, `from`); then, as Twilio does once the called phone
  answers, it fetches the TwiML at `Url` (a GET signed over the URL alone) and posts the call's
  statuses (`CallSid`, `CallStatus`, `CallDuration`), signed, to `StatusCallback`.

It can be told to refuse a number with a code, answer 429 (with Retry-After), answer 500 after
accepting, drop the connection before or after accepting, delay, and post status callbacks
signed with the account's auth token (twice or out of order is the caller's choice). Every
request is recorded, so a test can count the requests per number.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "double-auth-token"
SENDER = "+14165550100"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    at: float  # time.time() when the request arrived
    answered: int | None = None  # the HTTP status answered (None: connection dropped)


@dataclass
class Behaviour:
    refuse: dict[str, tuple[int, int]] = field(default_factory=dict)  # To -> (http, code)
    too_many: int = 0  # the next N creates answer 429
    retry_after: str | None = "0"
    fail_after_accept: set[str] = field(default_factory=set)  # To: accept, then answer 500
    drop_before: set[str] = field(default_factory=set)  # To: close before accepting
    drop_after: set[str] = field(default_factory=set)  # To: accept, then close
    delay: float = 0.0  # seconds before each answer
    status: str = "queued"  # the status of an accepted message
    error_all: tuple[int, int] | None = None  # every create answers (http, code)
    # A call's statuses posted after its bridge is fetched, in this order (status, duration).
    call_statuses: list[tuple[str, str | None]] = field(default_factory=lambda: [
        ("initiated", None), ("ringing", None), ("in-progress", None), ("completed", "42")])
    call_refuse: tuple[int, int] | None = None  # every call create answers (http, code)


class TwilioDouble:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.behaviour = Behaviour()
        # The provider's clock (its `date_created`): tests that run Valhalla with `--at` set it
        # to the same instant.
        self.now = lambda: datetime.now(UTC)
        self.requests: list[Recorded] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}  # sid -> the call, its TwiML and callbacks
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> TwilioDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def config(self, *, callback_url: str | None = None, max_per_second: float = 1000,
               extra: str = "") -> str:
        """The TOML of a Valhalla config sending through this double."""
        lines = ["[sender]", 'provider = "twilio"', f"max_per_second = {max_per_second}", "",
                 "[twilio]", f'account_sid = "{self.account_sid}"',
                 f'auth_token = "{self.auth_token}"', f'from = "{SENDER}"',
                 f'api_base = "{self.base}"']
        if callback_url:
            lines.append(f'status_callback_url = "{callback_url}"')
        return "\n".join(lines) + "\n" + extra

    # -- what tests read ----------------------------------------------------------------------

    def creates(self, to: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"
                    and r.path.endswith("/Messages.json")
                    and (to is None or r.form.get("To") == to)]

    def accepted(self, to: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages.values() if to is None or m["to"] == to]

    def call_creates(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"
                    and r.path.endswith("/Calls.json")]

    def wait_call(self, sid: str, timeout: float = 60) -> dict[str, Any]:
        """The call once its bridge was fetched and its statuses posted."""
        done = self.calls[sid]["done"]
        assert done.wait(timeout), f"call {sid} did not finish"
        return self.calls[sid]

    def fetch_signed(self, url: str, *, sign: bool = True) -> tuple[int, str]:
        """GET `url` as Twilio fetches TwiML: signed over the URL alone."""
        headers = {"X-Twilio-Signature": self.signature(url, {})} if sign else {}
        request = urllib.request.Request(url, headers=headers, method="GET")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def call_status(self, url: str, sid: str, status: str, duration: str | None = None, *,
                    sign: bool = True) -> int:
        """Post Twilio's call status callback for `sid` to `url`; returns the HTTP status."""
        call = self.calls.get(sid, {})
        params = {"CallSid": sid, "CallStatus": status, "AccountSid": self.account_sid,
                  "To": call.get("to", "+14165550199"), "From": call.get("from", SENDER),
                  "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
        if duration is not None:
            params["CallDuration"] = duration
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = self.signature(url, params)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                         headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def _run_call(self, sid: str) -> None:
        """What Twilio does after accepting a call: the answered phone's TwiML, then statuses."""
        call = self.calls[sid]
        try:
            call["bridge_status"], call["twiml"] = self.fetch_signed(call["url"])
            for status, duration in self.behaviour.call_statuses:
                if call.get("status_callback"):
                    call["callbacks"].append(
                        (status, self.call_status(call["status_callback"], sid, status,
                                                  duration)))
        finally:
            call["done"].set()

    def per_number(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.accepted():
            counts[message["to"]] = counts.get(message["to"], 0) + 1
        return counts

    # -- status callbacks ---------------------------------------------------------------------

    def signature(self, url: str, params: dict[str, str]) -> str:
        import hashlib
        import hmac

        data = url + "".join(k + v for k, v in sorted(params.items()))
        digest = hmac.new(self.auth_token.encode(), data.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def callback(self, url: str, sid: str, status: str, *, error_code: int | None = None,
                 sign: bool = True, signature: str | None = None) -> int:
        """Post Twilio's status callback for `sid` to `url`; returns the HTTP status."""
        message = self.messages.get(sid, {})
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                  "SmsStatus": status, "AccountSid": self.account_sid,
                  "To": message.get("to", "+14165550199"), "From": SENDER,
                  "ApiVersion": "2010-04-01"}
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = signature or self.signature(url, params)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                         headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # -- the server ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: dict[str, Any] | None,
                        headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.record.answered = status

            def _error(self, status: int, code: int, message: str,
                       headers: dict[str, str] | None = None) -> None:
                self._answer(status, {"code": code, "message": message,
                                      "more_info": f"https://www.twilio.com/docs/errors/{code}",
                                      "status": status}, headers)

            def _drop(self) -> None:
                self.close_connection = True
                self.connection.close()

            def _begin(self, method: str) -> tuple[str, list[str]] | None:
                parts = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                self.record = Recorded(method, parts.path,
                                       dict(urllib.parse.parse_qsl(parts.query)),
                                       dict(urllib.parse.parse_qsl(raw)), time.time())
                with double.lock:
                    double.requests.append(self.record)
                if double.behaviour.delay:
                    time.sleep(double.behaviour.delay)
                expected = "Basic " + base64.b64encode(
                    f"{double.account_sid}:{double.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._error(401, 20003, "Authenticate")
                    return None
                prefix = f"/2010-04-01/Accounts/{double.account_sid}/"
                if not parts.path.startswith(prefix):
                    self._error(404, 20404, "The requested resource was not found")
                    return None
                return parts.path[len(prefix):], []

            def do_POST(self) -> None:
                found = self._begin("POST")
                if found is None:
                    return
                if found[0] == "Calls.json":
                    self._create_call()
                    return
                if found[0] != "Messages.json":
                    self._error(404, 20404, "The requested resource was not found")
                    return
                form = self.record.form
                to = form.get("To", "")
                b = double.behaviour
                if not to or not form.get("Body") or not (form.get("From")
                                                          or form.get("MessagingServiceSid")):
                    self._error(400, 21604, "A 'To', 'From' and 'Body' are required")
                    return
                if b.too_many > 0:
                    with double.lock:
                        b.too_many -= 1
                    self._error(429, 20429, "Too Many Requests",
                                {"Retry-After": b.retry_after} if b.retry_after else None)
                    return
                if b.error_all is not None:
                    self._error(b.error_all[0], b.error_all[1], "refused")
                    return
                if to in b.refuse:
                    http, code = b.refuse[to]
                    self._error(http, code, f"refused with {code}")
                    return
                if to in b.drop_before:
                    self._drop()
                    return
                sid = "SM" + secrets.token_hex(16)
                message = {"sid": sid, "account_sid": double.account_sid, "to": to,
                           "from": form.get("From"),
                           "messaging_service_sid": form.get("MessagingServiceSid"),
                           "body": form["Body"], "status": b.status, "num_segments": "1",
                           "date_created": format_datetime(double.now(), usegmt=True),
                           "date_sent": None, "error_code": None, "error_message": None,
                           "direction": "outbound-api",
                           "uri": f"/2010-04-01/Accounts/{double.account_sid}/Messages/"
                                  f"{sid}.json"}
                with double.lock:
                    double.messages[sid] = message
                if to in b.fail_after_accept:
                    self._error(500, 20500, "Internal Server Error")
                    return
                if to in b.drop_after:
                    self._drop()
                    return
                self._answer(201, message)

            def _create_call(self) -> None:
                form = self.record.form
                if not form.get("To") or not form.get("From") or not form.get("Url"):
                    self._error(400, 21205, "A 'To', 'From' and 'Url' are required")
                    return
                if double.behaviour.call_refuse is not None:
                    http, code = double.behaviour.call_refuse
                    self._error(http, code, f"refused with {code}")
                    return
                sid = "CA" + secrets.token_hex(16)
                call = {"sid": sid, "account_sid": double.account_sid, "to": form["To"],
                        "from": form["From"], "status": "queued",
                        "date_created": format_datetime(double.now(), usegmt=True),
                        "direction": "outbound-api"}
                with double.lock:
                    double.calls[sid] = {**call, "url": form["Url"],
                                         "method": form.get("Method", "POST"),
                                         "status_callback": form.get("StatusCallback"),
                                         "callbacks": [], "done": threading.Event()}
                self._answer(201, call)
                threading.Thread(target=double._run_call, args=(sid,), daemon=True).start()

            def do_GET(self) -> None:
                found = self._begin("GET")
                if found is None:
                    return
                rest = found[0]
                if rest == "Messages.json":
                    query = self.record.query
                    since = query.get("DateSent>")
                    with double.lock:
                        rows = [m for m in double.messages.values()
                                if ("To" not in query or m["to"] == query["To"])]
                    if since:
                        from email.utils import parsedate_to_datetime

                        rows = [m for m in rows if parsedate_to_datetime(
                            m["date_created"]).date().isoformat() >= since]
                    size = int(query.get("PageSize", "50"))
                    page = int(query.get("Page", "0"))
                    chunk = rows[page * size:(page + 1) * size]
                    next_uri = None
                    if (page + 1) * size < len(rows):
                        next_query = {**query, "Page": str(page + 1), "PageSize": str(size)}
                        next_uri = (self.record.path + "?"
                                    + urllib.parse.urlencode(next_query))
                    self._answer(200, {"messages": chunk, "page": page, "page_size": size,
                                       "next_page_uri": next_uri})
                    return
                if rest.startswith("Messages/") and rest.endswith(".json"):
                    sid = rest[len("Messages/"):-len(".json")]
                    with double.lock:
                        message = double.messages.get(sid)
                    if message is None:
                        self._error(404, 20404, "The requested resource was not found")
                    else:
                        self._answer(200, message)
                    return
                self._error(404, 20404, "The requested resource was not found")

        return Handler


def set_status(double: TwilioDouble, sid: str, status: str, error_code: int | None = None
               ) -> None:
    """What the provider now says about a message (what a fetch answers)."""
    with double.lock:
        double.messages[sid]["status"] = status
        double.messages[sid]["error_code"] = error_code
