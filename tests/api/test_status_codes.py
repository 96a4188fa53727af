"""Every status code of SPEC 18 from the server's application (built in this process): 401,
403, 409, 413, 422, 503 and 500."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO, Cli, snapshot_tables

from valhalla_cli.bootstrap import open_database


def _sql(db_url: str, *statements: str) -> None:
    db = open_database(db_url, check_schema=False)
    try:
        with db.engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        db.dispose()


def test_scopes_revocation_and_the_audit_actor(server):
    reserve = {"engine": "acquisitions", "amount": "100", "ref": "S-1",
               "at": "2027-01-15T10:00"}
    denied = server.post("/api/governance/risk/reserve", scope="read", json=reserve)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    assert server.post("/api/governance/go-live/kill-switch/engage", scope="operate",
                       json={"reason": "drill"}).status_code == 403
    # operate may reserve, admin may do everything; reads need only read
    assert server.get("/api/governance/risk/policies", scope="read").status_code == 200
    engaged = server.post("/api/governance/go-live/kill-switch/engage", scope="admin",
                          json={"reason": "drill"})
    assert engaged.status_code == 200, engaged.text
    audit = Cli(server.db_url)("audit", "--pack", "golive", "--format", "json")
    assert audit.json[0]["actor"] == "api:t-admin"

    revoked = Cli(server.db_url)("api", "token", "revoke", "t-read", "--reason", "test")
    assert revoked.exit_code == 0, revoked.stderr
    assert server.get("/api/governance/risk/policies", scope="read").status_code == 401
    listed = Cli(server.db_url)("api", "token", "list", "--format", "json")
    by_name = {t["name"]: t for t in listed.json}
    assert by_name["t-read"]["active"] is False and by_name["t-admin"]["active"] is True
    assert all(token not in listed.stdout for token in server.tokens.values())
    api_audit = Cli(server.db_url)("audit", "--pack", "api", "--format", "json")
    assert [e["action"] for e in api_audit.json][:1] == ["token_revoke"]
    # the log names tokens, never shows them
    log = server.log()
    assert "token=t-admin" in log
    assert all(token not in log for token in server.tokens.values())


def test_a_rule_no_is_409_with_the_whole_answer(server):
    over = server.post("/api/governance/risk/reserve", scope="operate",
                       params={"engine": "acquisitions", "amount": "9999999", "ref": "BIG",
                               "at": "2027-01-15T10:00"})
    assert over.status_code == 409, over.text
    body = over.json()
    assert body["reason"] and body["status"] == "denied"
    cli = Cli(server.db_url)("risk", "reserve", "acquisitions", "9999999", "--ref", "BIG",
                             "--at", "2027-01-15T10:00", "--format", "json")
    assert cli.exit_code == 1
    # The whole answer, and the reason code and sentence the CLI says on standard error.
    refusal = body.pop("refusal")
    assert refusal == {"reason": body["reason"],
                       "message": cli.stderr.strip().removeprefix("valhalla: ")}
    assert {k: v for k, v in cli.json.items() if k != "reservation_id"} == \
        {k: v for k, v in body.items() if k != "reservation_id"}

    added = server.post("/api/governance/go-live/checklist/add",
                        json={"key": "dncl", "title": "DNCL subscription active"})
    assert added.status_code == 200, added.text
    refused = server.post("/api/governance/go-live/enable", json={"reason": "pilot"})
    assert refused.status_code == 409
    assert refused.json()["refused"] is True and "golive" in refused.json()["failing_checks"]


def test_bad_input_is_422_and_changes_nothing(server):
    db = open_database(server.db_url)
    try:
        before = snapshot_tables(db)
        for params in ({"engine": "acquisitions", "amount": "12.345", "ref": "X"},
                       {"engine": "acquisitions", "amount": "abc", "ref": "X"},
                       {"engine": "acquisitions", "amount": "10", "ref": "X", "bogus": "1"},
                       {"engine": "acquisitions", "amount": "10"},
                       {"engine": "acquisitions", "amount": "10", "ref": "X", "at": "soon"}):
            answer = server.post("/api/governance/risk/reserve", scope="operate", json=params)
            assert answer.status_code == 422, (params, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "bad_input" and error["message"]
        not_json = server.post("/api/governance/risk/reserve", scope="operate",
                               content=b"{not json", headers={"content-type":
                                                              "application/json"})
        assert not_json.status_code == 422
        assert snapshot_tables(db) == before
    finally:
        db.dispose()


def test_issue19_defect_05_a_deeply_nested_json_body_is_422_not_500(server):
    db = open_database(server.db_url)
    try:
        before = snapshot_tables(db)
        deep = b"[" * 100_000 + b"]" * 100_000
        inside = b'{"reason": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        for path, body in (("/api/governance/go-live/kill-switch/engage", deep),
                           ("/api/governance/go-live/kill-switch/engage", inside),
                           ("/api/governance/risk/reserve", deep)):
            answer = server.post(path, content=body,
                                 headers={"content-type": "application/json"})
            assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
            error = answer.json()["error"]
            assert error["code"] == "bad_input" and "nested too deeply" in error["message"]
        assert snapshot_tables(db) == before
    finally:
        db.dispose()
    assert "RecursionError" not in server.log()


def test_a_body_over_one_mebibyte_is_413(server):
    big = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'
    answer = server.post("/api/governance/go-live/disable", content=big,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_schema_out_of_date_is_503(server):
    _sql(server.db_url, "UPDATE alembic_version SET version_num = '0001'")
    answer = server.get("/api/governance/runbook/status", scope="read")
    assert answer.status_code == 503
    assert "valhalla db upgrade" in answer.json()["error"]["message"]


def test_a_missing_database_is_503(server, db_url):
    if db_url.startswith("sqlite"):
        from valhalla_cli.db import sqlite_path

        path = sqlite_path(db_url)
        path.rename(path.with_suffix(".gone"))
        answer = server.get("/api/governance/go-live/state", scope="read")
        assert not path.exists(), "the server must not recreate an empty database"
    else:
        from conftest import _pg_admin_engine
        from sqlalchemy.engine import make_url

        name = make_url(db_url).database
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            answer = server.get("/api/governance/go-live/state", scope="read")
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')  # for the fixture's teardown
        admin.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable"


def test_an_injected_failure_is_500_with_a_request_id_and_no_traceback(server, db_url):
    if db_url.startswith("sqlite"):
        _sql(db_url, "CREATE TRIGGER inject BEFORE INSERT ON risk_event "
                     "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    else:
        _sql(db_url,
             "CREATE FUNCTION inject() RETURNS trigger AS $$ BEGIN "
             "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
             "CREATE TRIGGER inject BEFORE INSERT ON risk_event FOR EACH ROW "
             "EXECUTE FUNCTION inject()")
    answer = server.post("/api/governance/risk/reserve", scope="operate",
                         json={"engine": "acquisitions", "amount": "100", "ref": "F-1"})
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == "internal" and re.fullmatch(r"[0-9a-f]{16}", error["request_id"])
    assert answer.headers["x-request-id"] == error["request_id"]
    assert "Traceback" not in answer.text and "injected" not in answer.text
    assert "INSERT" not in answer.text
    server.stop()
    log = server.log()
    line = next(row for row in log.splitlines() if error["request_id"] in row)
    assert " 500 " in line and "injected failure" in line
    assert "Traceback" not in log and "INSERT INTO" not in log


def test_serve_without_the_api_extra_exits_3_naming_it(tmp_path):
    shadow = tmp_path / "shadow" / "fastapi"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'fastapi'\", name='fastapi')\n")
    result = subprocess.run([sys.executable, "-m", "valhalla_cli", "serve"], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ,
                                 "PYTHONPATH": str(tmp_path / "shadow")})
    assert result.returncode == 3
    assert "valhalla-cli[api]" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_imports_neither_fastapi_nor_the_data_layer():
    code = ("import sys, valhalla_cli.app; print(' '.join(m for m in ('fastapi', 'uvicorn', "
            "'starlette', 'sqlalchemy', 'valhalla_cli.api') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, check=True).stdout.strip()
    assert loaded == ""


def test_openapi_lists_every_endpoint(server):
    spec = server.get("/openapi.json", scope=None)
    assert spec.status_code == 200
    from api.test_readme_endpoints import expected_rows

    paths = spec.json()["paths"]
    for method, path, _cli, _scope in expected_rows():
        assert method.lower() in paths[path], (method, path)
    reserve = paths["/api/governance/risk/reserve"]["post"]
    assert {p["name"] for p in reserve["parameters"]} >= {"engine", "amount", "ref", "at"}
    assert "requestBody" in reserve and "409" in reserve["responses"]
    assert server.get("/docs", scope=None).status_code == 200


def test_serve_refuses_a_port_or_worker_count_out_of_range(cli_nodb):
    for args in (("--port", str(2**63)), ("--port", "70000"), ("--workers", "0")):
        result = cli_nodb("serve", *args)
        assert result.exit_code == 2, result.stderr


def test_the_seeds_example_curl_works_as_written(server):
    with server.client("admin") as client:
        answer = client.post("/api/deals/offers/policies/upsert?province=ON&enabled=true")
    assert answer.status_code == 200, answer.text
    assert answer.json()["policy"]["enabled"] is True
    assert answer.json()["policy"]["updated_by"] == "api:t-admin"


def test_a_database_locked_past_the_timeout_is_503(short_busy_timeout, server, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no busy timeout: a request waits for the lock holder")
    import sqlite3

    from valhalla_cli.db import SQLITE_BUSY_TIMEOUT_MS, sqlite_path

    holder = sqlite3.connect(sqlite_path(db_url), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        answer = server.post("/api/governance/go-live/disable", json={"reason": "locked"},
                             timeout=SQLITE_BUSY_TIMEOUT_MS / 1000 + 60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503, answer.text
    assert "locked" in answer.json()["error"]["message"]


def test_bad_parameters_are_one_line_naming_the_first_thing_wrong(server):
    """FastAPI's request models, answered as the HTTP face's one line of bad input (422, the
    error shape of every other error): unknown names, missing ones, malformed values, a name
    given twice, a whole number no BIGINT holds; nothing changes."""
    db = open_database(server.db_url)
    reserve = {"engine": "acquisitions", "amount": "10", "ref": "X"}
    cases = [
        ("GET", "/api/governance/market/suppressions", {"params": {"bogus": "1"}},
         "unknown parameter 'bogus'"),
        ("GET", "/api/governance/go-live/state", {"params": {"verbose": "1"}},
         "unknown parameter 'verbose'"),
        ("GET", "/api/governance/market/suppressions", {"params": {"limit": "0"}},
         "parameter 'limit': "),
        ("GET", "/api/governance/market/suppressions", {"params": {"limit": "ten"}},
         "parameter 'limit': 'ten' is not a whole number"),
        ("GET", "/api/governance/market/can-contact", {"params": {"province": "ON"}},
         "parameter 'channel' is required"),
        ("GET", "/api/governance/market/can-contact",
         {"params": {"province": "ON", "channel": ["SMS", "CALL"]}},
         "parameter 'channel' is given more than once"),
        ("POST", "/api/governance/risk/reserve", {"params": {"ref": "X"}, "json": reserve},
         "parameter 'ref' is given both in the body and in the URL"),
        ("POST", "/api/governance/risk/reserve", {"json": {**reserve, "enable": True}},
         "unknown parameter 'enable'"),
        ("POST", "/api/governance/risk/reserve", {"json": {"engine": "acquisitions"}},
         "parameter 'amount' is required"),
        ("POST", "/api/governance/risk/reserve", {"json": [reserve]},
         "the request body must be a JSON object of parameters"),
        ("POST", "/api/followups/task/99999999999999999999/complete",
         {"json": {"outcome": "sent"}}, "parameter 'task': '99999999999999999999' is out of "
         "range"),
        ("POST", "/api/governance/heimdall/record",
         {"json": {"domain": "d", "confidence": "NaN", "subject": "s"}},
         "parameter 'confidence': 'NaN' is not a number"),
    ]
    try:
        before = snapshot_tables(db)
        with server.client("admin") as client:
            for method, path, kwargs, expected in cases:
                answer = client.request(method, path, **kwargs)
                assert answer.status_code == 422, (path, answer.text)
                error = answer.json()["error"]
                assert error["code"] == "bad_input", error
                assert expected in error["message"] and "\n" not in error["message"], error
        assert snapshot_tables(db) == before
    finally:
        db.dispose()


def test_a_post_takes_a_form_or_the_query_string_and_reads_the_token_first(server):
    form = {"metric": "offer_generated", "value": "2", "at": "2027-01-15T10:00"}
    with server.client("operate") as client:
        as_form = client.post("/api/governance/kpi/emit", data=form)
        as_query = client.post("/api/governance/kpi/emit",
                               params={**form, "metric": "ladder_created"})
    assert as_form.status_code == 200 and as_form.json()["value"] == 2, as_form.text
    assert as_query.status_code == 200, as_query.text
    assert as_query.json()["metric"] == "ladder_created"
    # Without a token, an unreadable body says nothing about the endpoint: 401 first.
    anonymous = server.post("/api/governance/risk/reserve", scope=None, content=b"{not json",
                            headers={"content-type": "application/json"})
    assert anonymous.status_code == 401
