"""Uninstall from the course venv every package the course does not need.

Run by scripts/bootstrap with the venv's Python after installing the course:
a venv made before the test tools moved out (scripts/test-tools) still has
pytest, Playwright and their dependencies, which students' kernels could
import. Kept: what primer-course requires, transitively (no extras but
those a requirement names), and pip, setuptools and wheel.
"""
from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

KEEP = {"pip", "setuptools", "wheel", "primer-course"}


def needed(root: str) -> set[str]:
    seen, todo = set(), [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            requirements = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requirements:
            requirement = Requirement(text)
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in wanted):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def main() -> int:
    keep = needed("primer-course") | KEEP
    installed = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    extra = sorted(installed - keep)
    if extra:
        print(f"==> removing from the course venv what the course does not need: {' '.join(extra)}")
        return subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes",
                               "--disable-pip-version-check", *extra]).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
