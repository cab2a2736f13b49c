"""The course's recorder (primer/queue/recorder.py): one process records submission after submission,
and a job that fails, hangs or kills it fails alone (as root: the results come from warm sandboxes).

The queue on a real hub, recording through it: tests/test_grading_queue.py.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.accounts import is_running
from primer.exchange import SECRET
from primer.grading.unit import prepare_release
from primer.queue.recorder import Recorder
from primer.queue.warm_pool import WarmPool

pytestmark = pytest.mark.root  # the results come from real sandboxed kernels
FIRST_ACCOUNT = 94  # primer-sandbox94 and 95: this module's own
STUDENTS = {"ada": {}, "bob": {"cube": "return 0"}}  # bob's cube is wrong: 2 of 3 points


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A tiny course, and what the queue holds before its record step for each student: the
    collected copy and the warm sandbox's result."""
    root = tmp_path_factory.mktemp("recorder")
    course = tiny_course(root / "course")
    release = prepare_release(course.root, ASSIGNMENT, root / "release")
    notebook = nbformat.read(release / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)

    async def grade_all():
        pool = WarmPool(root, 1, FIRST_ACCOUNT)
        try:
            for student, answers in STUDENTS.items():
                work = root / "work" / student
                submission = write_submission(work / "submission", answered(notebook, **answers))
                (submission / SECRET).write_text(f"{student}-secret")  # as nbgrader's submit writes it
                standby = await pool.take(release)
                process = await pool.run(standby, {
                    "submission": str(submission), "scratch": str(work / "scratch"),
                    "result": str(work / "result"), "student": student, "log": str(work / "unit.log")})
                await process.wait()
                await pool.done(standby)
        finally:
            await pool.close()

    asyncio.run(grade_all())
    return course.root, root / "work"


@pytest.fixture
def course(graded, tmp_path) -> Path:
    """A fresh copy of the graded course (its gradebook without either student), and its exchange."""
    copy = shutil.copytree(graded[0], tmp_path / "course")
    (tmp_path / "exchange").mkdir()
    return copy


def recorder(course: Path, timeout: float = 300) -> Recorder:
    return Recorder("root", course, {"PRIMER_EXCHANGE_ROOT": str(course.parent / "exchange")},
                    course.parent / "recorder.log", timeout)


def job(graded, student: str) -> dict:
    work = graded[1] / student
    return {"assignment": ASSIGNMENT, "student": student, "submission": str(work / "submission"),
            "result": str(work / "result"), "log": str(work / "unit.log"), "show_scores": True}


def scores(course: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: s.code_score for s in gradebook.assignment_submissions(ASSIGNMENT)}


def test_one_recorder_records_student_after_student_against_the_gradebook_as_it_is_now(graded, course):
    async def scenario():
        kept = recorder(course)
        try:
            ada = await kept.record(job(graded, "ada"), course.parent / "ada.record.log")
            bob = await kept.record(job(graded, "bob"), course.parent / "bob.record.log")
            assert len(kept.pids) == 1, "a second recorder was started for the second student"
            # Between two jobs the instructor removes ada's submission (e.g. to grade it again):
            # the recorder holds nothing of the gradebook from one job to the next.
            with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
                gradebook.remove_submission(ASSIGNMENT, "ada")
            assert scores(course) == {"bob": 2.0}
            again = await kept.record(job(graded, "ada"), course.parent / "ada.record.log")
            assert len(kept.pids) == 1 and kept.process.returncode is None
            return ada, bob, again
        finally:
            await kept.close()

    ada, bob, again = asyncio.run(scenario())
    for answer, score in ((ada, 3.0), (bob, 2.0), (again, 3.0)):
        assert answer["status"] == "graded" and answer["recorded"], answer
        assert (answer["score"], answer["max_score"]) == (score, 3.0), answer
        assert answer["feedback"], answer
    assert scores(course) == {"ada": 3.0, "bob": 2.0}
    for student in STUDENTS:
        assert (course / "feedback" / student / ASSIGNMENT / "tiny.html").is_file()


def test_a_job_that_fails_hangs_or_kills_the_recorder_fails_alone(graded, course):
    """Each time the next student is recorded, by a fresh recorder, and nothing of the old one runs."""
    async def blocked_job(kept: Recorder, student: str, while_blocked=None) -> dict:
        """A job for ``student`` while another process holds the gradebook locked."""
        lock = sqlite3.connect(course / "gradebook.db", isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            answer = asyncio.ensure_future(kept.record(job(graded, student), course.parent / "x.log"))
            await asyncio.sleep(1)
            if while_blocked:
                while_blocked()
            return await answer
        finally:
            lock.close()

    async def scenario():
        kept = recorder(course)
        try:
            (course / "submitted").mkdir(exist_ok=True)
            (course / "submitted" / "ada").write_text("not a folder")  # her job raises
            failed = await kept.record(job(graded, "ada"), course.parent / "broken.record.log")
            (course / "submitted" / "ada").unlink()
            recorded = await kept.record(job(graded, "bob"), course.parent / "bob.record.log")

            kept.timeout = 3  # shorter than the gradebook's own wait for its lock (5 s)
            hung = await blocked_job(kept, "ada")
            kept.timeout = 300
            after_hang = await kept.record(job(graded, "ada"), course.parent / "ada.record.log")

            killed = await blocked_job(kept, "bob", lambda: os.kill(kept.process.pid, signal.SIGKILL))
            after_kill = await kept.record(job(graded, "bob"), course.parent / "bob.record.log")
            return failed, recorded, hung, after_hang, killed, after_kill, kept.pids
        finally:
            await kept.close()

    failed, recorded, hung, after_hang, killed, after_kill, pids = asyncio.run(scenario())
    assert failed["status"] == "failed" and not failed["recorded"], failed
    assert "recording the result failed" in " ".join(failed["notes"]), failed
    assert "submitted/ada" in (course.parent / "broken.record.log").read_text()
    assert hung == {"status": "failed", "recorded": False, "notes": ["recording the result took too long"]}
    assert killed["status"] == "failed" and "exit -9" in " ".join(killed["notes"]), killed
    for answer, score in ((recorded, 2.0), (after_hang, 3.0), (after_kill, 2.0)):
        assert answer["status"] == "graded" and answer["recorded"], answer
        assert answer["score"] == score, answer
    assert len(set(pids)) == 4, f"a failed job's recorder served the next job: {pids}"
    assert not any(is_running(pid) for pid in pids)
    assert scores(course) == {"ada": 3.0, "bob": 2.0}
