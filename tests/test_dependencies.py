"""Dependencies you can trust: the lock pins every requirement within pyproject's ranges, the
0.x libraries are capped, the dev tools live in a development group, and the runbook names the
holiday data a contact answer depends on."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from conftest import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LOCK_PATH = REPO / "requirements.lock"


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK_PATH.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._\[\],-]+)==([^ ;]+)(\s*;.*)?", line)
        assert match, f"requirements.lock: {line!r} is not a pin (NAME==VERSION)"
        pins[canonicalize_name(match.group(1).split("[")[0])] = Version(match.group(2))
    return pins


def _requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        found += [Requirement(r) for r in extra]
    for group in PYPROJECT.get("dependency-groups", {}).values():
        found += [Requirement(r) for r in group if isinstance(r, str)]
    return [r for r in found if canonicalize_name(r.name) != "valhalla-cli"]


def test_the_lock_pins_every_requirement_within_its_range():
    pins = _lock()
    assert "pip" in pins and pins["pip"] >= Version("25.1")  # `--group` needs pip 25.1
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject's {req}")


def test_floors_are_what_the_lock_runs_and_0x_libraries_are_capped():
    pins = _lock()
    for req in _requirements():
        pin = pins[canonicalize_name(req.name)]
        floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert floors, f"{req} has no floor"
        # A floor below what CI runs would be an untested claim.
        assert floors[0].release[:2] == pin.release[:2], f"{req}: the lock runs {pin}"
        if pin.major == 0:
            assert any(s.operator == "<" for s in req.specifier), f"{req}: a 0.x library uncapped"


def test_dev_tools_are_a_development_group_and_no_extra_repeats_another():
    project = PYPROJECT["project"]
    dev = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependency-groups"]["dev"]}
    assert {"pytest", "ruff", "mypy", "hypothesis", "playwright", "httpx"} <= dev
    extras = project["optional-dependencies"]
    assert "test" not in extras
    seen: set[str] = set()
    for reqs in extras.values():
        names = {canonicalize_name(Requirement(r).name) for r in reqs}
        assert not names & seen and not names & dev
        seen |= names


def test_the_phone_parser_comes_from_phonenumberslite():
    requirement_names = {canonicalize_name(Requirement(r).name)
                         for r in PYPROJECT["project"]["dependencies"]}
    assert "phonenumberslite" in requirement_names and "phonenumbers" not in requirement_names
    from valhalla_cli.phones import parse_phone

    assert parse_phone("(416) 555-0199") == "+14165550199"


def test_runbook_timezones_check_names_the_holidays_version_in_use(cli):
    result = cli("runbook", "status", "--format", "json")
    (check,) = [c for c in result.json["checks"] if c["name"] == "timezones"]
    assert check["status"] == "ok"
    assert f"holidays {metadata.version('holidays')}" in check["detail"]
    assert f"tzdata {metadata.version('tzdata')}" in check["detail"]
