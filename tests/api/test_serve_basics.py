"""`valhalla serve`: the server's application, tokens, scopes and the status-code mapping."""

from __future__ import annotations

from conftest import Cli


def test_healthz_needs_no_token_and_every_other_path_does(server):
    assert server.get("/healthz", scope=None).status_code == 200
    answer = server.get("/api/governance/go-live/state", scope=None)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"
    with server.client(None, headers={"Authorization": "Bearer vh_not-a-token"}) as client:
        assert client.get("/api/governance/go-live/state").status_code == 401


def test_go_live_state_is_the_cli_json(server):
    answer = server.get("/api/governance/go-live/state", scope="read")
    assert answer.status_code == 200
    cli = Cli(server.db_url)("golive", "state", "--format", "json")
    assert answer.json() == cli.json
