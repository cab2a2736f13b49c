"""Due dates and per-student extensions, kept where nbgrader keeps them: the gradebook.  [TRUSTED SIDE]

An assignment's due date is nbgrader's ``Assignment.duedate``; one student's
extension is nbgrader's ``SubmittedAssignment.extension`` (nbgrader #660 never
gave it a command). nbgrader's ``SubmittedAssignment.duedate`` and
``total_seconds_late`` add it, so every grading path (nbgrader autograde, the
formgrader, ``primer autograde``, the queue: all record through
AssignLatePenalties) and collect's ``--before-duedate`` respect it.

    primer extend <assignment> <student> --hours 24
    primer extend <assignment> <student> --until "2026-12-12 17:00 UTC"  [--replace]

A student who has not submitted yet gets an empty submission row to hold the
extension (nbgrader's own ``update_or_create_submission``); grading fills it,
and until then ``primer export`` counts it as missing (``holds_only_an_extension``).
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path


MAX_HOURS = 24 * 366


def parse_when(text: str) -> datetime.datetime:
    """A date and time as nbgrader reads them (naive means UTC), as a naive UTC datetime."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        raise ValueError(f"cannot read the date {text!r}: write it like "
                         "\"2026-12-12 17:00 UTC\"") from None


def shown(when: datetime.datetime | None) -> str:
    return "none" if when is None else when.strftime("%Y-%m-%d %H:%M UTC")


def student_due_dates(gradebook, assignment: str) -> dict[str, datetime.datetime]:
    """Each student's due date for ``assignment`` where it differs from the assignment's."""
    defined = gradebook.find_assignment(assignment)
    return {row.student.id: row.duedate for row in defined.submissions
            if row.extension is not None and defined.duedate is not None}


def holds_only_an_extension(submission) -> bool:
    """A row ``extend`` made for a student who has not submitted (yet): nothing collected, nothing graded."""
    return submission.timestamp is None and all(
        grade.auto_score is None and grade.manual_score is None
        for notebook in submission.notebooks for grade in notebook.grades)


def _find(gradebook, assignment: str, student: str):
    from nbgrader.api import MissingEntry

    try:
        defined = gradebook.find_assignment(assignment)
    except MissingEntry:
        known = ", ".join(sorted(a.name for a in gradebook.assignments)) or "none yet"
        raise ValueError(f"no assignment {assignment!r} in the gradebook (known: {known}); "
                         "release it first (`primer release`, `nbgrader generate_assignment`)") from None
    try:
        gradebook.find_student(student)
    except MissingEntry:
        raise ValueError(f"no student {student!r} in the gradebook: check the spelling, or add "
                         f"them (`nbgrader db student add {student}`)") from None
    if defined.duedate is None:
        raise ValueError(f"{assignment} has no due date to extend: set one first with "
                         f"`nbgrader db assignment add {assignment} --duedate \"2026-12-10 17:00 UTC\"`")
    return defined


def extend(url: str, assignment: str, student: str, *, until: datetime.datetime | None = None,
           hours: float | None = None, replace: bool = False) -> str:
    """Give ``student`` until ``until`` (or ``hours`` past the due date); what was done, in words.

    An existing extension is replaced only with ``replace``; the message names the old one.
    """
    from nbgrader.api import Gradebook, MissingEntry

    if (until is None) == (hours is None):
        raise ValueError("say how long: --hours N (past the due date) or --until DATE")
    if hours is not None and not 0 < hours <= MAX_HOURS:  # also refuses nan
        raise ValueError(f"--hours must be more than 0 and at most {MAX_HOURS} (a year), not {hours}")
    with Gradebook(url) as gradebook:
        defined = _find(gradebook, assignment, student)
        due = defined.duedate
        new_due = until if until is not None else due + datetime.timedelta(hours=hours)
        if new_due <= due:
            raise ValueError(f"{shown(new_due)} is not after {assignment}'s due date {shown(due)}: "
                             "an extension gives more time")
        try:
            row = gradebook.find_submission(assignment, student)
        except MissingEntry:
            row = gradebook.update_or_create_submission(assignment, student)
        old = row.duedate if row.extension is not None else None
        if old is not None and old != new_due and not replace:
            raise ValueError(f"{student} already has until {shown(old)} for {assignment}: add "
                             "--replace to change it (extensions do not add up)")
        row.extension = new_due - due
        gradebook.db.commit()
    was = f" (was {shown(old)})" if old is not None else ""
    return f"{student} has until {shown(new_due)} for {assignment}{was}; the class's due date is {shown(due)}"


def main(argv: list[str] | None = None) -> int:
    from primer.grading.course_settings import gradebook_url

    parser = argparse.ArgumentParser(prog="primer extend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("student")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--hours", type=float, help="hours past the assignment's due date")
    how.add_argument("--until", help='a new due date for this student, e.g. "2026-12-12 17:00 UTC"')
    parser.add_argument("--replace", action="store_true", help="replace an extension given before")
    parser.add_argument("--course", default=".", help="course directory (default: the current one)")
    args = parser.parse_args(argv)
    try:
        until = parse_when(args.until) if args.until else None
        print(extend(gradebook_url(Path(args.course).resolve()), args.assignment, args.student,
                     until=until, hours=args.hours, replace=args.replace))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
