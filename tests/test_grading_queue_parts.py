"""The grading queue's parts without a hub: the journal's rules and the provisional feedback page.

The whole queue on a real hub with real students: tests/test_grading_queue.py.
"""
from __future__ import annotations

import os
import time

import pytest

from conftest import source_notebook
from nbgrader_course import ScratchCourse, solved_release
from primer.queue.feedback import generate_queue_feedback
from primer.queue.journal import MAX_ATTEMPTS, Journal

ASSIGNMENT = "01_prerequisites"


@pytest.fixture
def journal(tmp_path):
    journal = Journal(tmp_path / "queue")
    yield journal
    journal.close()


def test_the_journal_is_private_and_adds_an_entry_once(journal):
    assert os.stat(journal.path).st_mode & 0o777 == 0o600
    assert journal.add("ada+a1+2026-12-01 10:00:00 UTC+x", "ada", "a1", "2026-12-01T10:00:00")
    assert not journal.add("ada+a1+2026-12-01 10:00:00 UTC+x", "ada", "a1", "2026-12-01T10:00:00")
    assert [s.student for s in journal.pending()] == ["ada"]


def test_a_journal_others_may_write_is_refused(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / "journal.sqlite").touch(mode=0o666)
    os.chmod(folder / "journal.sqlite", 0o666)
    with pytest.raises(PermissionError, match="mode 600"):
        Journal(folder)


def test_configured_assignments_are_on_until_a_command_turns_them_off(journal):
    journal.enable_configured(("a1", "a2"))
    assert sorted(journal.enabled()) == ["a1", "a2"]
    journal.set_enabled("a2", False)
    journal.enable_configured(("a1", "a2"))  # the next start of the hub
    assert sorted(journal.enabled()) == ["a1"]
    journal.set_enabled("a3", True, show_scores=False)
    assert journal.enabled()["a3"]["show_scores"] == 0


def test_an_interrupted_grading_is_graded_again_then_given_up(journal):
    journal.add("e", "ada", "a1", "t")
    (item,) = journal.pending()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert journal.start(item.id) == attempt
        journal.recover()
    assert journal.get(item.id).state == "failed"
    assert "interrupted 3 times" in " ".join(journal.get(item.id).notes)


def test_a_grading_cut_short_by_clean_stops_is_never_given_up(journal):
    """A clean stop puts the grading back without counting it: hub restarts lose nothing."""
    journal.add("e", "ada", "a1", "t")
    (item,) = journal.pending()
    for _ in range(MAX_ATTEMPTS + 2):
        journal.start(item.id)
        journal.put_back(item.id, "stopped")
        journal.recover()
    assert (journal.get(item.id).state, journal.get(item.id).attempts) == ("waiting", 0)
    journal.start(item.id)
    journal.finish(item.id, "graded", recorded=True)
    journal.put_back(item.id, "stopped")  # a grading already finished stays finished
    assert journal.get(item.id).state == "graded"


def test_the_limit_counts_each_grading_once_in_its_window(journal):
    for n in range(3):
        journal.add(f"e{n}", "ada", "a1", "t")
    first, second, _ = journal.pending()
    journal.start(first.id)
    journal.finish(first.id, "graded", recorded=True)
    journal.start(second.id)
    journal.recover()  # interrupted: its second attempt does not count again
    journal.start(second.id)
    assert len(journal.started_since("ada", time.time() - 60)) == 2
    assert journal.started_since("ada", time.time() + 1) == []
    assert journal.get(second.id).attempts == 2


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """The Prerequisites autograded by nbgrader: ada's answers right, bob's first one missing."""
    course = ScratchCourse(tmp_path_factory.mktemp("queue-course"))
    release = course.generate(ASSIGNMENT)
    course.submit("ada", ASSIGNMENT, solved_release(release, source_notebook(ASSIGNMENT)))
    answers = solved_release(release, source_notebook(ASSIGNMENT))
    for cell in answers.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "voxel-volume":
            cell.source = "raise NotImplementedError()"
    course.submit("bob", ASSIGNMENT, answers)
    course.autograde(ASSIGNMENT)
    return course


def feedback_page(course, student: str, show_scores: bool) -> str:
    generate_queue_feedback(course.root, ASSIGNMENT, student, show_scores)
    return (course.root / "feedback" / student / ASSIGNMENT / "prerequisites.html").read_text()


def test_provisional_feedback_says_which_tests_passed(graded_course):
    page = feedback_page(graded_course, "ada", show_scores=True)
    assert "provisional feedback" in page and "9 of 9 tests passed" in page
    assert "Provisional score: 14.0 / 14.0 on the tests" in page
    assert "1 answer(s) worth 2.0 points will be graded by the team" in page
    assert "BEGIN HIDDEN TESTS" not in page and "hidden test" in page
    page = feedback_page(graded_course, "bob", show_scores=True)
    assert "8 of 9 tests passed" in page and page.count(">failed<") >= 2  # the list and the cell


def test_the_instructor_can_hide_the_scores(graded_course):
    page = feedback_page(graded_course, "bob", show_scores=False)
    assert "8 of 9 tests passed" in page and "Scores are released by the instructor" in page
    assert "Provisional score" not in page and "points" not in page.split("<body", 1)[1].split(
        'id="notebook"')[0]


def test_the_status_page_says_how_far_grading_is_and_what_is_left(journal, tmp_path):
    """A real journal with five submissions of one assignment in every stage, read by the
    queue's own status() and drawn by the status page."""
    from types import SimpleNamespace

    from primer.queue.service import GradingQueue
    from primer.queue.settings import QueueSettings
    from primer.queue.status_page import render

    for n in range(1, 6):
        journal.add(f"s{n}+03_ml_evaluation+{n}", f"s{n}", "03_ml_evaluation", f"2026-12-01T10:0{n}:00")
    journal.finish(1, "graded", score=3, max_score=4)
    journal.finish(2, "failed")
    journal.start(3)
    journal.set_state(4, "deferred", "over the limit")
    (tmp_path / "course" / "release" / "03_ml_evaluation").mkdir(parents=True)
    queue = SimpleNamespace(journal=journal, settings=QueueSettings(), course=tmp_path / "course")
    status = GradingQueue.status(SimpleNamespace(**vars(queue),
                                                 assignments=lambda: GradingQueue.assignments(queue)))
    page = render(status, "pt-instructor")
    progress = page.split("<ul id='progress'>")[1].split("</ul>")[0]
    assert "<progress value='2' max='5'></progress> 2 of 5 done" in progress, progress
    assert "left: 1 waiting, 1 grading, 1 deferred" in progress
    assert "<a href='report/03_ml_evaluation'>03_ml_evaluation</a>" in page


def test_a_students_resubmissions_never_delay_another_students_first(journal):
    """Ada submits three times before Bob and Cy submit once each. The queue's own scheduler
    (one worker) grades Ada's first, then Bob's and Cy's first submissions, then Ada's others."""
    import asyncio
    from types import SimpleNamespace

    from primer.queue.service import GradingQueue
    from primer.queue.settings import QueueSettings

    journal.enable_configured(("a1",))
    for entry, student in [("ada-1", "ada"), ("ada-2", "ada"), ("ada-3", "ada"), ("bob-1", "bob"),
                           ("cy-1", "cy")]:
        journal.add(entry, student, "a1", "2026-12-01T10:00:00")

    async def nothing(submission_id):
        return None

    async def grade_in_the_queues_order() -> list[str]:
        queue = SimpleNamespace(journal=journal, settings=QueueSettings(workers=1, per_hour=10),
                                running={}, slots={}, grade=nothing)
        graded = []
        while journal.pending():
            GradingQueue.schedule(queue)
            (submission_id,) = queue.running
            await queue.running.pop(submission_id)
            queue.slots.clear()
            journal.start(submission_id)
            journal.finish(submission_id, "graded")
            graded.append(journal.get(submission_id).entry)
        return graded

    assert asyncio.run(grade_in_the_queues_order()) == ["ada-1", "bob-1", "cy-1", "ada-2", "ada-3"]
