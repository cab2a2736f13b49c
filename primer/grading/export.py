"""Export the gradebook: one CSV for the LMS, one per-question CSV for the instructor.

    primer export <course_root> [--to folder] [--roster students.txt]
    (or: python -m primer.grading.export ...)

reads the gradebook that nbgrader's configuration names for that course (the
course's ``nbgrader_config.py``, the instructor's ``~/.jupyter`` one with the
hub's PostgreSQL URL, ...): it runs ``nbgrader export`` in the course directory
with this module's ``CourseExport`` plugin, nbgrader's own extension point::

    nbgrader export --exporter=primer.grading.export.CourseExport [--to folder]

and writes, by default into ``<course_root>/exports/`` (ignored by git, as is
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
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from sqlalchemy.engine import make_url
from traitlets import Unicode

from primer.course import venv_path

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


class CourseExport(ExportPlugin):
    """nbgrader's export plugin for this course: the LMS and per-question CSVs in the folder ``to``."""

    roster_file = Unicode("", help="A file of student ids, one a line: students never graded "
                                   "get 'missing' rows too.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        if not gradebook.assignments:  # nbgrader opened (or made) a gradebook that holds nothing
            url = make_url(self.parent.coursedir.db_url).render_as_string(hide_password=True)
            print(f"error: no gradebook with assignments at {url}, the one nbgrader's "
                  "configuration names: pass the course directory (where nbgrader_config.py is), "
                  "after `nbgrader generate_assignment` and `nbgrader autograde`", file=sys.stderr)
            raise SystemExit(1)
        roster = _read_roster(Path(self.roster_file)) if self.roster_file else ()
        destination = Path(self.to or "exports")
        lms_rows, breakdown_rows = _collect_rows(gradebook, roster)
        destination.mkdir(parents=True, exist_ok=True)
        for name, columns, rows in ((LMS_FILE, LMS_COLUMNS, lms_rows),
                                    (BREAKDOWN_FILE, BREAKDOWN_COLUMNS, breakdown_rows)):
            self.log.info("writing %s", _write_csv(destination / name, columns, rows))


def export_grades(course_root: Path, destination_folder: Path | None = None, *,
                  roster: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write the LMS and breakdown CSVs from the course's gradebook; return their paths.

    The gradebook is the one nbgrader's configuration names when nbgrader runs
    in ``course_root``. ``roster``: student ids to include even if the
    gradebook has never seen them (they get "missing" rows).
    ``destination_folder`` defaults to ``<course_root>/exports``.
    """
    course_root = Path(course_root).resolve()
    if not course_root.is_dir():
        raise ExportError(f"{course_root} is not a folder: pass the course directory")
    destination = Path(destination_folder).resolve() if destination_folder else course_root / "exports"
    default_gradebook = course_root / "gradebook.db"
    had_gradebook = default_gradebook.exists()
    with tempfile.NamedTemporaryFile("w", prefix="primer-roster-", suffix=".txt") as roster_file:
        roster_file.write("".join(f"{student_id}\n" for student_id in roster))
        roster_file.flush()
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "export",
             "--exporter=primer.grading.export.CourseExport",  # by name: this may run as __main__
             f"--to={destination}", f"--CourseExport.roster_file={roster_file.name}"],
            cwd=course_root, capture_output=True, text=True,
            env={**os.environ, "PATH": venv_path()})
    if result.returncode != 0:
        if not had_gradebook and default_gradebook.exists():
            default_gradebook.unlink()  # nbgrader made an empty one while trying
        raise ExportError(_last_lines(result.stderr) or f"nbgrader export failed ({result.returncode})")
    return destination / LMS_FILE, destination / BREAKDOWN_FILE


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else "\n".join(lines[-count:])


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
        prog="primer export",
        description="Export nbgrader grades: an LMS-ready CSV and a per-question breakdown.")
    parser.add_argument("course_root", type=Path, nargs="?", default=Path("."),
                        help="the course directory; its nbgrader configuration names the "
                             "gradebook (default: here)")
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
