"""A tiny nbgrader assignment for the grading tests: fast to autograde, every kind of cell.

``tiny`` has one notebook, ``tiny.ipynb``: a locked instruction cell, two
autograded answers each followed by a test cell with visible and hidden tests,
and one written answer graded by hand. Tests build it in a ScratchCourse, so
real ``nbgrader generate_assignment`` / ``autograde`` / ``generate_feedback``
run on it in a couple of seconds.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import nbgrader_meta
from nbgrader_course import ScratchCourse

ASSIGNMENT = "tiny"
NOTEBOOK = "tiny.ipynb"
HIDDEN_ASSERT = "assert square(-3) == 9, 'square must handle negative numbers'"
VISIBLE_ASSERT = "assert square(2) == 4, 'square(2) should be 4'"


def cell_meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def tiny_source_notebook():
    """The instructor's version, with solutions and hidden tests."""
    cells = [
        new_markdown_cell("# Tiny\nWrite `square` and `cube`.", metadata=cell_meta("intro", locked=True)),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=cell_meta("square", solution=True)),
        new_code_cell(f"{VISIBLE_ASSERT}\n### BEGIN HIDDEN TESTS\n{HIDDEN_ASSERT}\n"
                      "### END HIDDEN TESTS",
                      metadata=cell_meta("test_square", grade=True, locked=True, points=2)),
        new_code_cell("def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
                      metadata=cell_meta("cube", solution=True)),
        new_code_cell("assert cube(2) == 8, 'cube(2) should be 8'\n### BEGIN HIDDEN TESTS\n"
                      "assert cube(-1) == -1\nassert cube(0) == 0\n### END HIDDEN TESTS",
                      metadata=cell_meta("test_cube", grade=True, locked=True, points=1)),
        new_markdown_cell("Why is a square never negative?", metadata=cell_meta("why-header", locked=True)),
        new_markdown_cell("### BEGIN SOLUTION\nA product of equal signs is positive.\n### END SOLUTION",
                          metadata=cell_meta("why", grade=True, solution=True, points=1)),
    ]
    return python_notebook(cells)


def python_notebook(cells):
    """A notebook of ``cells`` for the course's Python kernel."""
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)",
                                       "language": "python", "name": "python3"}
    return notebook


def tiny_course(root: Path) -> ScratchCourse:
    """A scratch course with ``tiny`` generated: release/tiny/tiny.ipynb and the gradebook."""
    course = ScratchCourse(root)
    folder = course.root / "source" / ASSIGNMENT
    folder.mkdir()
    nbformat.write(tiny_source_notebook(), folder / NOTEBOOK)
    course.generate(ASSIGNMENT)
    return course


def cell_by_grade_id(notebook, grade_id: str):
    (cell,) = [c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == grade_id]
    return cell


def answered(release_notebook, *, square="return x * x", cube="return x ** 3"):
    """The student version with ``square`` and ``cube`` answered by the given bodies."""
    notebook = copy.deepcopy(release_notebook)
    cell_by_grade_id(notebook, "square").source = f"def square(x):\n    {square}"
    cell_by_grade_id(notebook, "cube").source = f"def cube(x):\n    {cube}"
    cell_by_grade_id(notebook, "why").source = "Because minus times minus is plus."
    return notebook


def write_submission(folder: Path, notebook) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / NOTEBOOK)
    (folder / "timestamp.txt").write_text("2026-11-29 10:00:00.000000 UTC")
    return folder


# The formgrader's Autograde button, as it calls nbgrader's API (one student at a time).
FORMGRADER_BUTTON = """
import json, sys
from nbgrader.apps.baseapp import NbGrader
from nbgrader.apps import NbGraderAPI
app = NbGrader()
app.initialize([])  # reads the course's nbgrader_config.py from the folder it runs in
api = NbGraderAPI(app.coursedir, parent=app)
for student in sys.argv[2:]:
    print(json.dumps({"student": student, **api.autograde(sys.argv[1], student)}))
"""


def autograde_command(path: str, course_root: Path, assignment: str, students: list[str]):
    """(command, folder) of one grading path: "primer" (`primer autograde -j 2`, started from
    elsewhere: it must still read the course's own config), "nbgrader" (plain `nbgrader
    autograde`) or "formgrader" (the button's API call)."""
    import sys

    if path == "primer":
        return [sys.executable, "-m", "primer.cli", "autograde", assignment, "-j", "2",
                "--course", str(course_root)], "/"
    if path == "nbgrader":
        return [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], course_root
    return [sys.executable, "-c", FORMGRADER_BUTTON, assignment, *students], course_root


def stamp_submissions(course: ScratchCourse, assignment: str) -> list[str]:
    """Give every submission of ``assignment`` a timestamp; return the students, sorted."""
    for folder in (course.root / "submitted").iterdir():
        (folder / assignment / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    return sorted(p.name for p in (course.root / "submitted").iterdir())
