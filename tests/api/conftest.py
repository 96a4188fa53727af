"""The HTTP face under test, with tokens of every scope (created through the token service).

`server` is the application `valhalla serve` runs, built in this process and called through
httpx (Starlette's TestClient transport): no process, no port, no uvicorn, so a test costs its
requests only. `live_server` and `start_server` run a real `valhalla serve` process on a free
loopback port, for what needs one: SIGTERM, worker processes, concurrent clients, a browser,
and a provider double posting callbacks to the server's URL. Both answer the same interface
(`url`, `db_url`, `tokens`, `client(scope)`, `get`, `post`, `log()`, `stop()`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

httpx = pytest.importorskip("httpx")

TWILIO_AUTH_TOKEN = "test-twilio-auth-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    db_url: str
    proc: subprocess.Popen
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, scope: str | None = "admin", headers: dict | None = None,
               **kwargs) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers={**auth, **(headers or {})}, timeout=60,
                            **kwargs)

    def get(self, path: str, scope: str | None = "admin", **kwargs) -> httpx.Response:
        with self.client(scope) as client:
            return client.get(path, **kwargs)

    def post(self, path: str, scope: str | None = "admin", **kwargs) -> httpx.Response:
        with self.client(scope) as client:
            return client.post(path, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def create_token(db_url: str, name: str, scope: str) -> str:
    """A token's clear text, created as `valhalla api token create` creates it (the service, in
    one write transaction; milliseconds, where a process took a second)."""
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import api_tokens

    db = open_database(db_url)
    try:
        with db.transaction(write=True) as session:
            created = api_tokens.create(session, name=name, scope=scope, actor="tester",
                                        at=utcnow())
    finally:
        db.dispose()
    return created.token


def write_serve_config(tmp_path: Path, config_text: str | None = None) -> Path:
    config = tmp_path / "serve-config.toml"
    config.write_text(config_text if config_text is not None else
                      f'[api]\ntwilio_auth_token = "{TWILIO_AUTH_TOKEN}"\n', encoding="utf-8")
    return config


def start_server(db_url: str, tmp_path: Path, *, workers: int = 1,
                 env: dict | None = None, config_text: str | None = None) -> Server:
    """`config_text`: the server's whole config file (default: the webhook's signing key)."""
    config = write_serve_config(tmp_path, config_text)
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    argv = [sys.executable, "-m", "valhalla_cli", "--config", str(config), "--db", db_url,
            "serve", "--port", str(port), "--workers", str(workers)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, **(env or {})})
    server = Server(url=f"http://127.0.0.1:{port}", db_url=db_url, proc=proc, log_path=log_path)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"valhalla serve exited {proc.returncode}: {server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"valhalla serve did not start: {server.log()}")
        time.sleep(0.1)


class _BlockingASGITransport(httpx.BaseTransport):
    """httpx.ASGITransport (asynchronous only) for a synchronous httpx.Client: each request is
    awaited on one event loop thread (an anyio blocking portal), where the app's lifespan
    also runs, as in a server."""

    def __init__(self, app: Any, portal: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a sync body becomes bytes the async transport can stream

        async def call() -> httpx.Response:
            answer = await self._asgi.handle_async_request(request)
            body = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=body,
                                  extensions=answer.extensions)

        return self._portal.call(call)


class AppServer:
    """The `valhalla serve` application in this process, with the interface of `Server`.

    It is built as a worker builds it (`create_app` over the settings `--config` and `--db`
    resolve), its lifespan runs once, and every client shares one transport. The base URL
    `http://testserver` is what the app sees as its own too (signed webhook URLs,
    the review page's same-site checks). An exception escaping the app fails the test, as a
    traceback in a real server's log does.
    """

    def __init__(self, db_url: str, tmp_path: Path, *, capsys: pytest.CaptureFixture,
                 monkeypatch: pytest.MonkeyPatch, env: dict | None = None) -> None:
        import contextlib

        from anyio.from_thread import start_blocking_portal

        from valhalla_cli.api.app import create_app
        from valhalla_cli.settings import resolve_settings

        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        self.db_url = db_url
        self.url = "http://testserver"
        self.tokens: dict[str, str] = {}
        self.log_path = tmp_path / "serve-in-process.log"
        # The request log goes to standard error, which pytest captures for the test.
        self._capsys, self._log = capsys, ""
        settings = resolve_settings(config=str(write_serve_config(tmp_path)), db=db_url)
        app = create_app(settings)
        self._running = contextlib.ExitStack()
        portal = self._running.enter_context(start_blocking_portal())
        # The lifespan: every service imported before the first request, the engine disposed
        # at stop.
        self._running.enter_context(
            portal.wrap_async_context_manager(app.router.lifespan_context(app)))
        self._transport = _BlockingASGITransport(app, portal)

    def client(self, scope: str | None = "admin", headers: dict | None = None,
               **kwargs) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(transport=self._transport, base_url=self.url,
                            headers={**auth, **(headers or {})}, timeout=60, **kwargs)

    def get(self, path: str, scope: str | None = "admin", **kwargs) -> httpx.Response:
        with self.client(scope) as client:
            return client.get(path, **kwargs)

    def post(self, path: str, scope: str | None = "admin", **kwargs) -> httpx.Response:
        with self.client(scope) as client:
            return client.post(path, **kwargs)

    def log(self) -> str:
        self._log += self._capsys.readouterr().err
        return self._log

    def stop(self, timeout: float = 40) -> int:
        """Ends the app's lifespan (as SIGTERM would); 0, the status of a clean stop."""
        self._running.close()
        return 0


def _tokens(db_url: str) -> dict[str, str]:
    return {scope: create_token(db_url, f"t-{scope}", scope)
            for scope in ("read", "operate", "admin")}


def app_server(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture,
               monkeypatch: pytest.MonkeyPatch, *, env: dict | None = None
               ) -> Iterator[AppServer]:
    """The body of an in-process server fixture: tokens of every scope, stopped after."""
    srv = AppServer(db_url, tmp_path, capsys=capsys, monkeypatch=monkeypatch, env=env)
    srv.tokens = _tokens(db_url)
    try:
        yield srv
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def server(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[AppServer]:
    """The app in this process (see AppServer): what nearly every API test needs."""
    yield from app_server(db_url, tmp_path, capsys, monkeypatch)


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """A real `valhalla serve` process on a loopback port (a browser, a provider's callbacks)."""
    tokens = _tokens(db_url)
    srv = start_server(db_url, tmp_path)
    srv.tokens = tokens
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
