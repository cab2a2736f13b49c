"""pyproject.toml declares what the course's modules import, once each."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[=<>~!\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_every_third_party_module_the_course_imports_is_declared():
    declared = {_name(d) for d in _project()["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    modules = set()
    for path in (REPO / "primer").rglob("*.py"):
        if "testing" in path.relative_to(REPO / "primer").parts:
            continue  # the test harness: its imports are the `test` extra's
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    undeclared = sorted(
        module for module in modules - set(sys.stdlib_module_names) - {"primer"}
        if not {_name(d) for d in distributions.get(module, [module])} & declared)
    assert not undeclared, f"imported by primer/ but not in pyproject.toml's dependencies: {undeclared}"


def test_no_dependency_is_listed_twice():
    names = [_name(d) for d in _project()["dependencies"]]
    assert sorted(names) == sorted(set(names)), [n for n in set(names) if names.count(n) > 1]


def test_every_declared_pin_is_the_locked_one():
    locked = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    locked = {_name(name): version.strip() for name, version in locked.items()}
    for requirement in _project()["dependencies"]:
        name, _, version = requirement.partition("==")
        assert locked.get(_name(name)) == version.split()[0], f"{requirement} is not constraints.txt's pin"
