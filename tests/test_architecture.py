"""The layering of SPEC 2, read from the source: imports point down and never round in a circle.

Every import statement counts, at module level or inside a function (a deferred import is
still a dependency: `db.py` importing `migrate` inside `open_database` made a cycle), except
those under `if TYPE_CHECKING:` (never executed). No module is exempt: the lists that name
every pack (`app.py`'s command modules, `runbook.CHECKS`, `api/routers`) sit above what they
list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "valhalla_cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _resolve(name: str) -> str | None:
    """The valhalla_cli module an imported name refers to (a module, or its package)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from valhalla_cli.services import ladder` imports the module ladder;
            # `from valhalla_cli.db import Database` imports from the module db.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES
                       else _resolve(base) for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t is not None and t != module)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scanner_sees_deferred_imports():
    """The scan must see an import inside a function body (what a cycle usually hides in)."""
    assert "valhalla_cli.migrate" in imports_of("valhalla_cli.bootstrap")
    assert "valhalla_cli.services.ladder.tasks" in imports_of(
        "valhalla_cli.services.suppression")
    assert "valhalla_cli.db" in imports_of("valhalla_cli.migrate")


def test_no_cycle_among_valhalla_cli_modules():
    assert _cycles(_graph()) == []


def test_the_cycle_check_would_catch_one():
    graph = _graph()
    graph["valhalla_cli.db"] = graph["valhalla_cli.db"] | {"valhalla_cli.migrate"}
    assert any({"valhalla_cli.db", "valhalla_cli.migrate"} <= set(cycle)
               for cycle in _cycles(graph))


def test_db_is_the_leaf_of_the_data_layer():
    assert imports_of("valhalla_cli.db") <= {"valhalla_cli.errors"}


def test_the_wire_json_stands_apart_from_the_cli_renderer():
    """The HTTP API serializes its answers with `wire` alone: the JSON it answers and what
    `--format json` prints are one function, and the API loads nothing of the terminal
    renderer to do it."""
    assert imports_of("valhalla_cli.wire") <= {"valhalla_cli.clock", "valhalla_cli.money"}
    assert "valhalla_cli.wire" in imports_of("valhalla_cli.output")
    assert "valhalla_cli.output" not in imports_of("valhalla_cli.api.app")


def test_only_the_cli_face_draws_on_a_terminal():
    """Rich (tables, the import progress bar) is the CLI's: the import loop, staged writes and
    every service run the same under the HTTP API, where there is no terminal."""
    drawing = sorted(m for m, p in MODULES.items()
                     if re.search(r"^\s*(from|import) rich\b", p.read_text(encoding="utf-8"),
                                  re.MULTILINE))
    assert drawing
    assert [m for m in drawing if not m.startswith("valhalla_cli.commands.")
            and m != "valhalla_cli.output"] == []


def _faces() -> list[str]:
    return [m for m in MODULES if m.startswith(("valhalla_cli.commands.", "valhalla_cli.api."))]


def test_no_face_imports_a_model():
    offenders = {m: sorted(t for t in imports_of(m) if t.startswith("valhalla_cli.models"))
                 for m in _faces()}
    assert {m: t for m, t in offenders.items() if t} == {}


def _services() -> list[str]:
    return [m for m in MODULES if m.startswith("valhalla_cli.services.")]


def test_no_service_imports_a_face():
    offenders = {m: sorted(t for t in imports_of(m)
                           if t.startswith(("valhalla_cli.commands", "valhalla_cli.api",
                                            "valhalla_cli.output", "valhalla_cli.app")))
                 for m in _services()}
    assert {m: t for m, t in offenders.items() if t} == {}


def _ends_callers_transaction(module: str, source: str | None = None) -> list[str]:
    """`x.commit()` / `x.rollback()` where x is a parameter of the enclosing function (the
    session it was given). A savepoint the function opened itself may be rolled back."""
    tree = ast.parse(source if source is not None else MODULES[module].read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = {a.arg for a in (*func.args.args, *func.args.kwonlyargs, *func.args.posonlyargs)}
        for node in ast.walk(func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("commit", "rollback")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in params):
                found.append(f"{module}:{node.lineno} {node.func.value.id}.{node.func.attr}()")
    return found


def test_no_service_commits_or_rolls_back_a_session_it_was_given():
    assert [hit for m in _services() for hit in _ends_callers_transaction(m)] == []


def test_the_transaction_check_would_catch_one():
    probe = ("def undo(session):\n    session.rollback()\n\n"
             "def fine(session):\n    savepoint = session.begin_nested()\n"
             "    savepoint.rollback()\n")
    assert _ends_callers_transaction("probe", probe) == ["probe:2 session.rollback()"]


def test_only_typer_internals_touches_typer_private_api():
    users = [m for m, p in MODULES.items()
             if "typer._" in p.read_text(encoding="utf-8") and m != "valhalla_cli.typer_internals"]
    assert users == []


def _service_packages() -> list[str]:
    return [m for m, p in MODULES.items()
            if m.startswith("valhalla_cli.services.") and p.name == "__init__.py"]


def test_a_pack_package_keeps_its_modules_reachable():
    """`ladder.dispatch` must stay the function and `ladder.dispatching` its module: a module
    named after a name its package re-exports would be shadowed by it (`import a.b as m` then
    yields the function), so no submodule shares a name with its package's exports."""
    import importlib

    assert "valhalla_cli.services.ladder" in _service_packages()
    shadowed = []
    for package_name in _service_packages():
        package = importlib.import_module(package_name)
        for module_name in (m for m in MODULES if m.rpartition(".")[0] == package_name):
            module = importlib.import_module(module_name)
            if getattr(package, module_name.rpartition(".")[2]) is not module:
                shadowed.append(module_name)
    assert shadowed == []



def _refusal_problems(source: str, name: str) -> list[str]:
    """Where a face decides a "no" itself: a `refuse(...)` whose argument is not a service
    result's `.refusal`, or that is not guarded by that same `.refusal` (an `if` with its own
    predicate); an `Answer(...)` whose `refusal=` is not a result's `.refusal`."""
    tree = ast.parse(source)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        where = f"{name}:{node.lineno}"
        if node.func.id == "refuse":
            arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if not (isinstance(arg, ast.Attribute) and arg.attr == "refusal"):
                problems.append(f"{where}: refuse() with something other than a .refusal")
                continue
            guard = parents.get(id(parents.get(id(node), node)))
            if not (isinstance(guard, ast.If) and ast.dump(guard.test) == ast.dump(arg)):
                problems.append(f"{where}: refuse() under a predicate of the face's own")
        elif node.func.id == "Answer":
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "no" or (keyword.arg == "refusal" and not (
                        isinstance(value, ast.Attribute) and value.attr == "refusal")):
                    problems.append(f"{where}: Answer() decides its own no")
    return problems


def test_no_face_decides_whether_an_answer_is_a_no():
    faces = [*sorted((PACKAGE / "commands").glob("*.py")),
             *sorted((PACKAGE / "api" / "routers").glob("*.py"))]
    problems = [p for path in faces
                for p in _refusal_problems(path.read_text(), path.relative_to(REPO).as_posix())]
    assert problems == []
    # The check would catch a face's own predicate and its own wording.
    assert _refusal_problems("if result.reason is not None:\n"
                             "    refuse(result.refusal)\n", "x") == [
        "x:2: refuse() under a predicate of the face's own"]
    assert _refusal_problems("if result.refusal:\n"
                             "    refuse(Refusal('no', f'{result.reason}: no'))\n", "x") == [
        "x:2: refuse() with something other than a .refusal"]
    assert _refusal_problems("Answer(result, no=result.reason is not None)\n", "x") == [
        "x:1: Answer() decides its own no"]


def _star_imports(package: str) -> list[str]:
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    return [node.module for node in tree.body if isinstance(node, ast.ImportFrom)
            and node.module and [a.name for a in node.names] == ["*"]]


def test_a_pack_package_offers_each_name_from_the_module_that_defines_it():
    """A pack package's surface is its modules' `__all__` lists (`from .rules import *`): each
    name is written once, in the module that defines it, and no two modules of a package list
    the same name (the later star import would silently hide the earlier one)."""
    import importlib
    import inspect

    surfaces = {p: _star_imports(p) for p in _service_packages() if _star_imports(p)}
    assert {p.rpartition(".")[2] for p in surfaces} == {"heimdall", "liquidity", "offer", "risk"}
    problems = []
    for package_name, module_names in surfaces.items():
        package = importlib.import_module(package_name)
        home: dict[str, str] = {}
        for module_name in module_names:
            module = importlib.import_module(module_name)
            for name in module.__all__:
                value = getattr(module, name)
                if (inspect.isclass(value) or inspect.isfunction(value)) \
                        and value.__module__ != module_name:
                    problems.append(f"{module_name}.{name} is defined in {value.__module__}")
                if name in home:
                    problems.append(f"{package_name}.{name} listed by {home[name]} and "
                                    f"{module_name}")
                home[name] = module_name
                if getattr(package, name) is not value:
                    problems.append(f"{package_name}.{name} is not {module_name}.{name}")
        public = {n for n in vars(package) if not n.startswith("_")
                  and f"{package_name}.{n}" not in MODULES}
        if public - set(home):
            problems.append(f"{package_name} offers {sorted(public - set(home))} from no __all__")
    assert problems == []
