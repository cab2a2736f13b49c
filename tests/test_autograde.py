"""nbgrader autograde gives the solution every automatic point and the untouched release none."""
from __future__ import annotations

import nbformat
import pytest

from conftest import source_notebook
from nbgrader_course import ScratchCourse, solved_release

pytestmark = pytest.mark.slow  # nbgrader autograde of every whole assignment: minutes


def test_autograde_scores_solution_full_and_release_zero(assignment, tmp_path):
    course = ScratchCourse(tmp_path)
    release = course.generate(assignment)
    course.submit("solver", assignment, solved_release(release, source_notebook(assignment)))
    course.submit("untouched", assignment, nbformat.read(release, as_version=4))
    course.autograde(assignment)

    solved = course.grades(assignment, "solver")
    untouched = course.grades(assignment, "untouched")
    assert set(solved) == set(untouched)
    lost = {k: v for k, v in solved.items() if v[0] != v[1]}
    assert not lost, f"the solution loses points in {assignment}: {lost}"
    earned = {k: v for k, v in untouched.items() if v[0] != 0}
    assert not earned, f"the untouched release earns points in {assignment}: {earned}"
