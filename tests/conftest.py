"""Shared fixtures: the repository, its assignments, and notebook helpers."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from primer import course
from primer.course import assignment_names, find_repo, nbgrader_meta  # noqa: F401 (tests import it here)

REPO = find_repo(Path(__file__).parent)
ASSIGNMENTS = assignment_names(REPO)


def is_autograded_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def source_notebook(assignment: str) -> Path:
    return course.source_notebook(REPO, assignment)


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", ASSIGNMENTS)


# -- the course hub shared by the hub test modules -------------------------------
# Each module has students of its own (named after it: test_hub_<group>.py), so no
# test depends on what another module did. "isolation" comes first: its module
# still reads hub.students[0..2].
HUB_STUDENTS = {"isolation": 3, "end_to_end": 1, "faults": 1, "browser": 1, "roles": 1, "overview": 2,
                "environment": 1, "terminal": 1, "report": 1}


@pytest.fixture(scope="session")
def course_hub():
    """One hub for every hub test module of the session (starting one costs ~20 s).

    Accounts: pt-instructor, pt-grader-1 and each module's students. At the end
    of the session it is stopped with Ctrl-C and nothing of it may be left running.
    """
    if os.geteuid() != 0:
        pytest.fail("the hub tests create real Unix users and need root: run `sudo make test`")
    from primer.testing.hub import CourseHub

    with CourseHub(REPO, prefix="pt", students=HUB_STUDENTS, graders=1).running() as hub:
        yield hub


@pytest.fixture(scope="module")
def hub(course_hub):
    return course_hub


@pytest.fixture(scope="module")
def students(course_hub, request) -> list[str]:
    """The student accounts of this test module (test_hub_<group>.py) on the shared hub."""
    group = request.module.__name__.rpartition(".")[2].removeprefix("test_hub_")
    return course_hub.students_of(group)


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """One local Slurm cluster for every Slurm test module of the session (tests/slurm_cluster.py).

    Yields the environment its clients need (SLURM_CONF); stopped by PID at the end.
    """
    from slurm_cluster import local_slurm

    with local_slurm() as env:
        yield env
