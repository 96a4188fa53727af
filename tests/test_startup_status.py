"""Start-up of `valhalla status --json`, run as a real process on a fresh database: it loads
none of the heavy libraries other commands need, and with no completed contact it computes no
contact-window span (so the statutory-holiday calendars are never loaded)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

# Run `valhalla ARGS` through the console script's entry point in a fresh interpreter, counting
# the closed-span calculus's evaluations, then report them and what the process loaded.
PROBE = """
import json, sys
from valhalla_cli.services import contact_spans
calls = []
real = contact_spans.change_points
def counted(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)
contact_spans.change_points = counted
from valhalla_cli.app import main
sys.argv = ["valhalla", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\n" + json.dumps({"code": code, "spans": len(calls), "modules": sorted(sys.modules)}))
"""

HEAVY = ("alembic", "jinja2", "fastapi", "uvicorn", "httpx", "rich.table", "phonenumbers")


def _run(db_url: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["--db", db_url, *args])],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def sqlite_url(db_url: str) -> str:
    if not db_url.startswith("sqlite"):
        pytest.skip("what a process imports does not depend on the engine")
    return db_url


def test_status_on_a_fresh_database_loads_nothing_heavy_and_computes_no_span(sqlite_url):
    report = _run(sqlite_url, "status", "--json", "--at", "2027-06-15T11:00:00-04:00")
    assert report["code"] == 0
    assert report["spans"] == 0
    loaded = report["modules"]
    assert not [m for m in (*HEAVY, "holidays", "valhalla_cli.statutory") if m in loaded]
    # the review page's renderer and the API stay out of a JSON overview
    assert not [m for m in loaded if m.startswith(("valhalla_cli.api", "valhalla_cli.review"))]
