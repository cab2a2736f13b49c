"""Due dates, the late penalty and per-student extensions, through the real grading path.

A tiny course with a due date set by nbgrader (`nbgrader db assignment add
--duedate`), three students who all answer everything: one on time, one 30
hours late, one 30 hours late with a 48-hour extension from `primer extend`.
`primer autograde` (sandboxed units + the trusted merge) grades them.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course
from primer.course import venv_path
from primer.grading.late_penalty import PenaltyPerPeriod

DUE = "2026-11-30 12:00:00 UTC"
ON_TIME, LATE = "2026-11-30 11:00:00.000000 UTC", "2026-12-01 18:00:00.000000 UTC"  # 30 h late
FULL = 3.0  # tiny's autograded points (square 2, cube 1); the written answer waits for a person


def primer(*args: str, cwd: Path = Path("/")) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "primer.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PATH": venv_path()})


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tiny_course(tmp_path_factory.mktemp("deadlines") / "course")
    course.nbgrader("db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}")
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, stamp in (("punctual", ON_TIME), ("late", LATE), ("extended", LATE)):
        course.nbgrader("db", "student", "add", student)
        folder = course.submit(student, ASSIGNMENT, answered(release))
        (folder / "timestamp.txt").write_text(stamp)  # as collect writes it (the exchange's time)
    return course


def extend(course, *args: str) -> subprocess.CompletedProcess:
    return primer("extend", *args, "--course", str(course.root))


@pytest.fixture(scope="module")
def graded(course):
    granted = extend(course, ASSIGNMENT, "extended", "--hours", "48")
    assert granted.returncode == 0, granted.stderr
    run = primer("autograde", ASSIGNMENT, "-j", "2", "--course", str(course.root))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {"granted": granted.stdout, "log": run.stdout + run.stderr}


def submissions(course) -> dict:
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        # nbgrader keeps the score before the penalty; the grade is the difference (primer export)
        return {row.student.id: {"score": row.score - row.late_submission_penalty,
                                 "penalty": row.late_submission_penalty,
                                 "late": row.total_seconds_late, "due": str(row.duedate)}
                for row in gradebook.assignment_submissions(ASSIGNMENT)}


def test_a_late_submission_loses_its_penalty_and_an_extended_one_does_not(course, graded):
    rows = submissions(course)
    assert "until 2026-12-02 12:00 UTC" in graded["granted"], graded["granted"]
    assert rows["punctual"] == {"score": FULL, "penalty": 0, "late": 0, "due": "2026-11-30 12:00:00"}
    # 30 hours late = 2 started days = 20% of the score (the course's 10% per started day)
    assert rows["late"]["late"] == 30 * 3600
    assert rows["late"]["penalty"] == pytest.approx(0.2 * FULL)
    assert rows["late"]["score"] == pytest.approx(0.8 * FULL)
    assert rows["extended"] == {"score": FULL, "penalty": 0, "late": 0, "due": "2026-12-02 12:00:00"}
    summary = {line.split()[0]: line.split()[2] for line in graded["log"].splitlines()
               if line.split()[:1] in (["late"], ["extended"])}
    assert summary == {"late": "2.4", "extended": "3"}, graded["log"]  # the class summary: after the penalty


def test_students_see_the_penalty_in_their_feedback(course, graded):
    course.nbgrader("generate_feedback", ASSIGNMENT, "--force")
    html = {student: (course.root / "feedback" / student / ASSIGNMENT / "tiny.html").read_text()
            for student in ("late", "extended")}
    assert "Late submission penalty (Score: -0.6)" in html["late"]
    assert "Late submission penalty" not in html["extended"]

def test_the_penalty_is_capped_and_never_takes_a_score_below_zero():
    policy = PenaltyPerPeriod(percent=30, period_hours=1, max_percent=100)
    assert policy.late_submission_penalty("s", 10.0, 1) == pytest.approx(3.0)  # 1 started hour
    assert policy.late_submission_penalty("s", 10.0, 3600 * 2 + 1) == pytest.approx(9.0)
    assert policy.late_submission_penalty("s", 10.0, 3600 * 50) == pytest.approx(10.0)  # all, no more
    assert policy.late_submission_penalty("s", 0.0, 3600 * 50) == 0
    assert PenaltyPerPeriod(percent=10, max_percent=25).late_submission_penalty("s", 4.0, 86400 * 9) == 1.0
    with pytest.raises(Exception, match="between 0 and 100"):
        PenaltyPerPeriod(percent=150)


def test_a_result_claiming_an_earlier_time_is_still_late(course, graded, tmp_path):
    """The merge measures lateness on the course's timestamp, not on what a result (made where
    student code ran) claims."""
    from primer.grading.merge import merge_result
    from primer.grading.unit import prepare_release

    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    result = tmp_path / "result"
    unit = primer("grade-one", "--release", str(release), "--submission",
                  str(course.root / "submitted" / "late" / ASSIGNMENT), "--scratch",
                  str(tmp_path / "scratch"), "--result", str(result))
    assert unit.returncode == 0, unit.stderr[-3000:]
    record = json.loads((result / "result.json").read_text())
    record["timestamp"] = "2026-11-29T10:00:00"  # before the due date
    (result / "result.json").write_text(json.dumps(record))
    merge_result(course.root, result)
    assert submissions(course)["late"]["penalty"] == pytest.approx(0.2 * FULL)


@pytest.mark.parametrize("args, says", [
    (("nobody", "--hours", "2"), "no student 'nobody' in the gradebook"),
    (("late", "--until", "2026-11-29 12:00"), "is not after tiny's due date 2026-11-30 12:00 UTC"),
    (("late", "--hours", "-2"), "--hours must be more than 0"),
    (("late", "--hours", "1e300"), "--hours must be more than 0"),
    (("late", "--hours", "nan"), "--hours must be more than 0"),
    (("late", "--until", "next tuesday-ish"), "cannot read the date"),
])
def test_extend_refuses_what_it_cannot_do(course, args, says):
    done = extend(course, ASSIGNMENT, *args)
    assert done.returncode == 1 and says in done.stderr, done.stderr


def test_extend_names_unknown_assignments_and_never_overwrites_by_accident(course, graded):
    unknown = extend(course, "tyni", "late", "--hours", "2")
    assert unknown.returncode == 1 and "no assignment 'tyni'" in unknown.stderr and "known: tiny" in unknown.stderr
    again = extend(course, ASSIGNMENT, "extended", "--until", "2026-12-05 12:00 UTC")
    assert again.returncode == 1, again.stdout
    assert "already has until 2026-12-02 12:00 UTC" in again.stderr and "--replace" in again.stderr
    assert submissions(course)["extended"]["due"] == "2026-12-02 12:00:00"  # unchanged
    replaced = extend(course, ASSIGNMENT, "extended", "--until", "2026-12-05 12:00 UTC", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "until 2026-12-05 12:00 UTC" in replaced.stdout and "(was 2026-12-02 12:00 UTC)" in replaced.stdout
    assert submissions(course)["extended"]["due"] == "2026-12-05 12:00:00"



def test_an_extension_for_a_student_who_has_not_submitted_exports_as_missing(course, graded, tmp_path):
    course.nbgrader("db", "student", "add", "newcomer")
    assert extend(course, ASSIGNMENT, "newcomer", "--hours", "72").returncode == 0
    assert submissions(course)["newcomer"]["due"] == "2026-12-03 12:00:00"
    exported = primer("export", str(course.root), "--to", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    rows = {row["student_id"]: row for row in csv.DictReader((tmp_path / "grades_lms.csv").open())}
    assert rows["newcomer"]["status"] == "missing" and float(rows["newcomer"]["score"]) == 0
    assert rows["late"]["status"] != "missing" and float(rows["late"]["score"]) == pytest.approx(2.4)
