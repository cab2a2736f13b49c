"""Shared fixtures: the repository, its assignments, and notebook helpers."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from primer.course import assignment_names, find_repo

REPO = find_repo(Path(__file__).parent)
ASSIGNMENTS = assignment_names(REPO)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_autograded_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def source_notebook(assignment: str) -> Path:
    (notebook,) = (REPO / "source" / assignment).glob("*.ipynb")
    return notebook


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", ASSIGNMENTS)
