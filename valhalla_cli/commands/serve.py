"""`valhalla serve`: the HTTP API over the same services as the CLI."""


from typing import Annotated

import typer

from valhalla_cli.commands._common import begin_work, database, say, settings


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind (loopback unless told otherwise).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="TCP port (0 picks a free one).")] = 8080,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (needs the [api] extra); stops gracefully on SIGTERM.

    SIGTERM lets requests in flight finish (up to 30 s), then the server ends as terminated
    by the signal (143), with one worker or many; a worker that cannot start stops the server
    with a non-zero status.

    Every request needs `Authorization: Bearer TOKEN` (see `valhalla api token create`),
    except GET /healthz and the review page: GET / in a browser is the page of `valhalla
    status --format html`, after a sign-in form that keeps the token in a cookie. One line per
    request is logged on standard error. OpenAPI at /openapi.json and /docs.

    \b
    Example:
      valhalla serve --port 8080 --workers 2
    """
    from valhalla_cli.errors import ConfigError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"valhalla serve needs the [api] extra ({exc.name} is not "
                          "installed): pip install 'valhalla-cli[api]'") from None
    from valhalla_cli.api.server import run_server
    from valhalla_cli.settings import export_for_workers

    begin_work()  # a server runs for days: its garbage must be collected
    cfg = settings(ctx)
    # Refuse to start on a database that cannot serve (exit 4), creating a new default SQLite
    # file as every command does; a database that fails later answers 503 per request.
    with database(ctx):
        pass
    export_for_workers(cfg)
    say(ctx, f"valhalla serve: http://{host}:{port} ({workers} worker"
        f"{'s' if workers != 1 else ''}); OpenAPI at /docs")
    run_server(host=host, port=port, workers=workers)
