"""A real `valhalla serve` process on a free loopback port, with tokens of every scope."""

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

import pytest
from conftest import REPO, run_valhalla

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
    result = run_valhalla("api", "token", "create", name, "--scope", scope, "--format", "json",
                          db_url=db_url)
    assert result.exit_code == 0, result.stderr
    return result.json["token"]


def start_server(db_url: str, tmp_path: Path, *, workers: int = 1,
                 env: dict | None = None, config_text: str | None = None) -> Server:
    """`config_text`: the server's whole config file (default: the webhook's signing key)."""
    config = tmp_path / "serve-config.toml"
    config.write_text(config_text if config_text is not None else
                      f'[api]\ntwilio_auth_token = "{TWILIO_AUTH_TOKEN}"\n', encoding="utf-8")
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


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    tokens = {scope: create_token(db_url, f"t-{scope}", scope)
              for scope in ("read", "operate", "admin")}
    srv = start_server(db_url, tmp_path)
    srv.tokens = tokens
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
