"""The whole nbgrader loop on a real JupyterHub with real Unix users.

A student logs in with the shared password, fetches the Prerequisites
assignment through their own server's nbgrader HTTP API, answers it through the
Jupyter contents API and submits; the instructor collects, autogrades,
generates and releases feedback with the real nbgrader commands, as their own
Unix user; the student fetches the feedback. At the end of the session the hub
is stopped with Ctrl-C and nothing of it may be left running
(conftest.course_hub).
"""
from __future__ import annotations

import os
import pwd
import stat
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import source_notebook
from nbgrader_course import solved_release
from primer.accounts import run_as
from primer.testing.hub import PASSWORD_STUDENT, CourseHub, HubUser, feedback_score

ASSIGNMENT = "01_prerequisites"
pytestmark = [pytest.mark.hub, pytest.mark.root]


def instructor_nbgrader(hub: CourseHub, *args: str):
    return run_as(hub.instructor, [sys.executable, "-m", "nbgrader", *args], cwd=hub.course,
                  env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange)})


def test_homes_are_private(hub):
    # Every demo account has its Unix account from the start; one a test added by roster
    # (test_hub_roles) has it only once its server first started.
    made = [name for name in hub.extra_accounts if _has_unix_account(name)]
    for name in [hub.instructor, *hub.graders, *hub.students, *made]:
        mode = stat.S_IMODE(os.stat(pwd.getpwnam(name).pw_dir).st_mode)
        assert mode & 0o077 == 0, f"{name}'s home is {oct(mode)}: others could read it"


def _has_unix_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_wrong_password_is_refused(hub, students):
    user = HubUser(hub, students[0])
    response = user.login("not-the-password")
    assert response.status_code == 403, response.status_code
    assert user.session.cookies.get("jupyterhub-hub-login") is None
    # the students' password must not open an instructor's account
    response = HubUser(hub, hub.instructor).login(PASSWORD_STUDENT)
    assert response.status_code == 403


def test_student_fetch_submit_instructor_grade_student_reads_feedback(hub, students):
    student = HubUser(hub, students[0]).log_in_and_start_server(PASSWORD_STUDENT)

    # The course-wide nbgrader settings reached the student's server: it lists our course.
    listing = student.server("GET", "assignments", params={"course_id": "primer"}).json()
    assert listing["success"], listing
    released = {a["assignment_id"]: a["status"] for a in listing["value"]}
    assert released.get(ASSIGNMENT) == "released", released

    fetched = student.assignment_action("fetch", ASSIGNMENT)
    statuses = {a["assignment_id"]: a["status"] for a in fetched["value"]}
    assert statuses[ASSIGNMENT] == "fetched", statuses

    # Answer every question (through the server, as the student's own Unix user).
    notebook_name = source_notebook(ASSIGNMENT).name
    path = f"primer/{ASSIGNMENT}/{notebook_name}"
    model = student.server("GET", f"api/contents/{path}").json()
    released_nb = nbformat.from_dict(model["content"])
    fetched_file = Path(pwd.getpwnam(students[0]).pw_dir) / path
    answered = solved_release(fetched_file, source_notebook(ASSIGNMENT))
    assert answered.cells != released_nb.cells
    saved = student.server("PUT", f"api/contents/{path}",
                           json={"type": "notebook", "format": "json", "content": answered})
    assert saved.status_code == 200, saved.text
    submitted = student.assignment_action("submit", ASSIGNMENT)
    assert submitted["success"], submitted

    # Another student cannot list or read the inbound submissions.
    inbound = hub.exchange / "primer" / "inbound"
    assert stat.S_IMODE(inbound.stat().st_mode) & 0o004 == 0, "inbound is listable by everyone"

    instructor_nbgrader(hub, "collect", ASSIGNMENT)
    instructor_nbgrader(hub, "autograde", ASSIGNMENT)
    instructor_nbgrader(hub, "generate_feedback", ASSIGNMENT)
    instructor_nbgrader(hub, "release_feedback", ASSIGNMENT)

    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, students[0])
        auto = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
        earned = sum(g.auto_score for g in auto)
        possible = sum(g.max_score for g in auto)
    assert possible > 0 and earned == possible, f"autograde gave {earned}/{possible}"

    student.assignment_action("fetch_feedback", ASSIGNMENT)
    folder = student.server("GET", f"api/contents/primer/{ASSIGNMENT}/feedback").json()
    (timestamp,) = [entry["path"] for entry in folder["content"]]
    html_name = notebook_name.replace(".ipynb", ".html")
    page = student.server("GET", f"api/contents/{timestamp}/{html_name}").json()
    score, _ = feedback_score(page["content"])
    assert score == pytest.approx(earned)
