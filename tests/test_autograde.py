"""nbgrader autograde gives the solution every automatic point and the untouched release none;
the tamper checks never flag honest work: not the solution, not the release, not wrong answers."""
from __future__ import annotations

import nbformat
import pytest

from conftest import nbgrader_meta, source_notebook
from nbgrader_course import ScratchCourse, solved_release
from notebook_runner import load_wrong_answers


def with_wrong_answers(solved, wrong_answers: list[dict], pick: int):
    """``solved`` with each answer that has plausible wrong answers replaced by one of them."""
    notebook = nbformat.from_dict(nbformat.reads(nbformat.writes(solved), as_version=4))
    by_cell: dict[str, list[str]] = {}
    for wrong in wrong_answers:
        by_cell.setdefault(wrong["solution"], []).append(wrong["code"])
    for cell in notebook.cells:
        choices = by_cell.get(nbgrader_meta(cell).get("grade_id"))
        if choices:
            cell.source = choices[pick % len(choices)]
    return notebook

pytestmark = pytest.mark.slow  # nbgrader autograde of every whole assignment: minutes


def test_autograde_scores_solution_full_and_release_zero(assignment, tmp_path):
    course = ScratchCourse(tmp_path)
    release = course.generate(assignment)
    solved = solved_release(release, source_notebook(assignment))
    course.submit("solver", assignment, solved)
    course.submit("untouched", assignment, nbformat.read(release, as_version=4))
    wrong_answers = load_wrong_answers(assignment)
    wrong_students = [f"wrong-{pick}" for pick in (0, -1)] if wrong_answers else []
    for pick, student in zip((0, -1), wrong_students):
        course.submit(student, assignment, with_wrong_answers(solved, wrong_answers, pick))
    course.autograde(assignment)

    solved_grades = course.grades(assignment, "solver")
    untouched = course.grades(assignment, "untouched")
    assert set(solved_grades) == set(untouched)
    lost = {k: v for k, v in solved_grades.items() if v[0] != v[1]}
    assert not lost, f"the solution loses points in {assignment}: {lost}"
    earned = {k: v for k, v in untouched.items() if v[0] != 0}
    assert not earned, f"the untouched release earns points in {assignment}: {earned}"
    for student in ["solver", "untouched", *wrong_students]:
        for notebook in (course.root / "autograded" / student / assignment).glob("*.ipynb"):
            record = nbformat.read(notebook, as_version=4).metadata.get("primer", {})
            assert record.get("flags") == [], f"honest work flagged in {assignment} ({student}): {record}"
            assert record.get("voided") == []
    for student in wrong_students:
        wrong = course.grades(assignment, student)
        assert sum(v[0] for v in wrong.values()) < sum(v[1] for v in wrong.values())
