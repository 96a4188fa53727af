"""Issue 19 (faults and hostile input, second round): the operations defects. One regression
test (at least) per numbered defect, named after it; database tests run on both engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

# --- 2 and 17: `serve` from flags and environment alone, exit statuses -------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_serve(args: list[str], workers: str, env: dict[str, str] | None = None,
                 ) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    argv = [sys.executable, "-m", "valhalla_cli", *args, "serve", "--port", str(port),
            "--workers", workers]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env={**os.environ, **(env or {})}, text=True)
    return proc, port


def _wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 90) -> None:
    httpx = pytest.importorskip("httpx")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve did not answer /healthz: {proc.communicate()[1]}")


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_defect_02_serve_starts_without_a_config_file_and_sigterm_ends_it_as_terminated(
        db_url, workers, how):
    pytest.importorskip("uvicorn")
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    assert not (config_home / "valhalla" / "config.toml").exists()
    if how == "flag":
        proc, port = _start_serve(["--db", db_url], workers)
    else:
        proc, port = _start_serve([], workers, env={"VALHALLA_DATABASE_URL": db_url})
    _wait_healthy(proc, port)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert "VALHALLA_CONFIG" not in err, err


def test_defect_02_a_worker_that_cannot_start_stops_the_server_non_zero(db_url, tmp_path):
    pytest.importorskip("uvicorn")
    config = tmp_path / "serve.toml"
    config.write_text('[operator]\nname = "ops"\n', encoding="utf-8")
    proc, _port = _start_serve(["--config", str(config), "--db", db_url], "2")
    # The server has read the file and prints its banner; its workers read the file again
    # as they start, and now it is gone.
    banner = proc.stderr.readline()
    assert "valhalla serve: http://" in banner, banner
    config.unlink()
    try:
        _out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the server kept running: {proc.communicate()[1]}") from None
    assert proc.returncode == 3, (proc.returncode, err)
    assert "does not exist" in err, err
    assert "Traceback" not in err, err
