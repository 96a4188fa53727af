"""The README's endpoint table is the list of endpoints the server mounts, with their CLI twin."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

pytest.importorskip("fastapi")

ROW = re.compile(r"^\| `(GET|POST) ([^`]+)` \| `([^`]+)` \| (\w+) \|$")


def _readme_rows() -> set[tuple[str, str, str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return {m.groups() for line in text.splitlines() if (m := ROW.match(line))}


def expected_rows() -> set[tuple[str, str, str, str]]:
    from valhalla_cli.api.app import pack_routers

    return {(e.method, e.path, e.cli, e.scope) for pack in pack_routers()
            for e in pack.endpoints}


def test_the_readme_lists_every_endpoint_beside_its_cli_command():
    rows = _readme_rows()
    endpoint_rows = {r for r in rows if r[1].startswith("/api/governance") or
                     r[1].startswith("/api/followups") or r[1].startswith("/api/buyers") or
                     r[1].startswith("/api/deals") or r[1].startswith("/api/leads") or
                     r[1].startswith("/api/inbox") or r[1].startswith("/api/desk")}
    assert endpoint_rows == expected_rows()
