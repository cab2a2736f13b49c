"""A student's own overview (/services/student-overview/) on the real hub, in chromium.

The instructor, as their own Unix user, gives an assignment a due date
(`nbgrader db assignment add --duedate`), one student an extension
(`primer extend`), records both students' submissions and scores in the
gradebook (as the formgrader's manual grading does) and releases their
feedback (`nbgrader release_feedback`). Each student then sees their own due
date, submission and score, and nothing of the other. The screenshot is kept
as artifacts/student-overview.png.
"""
from __future__ import annotations

import sys
import textwrap

import pytest
import requests

from browser_hub import browser, hub  # noqa: F401 (hub: the fixture)
from conftest import REPO
from primer.accounts import run_as
from primer.testing.hub import PASSWORD_STUDENT

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.root]
ASSIGNMENT = "09_overview_check"  # its own assignment: the due date must not touch other modules'
PAGE = "/services/student-overview/"
SETUP = textwrap.dedent("""
    import ast, datetime, secrets, sys
    from pathlib import Path
    from nbgrader.api import Gradebook
    from primer.grading.course_settings import gradebook_url

    assignment, marks = sys.argv[1], ast.literal_eval(sys.argv[2])  # {student: (timestamp, q1, q2)}
    with Gradebook(gradebook_url(Path.cwd())) as gb:
        gb.update_or_create_notebook("overview", assignment)
        for name, points in (("q1", 3), ("q2", 2)):
            gb.update_or_create_grade_cell(name, "overview", assignment, max_score=points, cell_type="code")
        for student, (stamp, *scores) in marks.items():
            gb.update_or_create_student(student)
        gb.db.commit()
    for student, (stamp, *scores) in marks.items():
        if sys.argv[3] == "extend-first":
            continue
        with Gradebook(gradebook_url(Path.cwd())) as gb:
            row = gb.update_or_create_submission(assignment, student,
                                                 timestamp=datetime.datetime.fromisoformat(stamp))
            for grade in row.notebooks[0].grades:
                grade.manual_score = scores[0] if grade.name == "q1" else scores[1]
            gb.db.commit()
        folder = Path("feedback") / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "submission_secret.txt").write_text(secrets.token_hex(16))
        (folder / "overview.html").write_text("<p>feedback</p>")
""")
# student: (submitted, q1, q2); A submits after the class's due date but within A's extension
A_MARKS, B_MARKS = ("2026-12-01 18:00", 3, 2), ("2026-11-30 11:00", 1, 0)


def as_instructor(hub, *argv: str):
    return run_as(hub.instructor, [sys.executable, *argv], cwd=hub.course,
                  env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange)})


@pytest.fixture(scope="module")
def course(hub, students):
    a, b = students
    marks = repr({a: A_MARKS, b: B_MARKS})
    as_instructor(hub, "-m", "nbgrader", "db", "assignment", "add", ASSIGNMENT,
                  "--duedate=2026-11-30 12:00 UTC")
    as_instructor(hub, "-c", SETUP, ASSIGNMENT, marks, "extend-first")
    as_instructor(hub, "-m", "primer.cli", "extend", ASSIGNMENT, a, "--hours", "48")
    as_instructor(hub, "-c", SETUP, ASSIGNMENT, marks, "grade")
    as_instructor(hub, "-m", "nbgrader", "release_feedback", ASSIGNMENT)
    yield a, b
    as_instructor(hub, "-m", "nbgrader", "db", "assignment", "remove", ASSIGNMENT, "--force")


def login(page, hub, name: str) -> None:
    page.goto(f"{hub.url}/hub/login?next={PAGE}")
    page.fill("#username_input", name)
    page.fill("#password_input", PASSWORD_STUDENT)
    page.click("#login_submit")
    page.wait_for_url(f"**{PAGE}", timeout=60_000)


def row_of(page) -> dict[str, str]:
    cells = page.locator(f"#overview tr:has-text('{ASSIGNMENT}') td").all_inner_texts()
    return dict(zip(("assignment", "due", "status", "score"), cells))


def test_each_student_sees_their_own_due_date_and_score_and_nothing_of_another(hub, course):
    a, b = course
    with browser() as chromium:
        pages = {}
        for name in (a, b):
            page = chromium.new_context(viewport={"width": 1100, "height": 500}).new_page()
            page.set_default_timeout(60_000)
            login(page, hub, name)
            pages[name] = page
        shown_a, shown_b = row_of(pages[a]), row_of(pages[b])
        pages[a].screenshot(path=str(REPO / "artifacts" / "student-overview.png"))
        assert shown_a["due"] == "2026-12-02 12:00 UTC (your extension)", shown_a
        assert shown_a["status"] == "submitted 2026-12-01 18:00 UTC", shown_a  # not late: extended
        assert shown_a["score"] == "5 / 5", shown_a
        assert shown_b == {"assignment": ASSIGNMENT, "due": "2026-11-30 12:00 UTC",
                           "status": "submitted 2026-11-30 11:00 UTC", "score": "1 / 5"}
        text = {name: page.content() for name, page in pages.items()}
        assert b not in text[a] and "1 / 5" not in text[a] and "2026-11-30 11:00" not in text[a]
        assert a not in text[b] and "5 / 5" not in text[b] and "2026-12-02" not in text[b]

        # asking for B's rows as A, by query or by path, shows A's rows or nothing
        for attempt in (f"?user={b}", f"?student={b}", f"?name={b}", b, f"{b}/"):
            pages[a].goto(f"{hub.url}{PAGE}{attempt}")
            seen = pages[a].content()
            assert b not in seen.replace(attempt, "") and "1 / 5" not in seen, attempt

        # the hub's home page (JupyterLab: File > Hub Control Panel) links to it
        pages[a].goto(f"{hub.url}/hub/home")
        assert pages[a].locator(f"a[href$='{PAGE}']").count() >= 1, pages[a].content()


def test_an_anonymous_request_goes_to_the_login_page(hub, course):
    answer = requests.get(f"{hub.url}{PAGE}", timeout=30)
    assert answer.url.startswith(f"{hub.url}/hub/login"), answer.url
    assert course[0] not in answer.text and course[1] not in answer.text
