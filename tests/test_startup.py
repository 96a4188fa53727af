"""Start-up: a data command, run as a real process, loads only what it uses: the tables of its
own pack (not every model module), and none of the heavy libraries other commands need. The
garbage collector, off while a command starts, is on again once its work begins."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import REPO

# Run `valhalla ARGS` through the console-script entry point in a fresh interpreter, then report
# what it loaded and whether the garbage collector is on.
PROBE = """
import gc, json, sys
from valhalla_cli.app import main
sys.argv = ["valhalla", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\n" + json.dumps({"code": code, "gc": gc.isenabled(), "modules": sorted(sys.modules)}))
"""

HEAVY = ("alembic", "jinja2", "fastapi", "uvicorn", "httpx", "rich.table")


def _loaded(db_url: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["--db", db_url, *args])],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


SHARED_MODEL_MODULES = ("valhalla_cli.models.types", "valhalla_cli.models.base")  # no tables


def _models(report: dict) -> set[str]:
    return {m.rpartition(".")[2] for m in report["modules"]
            if m.startswith("valhalla_cli.models.") and m not in SHARED_MODEL_MODULES}


@pytest.fixture
def sqlite_url(db_url: str) -> str:
    if not db_url.startswith("sqlite"):
        pytest.skip("what a process imports does not depend on the engine")
    return db_url


def test_risk_snapshot_loads_the_risk_tables_only(sqlite_url):
    report = _loaded(sqlite_url, "risk", "snapshot", "--json")
    assert report["code"] == 0
    assert _models(report) <= {"risk", "audit"}, _models(report)
    assert "valhalla_cli.services.ladder" not in report["modules"]
    assert not [m for m in (*HEAVY, "holidays", "phonenumbers") if m in report["modules"]]


def test_can_contact_loads_no_table_of_the_ladder_offer_risk_or_inbox(sqlite_url):
    report = _loaded(sqlite_url, "market", "can-contact", "ON", "--channel", "CALL",
                     "--phone", "+14165550123", "--at", "2027-01-15T10:00", "--json")
    assert report["code"] in (0, 1)
    assert not _models(report) & {"ladder", "offer", "risk", "inbox", "liquidity", "heimdall",
                                  "kpi", "api"}, _models(report)
    assert not [m for m in HEAVY if m in report["modules"]]


def test_the_garbage_collector_is_on_once_a_command_works(sqlite_url):
    assert _loaded(sqlite_url, "golive", "state", "--json")["gc"] is True


def test_models_load_one_module_at_a_time():
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from valhalla_cli.models import RiskPolicy; "
                           "print(sorted(m for m in sys.modules "
                           "if m.startswith('valhalla_cli.models.')))"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.stdout.strip() == ("['valhalla_cli.models.base', 'valhalla_cli.models.risk', "
                                   "'valhalla_cli.models.types']")


def test_load_all_loads_every_table():
    from valhalla_cli.models import HOMES, load_all

    tables = load_all().tables
    for name in HOMES:
        import valhalla_cli.models as models

        assert getattr(models, name).__table__.name in tables


def test_the_canada_calendar_alone_gives_the_packages_own_holidays():
    import holidays

    from valhalla_cli.statutory import holidays_of

    provinces = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")
    for province in provinces:
        for year in range(2025, 2031):
            ours = dict(holidays_of(province, year))
            theirs = dict(holidays.country_holidays("CA", subdiv=province, years=year))
            assert ours == theirs, (province, year)
    assert "Canada Day" in holidays_of("ON", 2027).get(date(2027, 7, 1))


def test_a_holiday_question_loads_one_countrys_calendar(sqlite_url):
    report = _loaded(sqlite_url, "market", "can-contact", "ON", "--channel", "CALL",
                     "--at", "2027-07-01T12:00", "--json")
    assert report["code"] == 1  # Canada Day, quiet on holidays: a no
    assert not [m for m in report["modules"] if m.startswith("holidays.countries")]


def test_ladder_dispatch_loads_the_dispatching_modules_only(sqlite_url):
    # Refused at the go-live gate (a fresh database) after the gate has been read: the command
    # has loaded what it needs to dispatch, and not the rest of the ladder pack.
    report = _loaded(sqlite_url, "ladder", "dispatch", "--json")
    assert report["code"] == 1
    assert "valhalla_cli.services.ladder.dispatching" in report["modules"]
    loaded = {m.rpartition(".")[2] for m in report["modules"]
              if m.startswith("valhalla_cli.services.ladder.")}
    assert not loaded & {"check", "completion", "corrections", "creation", "report"}, loaded
    assert "valhalla_cli.services.kpi" not in report["modules"]
    assert not [m for m in (*HEAVY, "holidays") if m in report["modules"]]
    # the partial index of followup_task no longer imports the PostgreSQL dialect on SQLite
    assert not [m for m in report["modules"] if m.startswith("sqlalchemy.dialects.postgresql")]


def test_the_partial_indexes_keep_their_condition_on_both_engines():
    proc = subprocess.run([sys.executable, "-c", """
import sys
from sqlalchemy.schema import CreateIndex
from valhalla_cli.models import FollowupTask, InboxItem
assert not [m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql")]
from sqlalchemy.dialects import postgresql, sqlite
for model in (FollowupTask, InboxItem):
    for index in sorted(model.__table__.indexes, key=lambda i: i.name):
        if index.name.startswith("ux_"):
            for dialect in (sqlite.dialect(), postgresql.dialect()):
                print(CreateIndex(index).compile(dialect=dialect))
"""], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    active = ("CREATE UNIQUE INDEX ux_followup_task_active_lead_step ON followup_task "
              "(lead_id, step) WHERE status IN ('pending', 'claimed')")
    open_item = ("CREATE UNIQUE INDEX ux_inbox_item_open_lead ON inbox_item (lead_id) "
                 "WHERE status = 'open'")
    assert proc.stdout.splitlines() == [active, active, open_item, open_item], proc.stdout


@pytest.mark.parametrize(("args", "named"), [
    (["--db", "sqlite:///x.db", "ladder", "dispatch"], "ladder"),
    (["--db=sqlite:///x.db", "-q", "--actor", "ladder", "followups", "due"], "followups"),
    (["--config", "status", "risk", "snapshot"], "risk"),
    (["status", "--json"], "status"),
    (["--help", "ladder"], None),
    (["--version"], None),
    (["-qh", "ladder"], None),
    (["ladr", "dispatch"], None),
    ([], None),
])
def test_a_command_line_names_the_module_it_runs(args, named):
    from valhalla_cli.app import command_named

    assert command_named(args) == named


# The same command line, run by the console script (a root holding the named module alone)
# and by the whole command tree, answers the same.
WHOLE_TREE = "import sys; from valhalla_cli.app import app; app(prog_name='valhalla')"


@pytest.mark.parametrize("args", [
    ["ladder", "dispatch", "--json"], ["followups", "--help"], ["ladder", "dispatch", "--help"],
    ["ladder", "nope"], ["ladr", "dispatch"], ["ladder"], ["--help"],
    ["ladder", "dispatch", "--limit", "0"], ["-q", "risk", "snapshot", "--json"],
    ["status", "--bogus"], ["init", "--help"],
])
def test_one_module_answers_as_the_whole_tree(sqlite_url, args):
    def run(*head: str) -> tuple[int, str, str]:
        proc = subprocess.run([sys.executable, *head, "--db", sqlite_url, *args],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        out = "\n".join(line for line in proc.stdout.splitlines() if "generated_at" not in line)
        return proc.returncode, out, proc.stderr

    assert run("-m", "valhalla_cli") == run("-c", WHOLE_TREE)


@pytest.mark.parametrize("package, homes", [("valhalla_cli.models", "HOMES"),
                                            ("valhalla_cli.services.ladder", "_HOMES")])
def test_a_lazy_package_offers_exactly_the_names_the_type_checker_sees(package, homes):
    """The lazy packages list each name twice (for mypy, and where to load it from): a name
    added to one list only would type-check and then fail at run time. The ladder's type checker
    reads each module's `__all__` (`import *`)."""
    import ast
    import importlib

    module = importlib.import_module(package)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.module.startswith(package + "."):
                    home = imp.module.rsplit(".", 1)[1]
                    for alias in imp.names:
                        # `import *` offers the names the module lists in its __all__
                        names = (importlib.import_module(imp.module).__all__
                                 if alias.name == "*" else [alias.asname or alias.name])
                        seen.update(dict.fromkeys(names, home))
    assert seen == getattr(module, homes)
    for name, home in seen.items():
        origin = importlib.import_module(f"{package}.{home}")
        assert getattr(module, name) is getattr(origin, name), name
