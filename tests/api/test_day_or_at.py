"""A business-day report given both `day` and `at` is bad input with the CLI's sentence."""

from __future__ import annotations

import pytest
from conftest import Cli


@pytest.mark.parametrize("report", ["snapshot", "events"])
def test_day_and_at_together_say_the_same_on_both_faces(server, report):
    printed = Cli(server.db_url)("risk", report, "--day", "2027-01-15",
                                 "--at", "2027-01-15T10:00")
    assert printed.exit_code == 2
    answer = server.get(f"/api/governance/risk/{report}", scope="read",
                        params={"day": "2027-01-15", "at": "2027-01-15T10:00"})
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert message == "give --day or --at, not both"
    assert printed.stderr.strip() == f"valhalla: error: {message}"
