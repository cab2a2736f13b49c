"""A student who submits twice: both submissions are kept; the instructor grades the latest."""
from __future__ import annotations

import getpass
import os
import subprocess
import sys
import time

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course
from primer.course import venv_path
import nbformat


def test_both_submissions_are_kept_and_the_latest_is_collected(tmp_path):
    course = tiny_course(tmp_path / "course")
    exchange, home = tmp_path / "exchange", tmp_path / "student"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    home.mkdir()
    env = {**os.environ, "PATH": venv_path()}
    flags = [f"--Exchange.root={exchange}", "--CourseDirectory.course_id=primer"]

    def nbgrader(*args, cwd):
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args, *flags], cwd=cwd, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    nbgrader("release_assignment", ASSIGNMENT, cwd=course.root)
    nbgrader("fetch_assignment", ASSIGNMENT, cwd=home)
    fetched = home / "primer" / ASSIGNMENT / NOTEBOOK  # path_includes_course
    release = nbformat.read(fetched, as_version=4)
    nbformat.write(answered(release, square="return 0"), fetched)
    nbgrader("submit", ASSIGNMENT, cwd=home)
    time.sleep(1.1)  # submissions are told apart by their timestamp
    nbformat.write(answered(release), fetched)
    nbgrader("submit", ASSIGNMENT, cwd=home)

    inbound = sorted((exchange / "primer" / "inbound").iterdir())
    student = getpass.getuser()
    mine = [p for p in inbound if p.name.startswith(f"{student}+{ASSIGNMENT}+")]
    assert len(mine) == 2, f"both submissions must stay in the exchange: {inbound}"

    nbgrader("collect", ASSIGNMENT, cwd=course.root)
    course.autograde(ASSIGNMENT)
    assert course.grades(ASSIGNMENT, student)["test_square"] == (2.0, 2.0)  # the latest one
    first = nbformat.read(mine[0] / NOTEBOOK, as_version=4)
    assert any("return 0" in cell.source for cell in first.cells), "the first submission is intact"
