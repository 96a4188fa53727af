"""The default suite stays fast: a test that starts a real `valhalla serve` process is `slow`.

A plain `pytest` leaves `slow` tests out; the HTTP tests use the application built in-process
(the `server` fixture), and a real server (`start_server`, `live_server`) is for the tests that
need a process: SIGTERM, workers, concurrent clients, a browser, a provider's callbacks.
"""

from __future__ import annotations

import ast
import tomllib

from conftest import REPO

TESTS = REPO / "tests"
REAL_SERVER = {"start_server", "live_server"}


def _is_slow_mark(node: ast.expr) -> bool:
    text = ast.unparse(node)
    return text == "pytest.mark.slow" or text.startswith("pytest.mark.slow(")


def _module_is_slow(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [
                node.value]
            return any(_is_slow_mark(v) for v in values)
    return False


def _fixtures_starting_a_server(tree: ast.Module) -> set[str]:
    """Fixtures of this module that start a real server (they stand for one in a signature)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                "fixture" in ast.unparse(d) for d in node.decorator_list):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            args = {a.arg for a in node.args.args}
            if (names | args) & REAL_SERVER:
                found.add(node.name)
    return found


def test_every_test_that_starts_a_real_server_is_slow():
    shared = REAL_SERVER.union(*(
        _fixtures_starting_a_server(ast.parse(path.read_text(encoding="utf-8")))
        for path in TESTS.rglob("conftest.py")))
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _module_is_slow(tree):
            continue
        starting = shared | _fixtures_starting_a_server(tree)
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            used = {a.arg for a in node.args.args} | {
                n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if used & starting and not any(_is_slow_mark(d) for d in node.decorator_list):
                offenders.append(f"{path.relative_to(REPO)}::{node.name}")
    assert offenders == [], f"real servers in the default suite (mark them slow): {offenders}"


def test_a_plain_pytest_leaves_slow_tests_out_and_ci_runs_them():
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    assert "-m 'not slow'" in options["addopts"]
    ci = (REPO / ".ci" / "run").read_text()
    assert '.venv/bin/pytest -m "slow or not slow"' in ci
    assert ".venv/bin/pytest -m postgresql" in ci  # a -m of its own: slow ones included
