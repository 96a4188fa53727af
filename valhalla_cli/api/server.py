"""Running the HTTP server: uvicorn in this process (one worker) or a supervisor of worker
processes, ending with an exit status a service manager can act on.

Both ways end alike. SIGTERM stops accepting connections, lets requests in flight finish (at
most 30 s) and then ends the process as terminated by SIGTERM (status 143 in a shell), so a
service manager sees the stop it asked for. A worker that cannot start (its settings no longer
resolve, say) stops the whole server with a non-zero status instead of being respawned in a
loop while nothing answers.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from valhalla_cli.errors import ConfigError

APP_FACTORY = "valhalla_cli.api.app:app_from_environment"
GRACEFUL_SECONDS = 30


def worker_failed_to_start_exit() -> int:
    """The status a worker ends with when it cannot start: uvicorn's own start-up failure
    code, the one status on which its supervisor stops instead of respawning the worker."""
    from uvicorn.config import STARTUP_FAILURE

    return int(STARTUP_FAILURE)


def run_server(*, host: str, port: int, workers: int, app: str = APP_FACTORY) -> None:
    """Serve `app` (an import string of an app factory) until a signal or a failed start."""
    import uvicorn

    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers,
                            access_log=False, log_level="warning",
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, server_header=False)
    if workers == 1:
        # In this process: uvicorn re-raises a caught SIGTERM once it has shut down, and an
        # error building the app propagates as the command's own error (exit 2, 3 or 4).
        config.load()
        server = uvicorn.Server(config)
        try:
            server.run()
        except KeyboardInterrupt:
            # uvicorn re-raised the SIGINT it caught, which Python turns into this: end as
            # terminated by SIGINT, as the supervisor of N workers does, not with a traceback.
            _end_by(signal.SIGINT)
        if not server.started:
            raise ConfigError("valhalla serve could not start (see the line above)")
        return
    _supervise(config)


def _supervise(config: Any) -> None:
    from uvicorn.supervisors.multiprocess import Multiprocess

    received: list[int] = []

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, remembering which stop signal it got."""

        def handle_term(self) -> None:
            received.append(signal.SIGTERM)
            super().handle_term()

        def handle_int(self) -> None:
            received.append(signal.SIGINT)
            super().handle_int()

    sock = config.bind_socket()
    supervisor = Supervisor(config, sockets=[sock])
    supervisor.run()
    sock.close()
    failed = [p for p in supervisor.processes if p.exitcode == worker_failed_to_start_exit()]
    if failed and not received:
        raise ConfigError(f"valhalla serve stopped: a worker process could not start "
                          f"(pid {failed[0].pid}, its error is above)")
    if received:
        # End as the one-worker server does: as terminated by the signal we were sent.
        _end_by(received[-1])


def _end_by(sig: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
