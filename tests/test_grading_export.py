"""export_grades: an LMS CSV and a per-question breakdown from a real autograded gradebook."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import REPO
from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.grading.export import BREAKDOWN_COLUMNS, LMS_COLUMNS, ExportError, export_grades, main


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """alice: a hidden test failed; bob: everything right, written answer graded by hand;
    carol: in the gradebook but submitted nothing."""
    course = tiny_course(tmp_path_factory.mktemp("course"))
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    write_submission(course.root / "submitted" / "alice" / ASSIGNMENT,
                     answered(release, square="return x * abs(x)"))
    write_submission(course.root / "submitted" / "bob" / ASSIGNMENT, answered(release))
    course.autograde(ASSIGNMENT)
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student("carol", first_name="Carol", last_name="=cmd|' /C calc'!A0",
                                           email="carol@example.org", lms_user_id="lti-42")
        why = gradebook.find_grade("why", "tiny", ASSIGNMENT, "bob")
        why.manual_score, why.needs_manual_grade = 1.0, False  # as the formgrader saves it
        gradebook.db.commit()
    return course


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def test_lms_csv_has_one_row_per_student_and_assignment(course, tmp_path):
    lms_csv, _ = export_grades(course.root, tmp_path / "out", roster=["dave"])
    columns, rows = read_csv(lms_csv)
    assert columns == LMS_COLUMNS
    by_student = {row["student_id"]: row for row in rows}
    assert sorted(by_student) == ["alice", "bob", "carol", "dave"]
    assert all(row["assignment"] == ASSIGNMENT and row["max_score"] == "4" for row in rows)
    alice, bob, carol = by_student["alice"], by_student["bob"], by_student["carol"]
    assert (alice["score"], alice["percent"], alice["status"]) == ("1", "25", "needs manual grading")
    assert (bob["score"], bob["percent"], bob["status"]) == ("4", "100", "graded")
    assert bob["timestamp"].startswith("2026-11-29 10:00:00")
    assert (carol["score"], carol["percent"], carol["status"]) == ("0", "0", "missing")
    assert (carol["lms_user_id"], carol["email"]) == ("lti-42", "carol@example.org")
    assert carol["last_name"] == "'=cmd|' /C calc'!A0"  # stays text in a spreadsheet
    assert by_student["dave"]["status"] == "missing"


def test_breakdown_has_every_graded_cell(course, tmp_path):
    _, breakdown_csv = export_grades(course.root, tmp_path / "out")
    columns, rows = read_csv(breakdown_csv)
    assert columns == BREAKDOWN_COLUMNS
    cells = {(row["student_id"], row["grade_id"]): row for row in rows}
    assert sorted(cells) == [(student, cell) for student in ("alice", "bob", "carol")
                             for cell in ("test_cube", "test_square", "why")]
    square = cells["alice", "test_square"]
    assert (square["auto_score"], square["final_score"], square["max_score"]) == ("0", "0", "2")
    assert square["notebook"] == "tiny" and square["cell_type"] == "code"
    why = cells["bob", "why"]
    assert (why["auto_score"], why["manual_score"], why["final_score"], why["status"]) == \
        ("", "1", "1", "graded")
    assert cells["alice", "why"]["status"] == "needs manual grading"
    assert {cells["carol", c]["status"] for c in ("test_cube", "test_square", "why")} == {"missing"}


def test_default_destination_is_the_ignored_exports_folder(course):
    lms_csv, breakdown_csv = export_grades(course.root)
    assert lms_csv.parent == breakdown_csv.parent == course.root / "exports"
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index",
                              str(REPO / "exports" / lms_csv.name)], cwd=REPO)
    assert ignored.returncode == 0, "exports/ must be ignored by git"


def test_command_line(course, tmp_path, capsys):
    roster = tmp_path / "roster.txt"
    roster.write_text("# students of the workshop\nalice\nerin\n")
    assert main([str(course.root), "--to", str(tmp_path / "cli"), "--roster", str(roster)]) == 0
    assert "grades_lms.csv" in capsys.readouterr().out
    _, rows = read_csv(tmp_path / "cli" / "grades_lms.csv")
    assert "erin" in {row["student_id"] for row in rows}


def test_a_folder_without_gradebook_is_refused_not_created(tmp_path, capsys):
    with pytest.raises(ExportError, match="no gradebook"):
        export_grades(tmp_path)
    assert not (tmp_path / "gradebook.db").exists()
    assert main([str(tmp_path)]) == 1
    assert "no gradebook" in capsys.readouterr().err


def test_module_runs_as_a_script(course, tmp_path):
    result = subprocess.run([sys.executable, "-m", "primer.grading.export", str(course.root),
                             "--to", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grades_breakdown.csv").is_file()
