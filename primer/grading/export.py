"""Export the gradebook: one CSV for the LMS, one per-question CSV for the instructor.

    primer export <course_root> [--to folder] [--roster roster.csv] [--canvas-ids NAME=ID,...]

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
* the identity columns come from ``--roster`` (the hub's CSV roster, or the
  LTI roster the hub records, primer/roster.py) and otherwise from the
  gradebook's students; staff on the roster are left out.

``grades_canvas.csv`` -- Canvas's gradebook import (Grades > Import), one row
per student and one column per assignment::

    Student,ID,SIS User ID,SIS Login ID,Section,00_setup,01_prerequisites,...
    Points Possible,,,,,2,12,...

``grades_moodle.csv`` -- Moodle's grade import (Grades > Import > CSV file),
one row per student, one column per assignment, the user found by the column
you map ("Map from" ``Email address``, ``ID number``, ``Username`` or ``User
id`` to the same Moodle field)::

    First name,Last name,Email address,ID number,Username,User id,00_setup,...

In both, a grade is the score after any late penalty; a missing submission is
0; a submission that still needs grading by hand is left empty, which both
systems import as "no change" (docs/workshop.md, "Grades into the LMS").

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
from pathlib import Path
from typing import Iterable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from sqlalchemy.engine import make_url
from traitlets import Unicode

from primer.course import venv_path
from primer.grading.deadlines import holds_only_an_extension
from primer.roster import Person, read_people, write_people

LMS_FILE = "grades_lms.csv"
BREAKDOWN_FILE = "grades_breakdown.csv"
CANVAS_FILE = "grades_canvas.csv"
MOODLE_FILE = "grades_moodle.csv"
LMS_COLUMNS = ["student_id", "lms_user_id", "first_name", "last_name", "email", "assignment",
               "score", "max_score", "percent", "status", "late_penalty", "timestamp"]
BREAKDOWN_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "cell_type",
                     "auto_score", "manual_score", "extra_credit", "final_score", "max_score",
                     "status"]
# Canvas's gradebook import: these five, then one column per assignment, then "Points Possible".
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
# Moodle's CSV grade import: map one of these to the Moodle user field of the same name.
MOODLE_IDENTITY = ["First name", "Last name", "Email address", "ID number", "Username", "User id"]
GRADED, NEEDS_MANUAL, MISSING = "graded", "needs manual grading", "missing"


class ExportError(RuntimeError):
    """The export cannot run; the message says what to do."""


class CourseExport(ExportPlugin):
    """nbgrader's export plugin for this course: the LMS, Canvas, Moodle and per-question CSVs."""

    roster_file = Unicode("", help="A CSV roster (primer/roster.py): its students get rows even "
                                   "if never graded, and their names and LMS ids.").tag(config=True)
    canvas_ids = Unicode("", help="NAME=ID,...: Canvas assignment ids, so the import updates "
                                  "those assignments instead of making new ones.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        if not gradebook.assignments:  # nbgrader opened (or made) a gradebook that holds nothing
            url = make_url(self.parent.coursedir.db_url).render_as_string(hide_password=True)
            print(f"error: no gradebook with assignments at {url}, the one nbgrader's "
                  "configuration names: pass the course directory (where nbgrader_config.py is), "
                  "after `nbgrader generate_assignment` and `nbgrader autograde`", file=sys.stderr)
            raise SystemExit(1)
        roster = read_people(Path(self.roster_file)) if self.roster_file else []
        destination = Path(self.to or "exports")
        people = _people(gradebook, roster)
        lms_rows, breakdown_rows = _collect_rows(gradebook, people)
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        canvas_ids = _parse_canvas_ids(self.canvas_ids)
        canvas_columns, canvas_rows = _canvas_table(people, assignments, lms_rows, canvas_ids)
        moodle_columns, moodle_rows = _moodle_table(people, assignments, lms_rows)
        destination.mkdir(parents=True, exist_ok=True)
        for name, columns, rows in ((LMS_FILE, LMS_COLUMNS, lms_rows),
                                    (BREAKDOWN_FILE, BREAKDOWN_COLUMNS, breakdown_rows),
                                    (CANVAS_FILE, canvas_columns, canvas_rows),
                                    (MOODLE_FILE, moodle_columns, moodle_rows)):
            self.log.info("writing %s", _write_csv(destination / name, columns, rows))
        for person in people:
            if not (person.email and person.sis_user_id):
                print(f"note: {person.username} has no {'e-mail' if not person.email else 'SIS id'}"
                      ": in Moodle map the user by a column every row has", file=sys.stderr)


def export_grades(course_root: Path, destination_folder: Path | None = None, *,
                  roster: Iterable[str | Person] = (), canvas_ids: dict[str, str] | None = None,
                  ) -> tuple[Path, Path]:
    """Write the LMS, breakdown, Canvas and Moodle CSVs from the course's gradebook.

    Returns the LMS and breakdown paths; the Canvas and Moodle files are beside
    them. The gradebook is the one nbgrader's configuration names when
    nbgrader runs in ``course_root``. ``roster``: student ids or ``Person``s
    (from a CSV roster) to include even if the gradebook has never seen them
    ("missing" rows), with their names and LMS ids; staff are left out.
    ``destination_folder`` defaults to ``<course_root>/exports``.
    """
    course_root = Path(course_root).resolve()
    if not course_root.is_dir():
        raise ExportError(f"{course_root} is not a folder: pass the course directory")
    destination = Path(destination_folder).resolve() if destination_folder else course_root / "exports"
    default_gradebook = course_root / "gradebook.db"
    had_gradebook = default_gradebook.exists()
    people = [p if isinstance(p, Person) else Person(username=p) for p in roster]
    ids = ",".join(f"{name}={number}" for name, number in (canvas_ids or {}).items())
    with tempfile.TemporaryDirectory(prefix="primer-roster-") as scratch:
        roster_file = Path(scratch) / "roster.csv"
        write_people(roster_file, people)
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "export",
             "--exporter=primer.grading.export.CourseExport",  # by name: this may run as __main__
             f"--to={destination}", f"--CourseExport.roster_file={roster_file}",
             f"--CourseExport.canvas_ids={ids}"],
            cwd=course_root, capture_output=True, text=True,
            env={**os.environ, "PATH": venv_path()})
    if result.returncode != 0:
        if not had_gradebook and default_gradebook.exists():
            default_gradebook.unlink()  # nbgrader made an empty one while trying
        raise ExportError(_last_lines(result.stderr) or f"nbgrader export failed ({result.returncode})")
    for line in result.stderr.splitlines():
        if line.startswith("note: "):
            print(line, file=sys.stderr)
    return destination / LMS_FILE, destination / BREAKDOWN_FILE


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else "\n".join(lines[-count:])


def _parse_canvas_ids(text: str) -> dict[str, str]:
    ids = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        if not number.strip().isdigit():
            raise ExportError(f"--canvas-ids {item!r}: write ASSIGNMENT=ID with the number from "
                              "the assignment's Canvas address (.../assignments/ID)")
        ids[name.strip()] = number.strip()
    return ids


def _collect_rows(gradebook: Gradebook, people: list[Person]) -> tuple[list[dict], list[dict]]:
    lms_rows, breakdown_rows = [], []
    for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
        for person in people:
            try:
                submission = gradebook.find_submission(assignment.name, person.username)
            except MissingEntry:
                submission = None
            if submission is not None and holds_only_an_extension(submission):
                submission = None  # `primer extend` made it; nothing was submitted yet
            lms_rows.append(_lms_row(person, assignment, submission))
            breakdown_rows += _breakdown_rows(person, assignment, submission)
    return lms_rows, breakdown_rows


def _people(gradebook: Gradebook, roster: list[Person]) -> list[Person]:
    """The gradebook's students and the roster's, the roster's details first; no staff."""
    known = {student.id: Person(student.id, first_name=student.first_name or "",
                                last_name=student.last_name or "", email=student.email or "",
                                lms_user_id=student.lms_user_id or "")
             for student in gradebook.students}
    for person in roster:
        if person.role != "student":
            known.pop(person.username, None)
            continue
        stored = known.get(person.username, Person(person.username))
        known[person.username] = Person(**{k: v or getattr(stored, k) for k, v in vars(person).items()})
    return [known[name] for name in sorted(known)]


def _lms_row(person: Person, assignment, submission) -> dict:
    row = {"student_id": person.username, "lms_user_id": person.lms_user_id,
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


def _grades(people, lms_rows) -> dict[tuple[str, str], float | None]:
    """(student, assignment) -> the LMS grade; None (left empty) while it needs a person."""
    return {(row["student_id"], row["assignment"]):
            None if row["status"] == NEEDS_MANUAL else row["score"] for row in lms_rows}


def _canvas_table(people, assignments, lms_rows, canvas_ids) -> tuple[list[str], list[dict]]:
    titles = {a.name: f"{a.name} ({canvas_ids[a.name]})" if a.name in canvas_ids else a.name
              for a in assignments}
    columns = CANVAS_IDENTITY + list(titles.values())
    grades = _grades(people, lms_rows)
    rows = [{"Student": POINTS_POSSIBLE} | {titles[a.name]: a.max_score for a in assignments}]
    for person in people:
        name = ", ".join(part for part in (person.last_name, person.first_name) if part)
        rows.append({"Student": name or person.username, "ID": person.lms_user_id,
                     "SIS User ID": person.sis_user_id,
                     "SIS Login ID": person.sis_login_id or person.username,
                     "Section": person.section}
                    | {titles[a.name]: grades[person.username, a.name] for a in assignments})
    return columns, rows


def _moodle_table(people, assignments, lms_rows) -> tuple[list[str], list[dict]]:
    columns = MOODLE_IDENTITY + [a.name for a in assignments]
    grades = _grades(people, lms_rows)
    rows = [{"First name": person.first_name, "Last name": person.last_name,
             "Email address": person.email, "ID number": person.sis_user_id,
             "Username": person.sis_login_id or person.username, "User id": person.lms_user_id}
            | {a.name: grades[person.username, a.name] for a in assignments}
            for person in people]
    return columns, rows


def _percent(score: float, max_score: float) -> float:
    return round(100.0 * score / max_score, 2) if max_score else 0.0


def _breakdown_rows(person: Person, assignment, submission) -> list[dict]:
    if submission is None:
        return [{"student_id": person.username, "assignment": assignment.name,
                 "notebook": notebook.name, "grade_id": cell.name, "cell_type": cell.cell_type,
                 "final_score": 0.0, "max_score": cell.max_score, "status": MISSING}
                for notebook in assignment.notebooks for cell in notebook.grade_cells]
    return [{"student_id": person.username, "assignment": assignment.name,
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
        description="Export nbgrader grades: an LMS CSV, Canvas's and Moodle's gradebook imports, "
                    "and a per-question breakdown.")
    parser.add_argument("course_root", type=Path, nargs="?", default=Path("."),
                        help="the course directory; its nbgrader configuration names the "
                             "gradebook (default: here)")
    parser.add_argument("--to", type=Path, default=None, metavar="FOLDER",
                        help="where to write the CSVs (default: <course_root>/exports, ignored by git)")
    parser.add_argument("--roster", type=Path, default=None, metavar="FILE",
                        help="the hub's CSV roster (username,role,first_name,last_name,email,"
                             "lms_user_id,sis_user_id,...), or the LTI roster the hub records "
                             "($PRIMER_RUNTIME/lti-roster.csv); a plain list of ids, one a line, "
                             "works too. Its students get rows even if never graded; its staff none")
    parser.add_argument("--canvas-ids", default="", metavar="NAME=ID,...",
                        help="Canvas ids of assignments that exist in Canvas already (the number "
                             "in .../assignments/ID): the import updates them instead of adding new ones")
    args = parser.parse_args(argv)
    try:
        roster = read_roster(args.roster) if args.roster else []
        lms_csv, breakdown_csv = export_grades(args.course_root, args.to, roster=roster,
                                               canvas_ids=_parse_canvas_ids(args.canvas_ids))
    except (ExportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"LMS grades: {lms_csv}")
    print(f"Canvas gradebook import: {lms_csv.parent / CANVAS_FILE}")
    print(f"Moodle grade import: {lms_csv.parent / MOODLE_FILE}")
    print(f"per-question grades: {breakdown_csv}")
    return 0


def read_roster(path: Path) -> list[Person]:
    """A CSV roster (a header line naming ``username``), or student ids one a line."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if lines and "," in lines[0]:
        return read_people(path)  # refuses a CSV without its username header, saying so
    return [Person(username=line) for line in lines]


if __name__ == "__main__":
    sys.exit(main())
