"""source/ is stored clean, release/ is exactly what nbgrader makes from it and leaks nothing."""
from __future__ import annotations

import re

import pytest

from conftest import REPO, is_autograded_test, nbgrader_meta, read_notebook, source_notebook
from primer.course import cells_with_outputs, release_differences

SOLUTION_MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")


def test_source_notebooks_have_no_outputs(assignment):
    path = source_notebook(assignment)
    assert cells_with_outputs(path) == [], f"{path} has outputs: run `make strip`"


@pytest.mark.slow  # generates every assignment with nbgrader
def test_release_is_what_nbgrader_generates_from_source():
    differences = release_differences(REPO)
    assert differences == [], "release/ drifted from source/; run `make release`:\n" + "\n".join(differences)


def test_release_holds_no_solution_and_no_hidden_test(assignment):
    source = read_notebook(source_notebook(assignment))
    (released_path,) = (REPO / "release" / assignment).glob("*.ipynb")
    released = read_notebook(released_path)
    solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells
                 if nbgrader_meta(c).get("solution")}
    assert solutions, f"{assignment} has no solution cells"
    for cell in released.cells:
        assert not SOLUTION_MARKERS.search(cell.source), f"marker left in {released_path}:\n{cell.source}"
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in solutions:
            assert cell.source != solutions[grade_id], f"solution of {grade_id} is in the release"
            assert "YOUR CODE HERE" in cell.source or "YOUR ANSWER HERE" in cell.source
    tests = [c for c in source.cells if is_autograded_test(c)]
    hidden = [c for c in tests if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == len(tests), f"{assignment}: a test cell has no hidden tests"


def test_every_assignment_has_autograded_and_manual_questions(assignment):
    cells = read_notebook(source_notebook(assignment)).cells
    meta = [nbgrader_meta(c) | {"type": c.cell_type} for c in cells]
    autograded = [m for m in meta if m.get("grade") and not m.get("solution") and m["type"] == "code"]
    manual = [m for m in meta if m.get("grade") and m.get("solution")]
    if assignment.endswith("feedback"):
        return  # the survey has no points by design
    assert manual, f"{assignment}: no manually graded written answer"
    if assignment.endswith("your_own_data"):
        # The capstone runs on each student's own data: no test can know the right
        # numbers, so it is graded by hand only.
        assert not autograded, f"{assignment}: an autograded test cannot know a student's own data"
    else:
        assert len(autograded) >= 3, f"{assignment}: only {len(autograded)} autograded test cells"
    ids = [m["grade_id"] for m in meta if m.get("grade_id")]
    assert len(ids) == len(set(ids)), f"{assignment}: duplicate grade_id"


def test_the_cells_that_fall_back_on_provided_results_are_locked(assignment):
    """The course's own answer_or_provided calls sit in locked cells: read-only for the
    student and put back at grading, so the grader's check for answers that load the
    provided results (primer.grading.provided_check) never looks at them."""
    unlocked = [index for index, cell in enumerate(read_notebook(source_notebook(assignment)).cells)
                if cell.cell_type == "code" and "_provided(" in cell.source
                and not (nbgrader_meta(cell).get("locked") and nbgrader_meta(cell).get("grade_id"))]
    assert unlocked == [], f"{assignment}: lock cells {unlocked} (nbgrader metadata locked: true)"
