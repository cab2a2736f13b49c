"""The student overview's rows from a real nbgrader gradebook (primer/hub/student_overview.py).

The page on the hub is tested in chromium (tests/test_hub_overview.py); here:
a score stays hidden until nbgrader's release_feedback has published the
feedback, a submission not collected yet shows as waiting, and the page escapes
what it shows.
"""
from __future__ import annotations

import datetime

from nbgrader.api import Gradebook
from nbgrader.utils import notebook_hash

from primer.course import venv_path
from primer.hub.student_overview import Row, overview, render

ASSIGNMENT, STUDENT, SECRET = "ps1", "ada", "0123abcd"


def course(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", venv_path())  # nbgrader's gradebook runs alembic
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime.datetime(2026, 11, 30, 12))
        gb.update_or_create_assignment("ps2")
        gb.update_or_create_notebook("nb", ASSIGNMENT)
        gb.update_or_create_grade_cell("q", "nb", ASSIGNMENT, max_score=4, cell_type="code")
        for name in (STUDENT, "bob"):
            gb.update_or_create_student(name)
            row = gb.update_or_create_submission(ASSIGNMENT, name,
                                                 timestamp=datetime.datetime(2026, 11, 30, 13))
            row.notebooks[0].grades[0].manual_score = 3 if name == STUDENT else 1
        gb.db.commit()
    feedback = tmp_path / "feedback" / STUDENT / ASSIGNMENT
    feedback.mkdir(parents=True)
    (feedback / "submission_secret.txt").write_text(SECRET)
    exchange = tmp_path / "exchange"
    (exchange / "feedback").mkdir(parents=True)
    (exchange / "inbound").mkdir()
    return url, exchange


def test_a_score_shows_only_once_the_feedback_is_released(tmp_path, monkeypatch):
    url, exchange = course(tmp_path, monkeypatch)
    row, = [r for r in overview(url, tmp_path, exchange, STUDENT) if r.assignment == ASSIGNMENT]
    assert row == Row(ASSIGNMENT, "2026-11-30 12:00 UTC", False, "submitted 2026-11-30 13:00 UTC (1.0 h late)", "")
    (exchange / "feedback" / f"{notebook_hash(secret=SECRET, notebook_id='nb')}.html").write_text("x")
    row, = [r for r in overview(url, tmp_path, exchange, STUDENT) if r.assignment == ASSIGNMENT]
    assert row.score == "3 / 4"
    # another student's released feedback never releases this one's, nor the reverse
    bob, = [r for r in overview(url, tmp_path, exchange, "bob") if r.assignment == ASSIGNMENT]
    assert bob.score == ""


def test_a_submission_not_yet_collected_shows_as_waiting(tmp_path, monkeypatch):
    url, exchange = course(tmp_path, monkeypatch)
    (exchange / "inbound" / f"{STUDENT}+ps2+2026-11-30 10:00:00.000000 UTC+abc").mkdir()
    rows = {r.assignment: r for r in overview(url, tmp_path, exchange, STUDENT)}
    assert rows["ps2"].status == "submitted, waiting to be collected" and rows["ps2"].due == "no due date"
    others = {r.assignment: r for r in overview(url, tmp_path, exchange, "bob")}
    assert others["ps2"].status == "not submitted"


def test_the_page_escapes_what_it_shows():
    page = render("<b>eve</b>", [Row("<script>alert(1)</script>", "none", True, "<img src=x>", "1 / 2")])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page and "<b>eve</b>" not in page
