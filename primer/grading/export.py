"""Export the gradebook: one CSV for the LMS, one per-question CSV for the instructor.

    python -m primer.grading.export <course_root> [--to folder] [--roster students.txt]

writes, by default into ``<course_root>/exports/`` (ignored by git, as is
``grades*.csv``):

``grades_lms.csv`` -- one row per student and assignment, long format::

    student_id,lms_user_id,first_name,last_name,email,assignment,score,max_score,percent,status,late_penalty,timestamp

* ``score`` is the final score after any late penalty (never below 0), as
  ``nbgrader export`` computes it; ``percent`` is ``100 * score / max_score``
  rounded to 2 decimals (0 when the assignment has no points).
* ``status`` is ``graded``, ``needs manual grading`` (written answers not yet
  graded, or a test nbgrader could not run) or ``missing`` (nothing
  submitted: score 0).
* Moodle (Grades > Import > CSV file): map ``email`` or ``student_id`` (as the
  username) to the user, and ``score`` to the grade item; import one
  assignment at a time (filter the rows on ``assignment``).
  Canvas (Grades > Import) wants one column per assignment: pivot the rows on
  ``assignment`` with ``score`` as value and match students by ``student_id``
  (SIS Login ID) or ``lms_user_id`` (filled by LTI log-ins).

``grades_breakdown.csv`` -- one row per student, assignment and graded cell::

    student_id,assignment,notebook,grade_id,cell_type,auto_score,manual_score,extra_credit,final_score,max_score,status

``final_score`` is nbgrader's: the manual score if a grader set one, else the
automatic score, plus extra credit; empty auto/manual scores mean "not set".

Text fields that a spreadsheet would read as a formula (starting with ``=``,
``+``, ``-``, ``@``) are prefixed with ``'``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from nbgrader.api import Gradebook, MissingEntry

LMS_FILE = "grades_lms.csv"
BREAKDOWN_FILE = "grades_breakdown.csv"
LMS_COLUMNS = ["student_id", "lms_user_id", "first_name", "last_name", "email", "assignment",
               "score", "max_score", "percent", "status", "late_penalty", "timestamp"]
BREAKDOWN_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "cell_type",
                     "auto_score", "manual_score", "extra_credit", "final_score", "max_score",
                     "status"]
GRADED, NEEDS_MANUAL, MISSING = "graded", "needs manual grading", "missing"


class ExportError(RuntimeError):
    """The export cannot run; the message says what to do."""


@dataclass(frozen=True)
class _Person:
    id: str
    lms_user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


def export_grades(course_root: Path, destination_folder: Path | None = None, *,
                  roster: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write the LMS and breakdown CSVs from ``<course_root>/gradebook.db``; return their paths.

    ``roster``: student ids to include even if the gradebook has never seen
    them (they get "missing" rows). ``destination_folder`` defaults to
    ``<course_root>/exports``.
    """
    course_root = Path(course_root)
    destination = Path(destination_folder) if destination_folder else course_root / "exports"
    with _open_gradebook(course_root) as gradebook:
        lms_rows, breakdown_rows = _collect_rows(gradebook, roster)
    destination.mkdir(parents=True, exist_ok=True)
    lms_csv = _write_csv(destination / LMS_FILE, LMS_COLUMNS, lms_rows)
    breakdown_csv = _write_csv(destination / BREAKDOWN_FILE, BREAKDOWN_COLUMNS, breakdown_rows)
    return lms_csv, breakdown_csv


def _open_gradebook(course_root: Path) -> Gradebook:
    database = course_root / "gradebook.db"
    if not database.is_file():  # Gradebook() would silently create an empty one
        raise ExportError(
            f"no gradebook at {database}: pass the course directory (where nbgrader_config.py "
            "and gradebook.db are), after `nbgrader generate_assignment` and `nbgrader autograde`")
    return Gradebook(f"sqlite:///{database}")


def _collect_rows(gradebook: Gradebook, roster: Iterable[str]) -> tuple[list[dict], list[dict]]:
    people = _people(gradebook, roster)
    lms_rows, breakdown_rows = [], []
    for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
        for person in people:
            try:
                submission = gradebook.find_submission(assignment.name, person.id)
            except MissingEntry:
                submission = None
            lms_rows.append(_lms_row(person, assignment, submission))
            breakdown_rows += _breakdown_rows(person, assignment, submission)
    return lms_rows, breakdown_rows


def _people(gradebook: Gradebook, roster: Iterable[str]) -> list[_Person]:
    known = {student.id: _Person(student.id, student.lms_user_id, student.first_name,
                                 student.last_name, student.email)
             for student in gradebook.students}
    for student_id in roster:
        known.setdefault(student_id, _Person(student_id))
    return [known[student_id] for student_id in sorted(known)]


def _lms_row(person: _Person, assignment, submission) -> dict:
    row = {"student_id": person.id, "lms_user_id": person.lms_user_id,
           "first_name": person.first_name, "last_name": person.last_name,
           "email": person.email, "assignment": assignment.name,
           "max_score": assignment.max_score}
    if submission is None:
        return row | {"score": 0.0, "percent": 0.0, "status": MISSING,
                      "late_penalty": 0.0, "timestamp": None}
    penalty = submission.late_submission_penalty or 0.0
    score = max(0.0, submission.score - penalty)
    return row | {"score": score, "percent": _percent(score, assignment.max_score),
                  "status": NEEDS_MANUAL if submission.needs_manual_grade else GRADED,
                  "late_penalty": penalty, "timestamp": submission.timestamp}


def _percent(score: float, max_score: float) -> float:
    return round(100.0 * score / max_score, 2) if max_score else 0.0


def _breakdown_rows(person: _Person, assignment, submission) -> list[dict]:
    if submission is None:
        return [{"student_id": person.id, "assignment": assignment.name,
                 "notebook": notebook.name, "grade_id": cell.name, "cell_type": cell.cell_type,
                 "final_score": 0.0, "max_score": cell.max_score, "status": MISSING}
                for notebook in assignment.notebooks for cell in notebook.grade_cells]
    return [{"student_id": person.id, "assignment": assignment.name,
             "notebook": notebook.name, "grade_id": grade.name, "cell_type": grade.cell.cell_type,
             "auto_score": grade.auto_score, "manual_score": grade.manual_score,
             "extra_credit": grade.extra_credit, "final_score": grade.score,
             "max_score": grade.max_score,
             "status": NEEDS_MANUAL if grade.needs_manual_grade else GRADED}
            for notebook in submission.notebooks for grade in notebook.grades]


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: _cell(row.get(column)) for column in columns})
    return path


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    # A name like "=HYPERLINK(...)" must stay text when the file is opened in a spreadsheet.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m primer.grading.export",
        description="Export nbgrader grades: an LMS-ready CSV and a per-question breakdown.")
    parser.add_argument("course_root", type=Path, nargs="?", default=Path("."),
                        help="the course directory holding gradebook.db (default: here)")
    parser.add_argument("--to", type=Path, default=None, metavar="FOLDER",
                        help="where to write the CSVs (default: <course_root>/exports, ignored by git)")
    parser.add_argument("--roster", type=Path, default=None, metavar="FILE",
                        help="a file of student ids, one a line: students never graded get "
                             "'missing' rows too")
    args = parser.parse_args(argv)
    try:
        roster = _read_roster(args.roster) if args.roster else ()
        lms_csv, breakdown_csv = export_grades(args.course_root, args.to, roster=roster)
    except (ExportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"LMS grades: {lms_csv}")
    print(f"per-question grades: {breakdown_csv}")
    return 0


def _read_roster(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


if __name__ == "__main__":
    sys.exit(main())
