"""pyproject.toml declares what the course's modules import, once each; the test tools stay out of
the course venv, where students' kernels and users' servers run."""
from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


# -- the test tools stay out of the environment students' code runs in -------------------------

TEST_TOOLS = ["pytest", "playwright", "kubernetes_validate", "pytest_timeout"]


def test_the_course_venv_cannot_import_the_test_tools():
    """Kernels and users' servers run the course venv's Python, without `make test`'s PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for module in TEST_TOOLS:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], env=env,
                              capture_output=True, text=True)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, \
            f"the course venv ({sys.prefix}) can import {module}"


def test_the_test_tools_folder_is_beside_the_venv_and_private():
    import pytest as test_tool
    folder = Path(test_tool.__file__).resolve().parent.parent
    assert folder == Path(f"{Path(sys.prefix).resolve()}-test-tools"), folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.root
def test_a_grading_kernel_cannot_import_the_test_tools(tmp_path):
    """A real sandboxed kernel, started from this process (which has the tools on its path)."""
    import asyncio

    from primer.grading.sandbox import SandboxedKernelManager

    async def run() -> list[dict]:
        manager = SandboxedKernelManager(kernel_name="python3")
        await manager.start_kernel(cwd=str(tmp_path))
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=120)
            replies = []
            for module in TEST_TOOLS:
                reply = await client.execute_interactive(f"import {module}", timeout=60,
                                                         output_hook=lambda message: None)
                replies.append(reply["content"])
            return replies
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)

    for module, reply in zip(TEST_TOOLS, asyncio.run(run())):
        assert reply["status"] == "error" and reply["ename"] == "ModuleNotFoundError", (module, reply)
