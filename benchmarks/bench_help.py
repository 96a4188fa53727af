"""`valhalla --help` and shell completion against a bare Typer app with the same groups.

Target: --help and completion under 1.3 x the --help of a bare Typer app with the same groups
and no other imports (the data layer and the services must not be imported for help).

    .venv/bin/python benchmarks/bench_help.py
    .venv/bin/python benchmarks/bench_help.py --smallest   # one run of each, to check it works
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _timing import REPO, median_seconds, report, run_command

GROUPS = ["config", "db", "audit", "golive", "risk", "heimdall", "regression", "kpi",
          "runbook", "market", "ladder", "liquidity", "offer", "status"]

BARE_APP = """
import typer
app = typer.Typer(help="bare")
for name in {groups!r}:
    sub = typer.Typer(help=name)
    @sub.command("x")
    def x() -> None:
        "x"
    app.add_typer(sub, name=name)
app()
"""


def main() -> None:
    repeat = 1 if "--smallest" in sys.argv[1:] else 15
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP.format(groups=GROUPS))
        baseline_import = median_seconds(lambda: run_command([python, "-c", "import typer"]),
                                         repeat)
        bare_help = median_seconds(lambda: run_command([python, str(bare), "--help"]), repeat)
    valhalla = [python, "-m", "valhalla_cli"]
    help_time = median_seconds(lambda: run_command([*valhalla, "--help"]), repeat)
    sub_help = median_seconds(lambda: run_command([*valhalla, "ladder", "--help"]), repeat)
    completion_env = {"_VALHALLA_COMPLETE": "complete_bash", "COMP_WORDS": "valhalla lad",
                      "COMP_CWORD": "1"}
    completion = median_seconds(lambda: run_command(valhalla, env=completion_env), repeat)
    report("python -c 'import typer'", baseline_import)
    report("bare Typer app with the same groups --help", bare_help)
    report("valhalla --help", help_time, f"< 1.3 x bare = {bare_help * 1300:.0f} ms")
    report("valhalla ladder --help", sub_help)
    report("completion of 'valhalla lad<TAB>'", completion)
    print(f"ratio valhalla --help / bare app --help: {help_time / bare_help:.2f}")
    print(f"ratio valhalla --help / import typer:    {help_time / baseline_import:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
