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
