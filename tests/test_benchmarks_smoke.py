"""Every script in benchmarks/ runs, each at its smallest size (SQLite), so that a change to a
service's signature or to the schema cannot leave a benchmark broken until the next time
someone measures. Slow (builds small databases and starts processes): `-m slow`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"

SMALLEST = {
    "bench_api.py": ["--requests", "16", "--clients", "2", "--rate", "0", "--cli-runs", "1"],
    "bench_desk.py": ["--size", "50004", "--calls", "2"],
    "bench_deal.py": ["--smallest", "--repeat", "1", "--sub-repeat", "1"],
    "bench_help.py": ["--smallest"],
    "bench_kpi.py": ["--rows", "1000", "--runs", "1"],
    "bench_ladder.py": ["--sizes", "50004", "--runs", "1", "--leads", "100"],
    "bench_leads.py": ["--numbers", "1000", "--leads", "100", "--skip-dispatch"],
    "bench_overlap.py": ["--rows", "50004", "--due", "200", "--rounds", "1"],
    "bench_regression.py": ["--sizes", "4000", "--runs", "1"],
    "bench_risk.py": ["--runs", "1"],
    "bench_scorecard.py": ["--smallest", "--runs", "1"],
    "bench_send.py": ["--smallest"],
    "bench_status.py": ["--smallest", "--runs", "1"],
    "profile_desk.py": ["--size", "50004", "--calls", "4"],
}


def test_every_script_has_a_smallest_run():
    scripts = {p.name for p in BENCHMARKS.glob("*.py") if p.name.startswith(("bench_", "profile_"))}
    assert scripts == set(SMALLEST)


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the module: the scripts that share bench_ladder's file build it once."""
    return tmp_path_factory.mktemp("bench-data")


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_the_script_runs_at_its_smallest_size(script: str, bench_data: Path):
    env = {**os.environ, "VALHALLA_BENCH_DATA": str(bench_data), "XDG_CONFIG_HOME":
           str(bench_data / "config"), "XDG_DATA_HOME": str(bench_data / "data")}
    env.pop("VALHALLA_DATABASE_URL", None)
    env.pop("VALHALLA_CONFIG", None)
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *SMALLEST[script]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert done.stdout.strip(), "a benchmark prints its figures"
