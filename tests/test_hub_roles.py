"""Roles on the hub: instructors and graders (group formgrade-primer) use the formgrader,
a hub-managed service at /services/primer/formgrader; students (nbgrader-primer) cannot
reach it and their JupyterLab has no instructor-only UI (formgrader, Create Assignment).
"""
from __future__ import annotations

import json
import re

import pytest

from primer.testing.hub import PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, HubUser

pytestmark = [pytest.mark.hub, pytest.mark.root]
FORMGRADER = "/services/primer/formgrader"


def logged_in(hub, name: str, password: str) -> HubUser:
    user = HubUser(hub, name)
    response = user.login(password)
    assert response.status_code == 200, response.text[:300]
    user.create_token()
    return user


def test_groups_and_admin_flags(hub):
    instructor = logged_in(hub, hub.instructor, PASSWORD_INSTRUCTOR)
    groups = {g["name"]: set(g["users"]) for g in instructor.api("GET", "/hub/api/groups").json()}
    assert groups["formgrade-primer"] == {hub.instructor, *hub.graders}
    assert groups["nbgrader-primer"] == set(hub.students)
    users = {u["name"]: u for u in instructor.api("GET", "/hub/api/users").json()}
    assert users[hub.instructor]["admin"] is True
    assert users[hub.graders[0]]["admin"] is False


def test_graders_use_the_staff_password_not_the_students(hub, students):
    assert HubUser(hub, hub.graders[0]).login(PASSWORD_STUDENT).status_code == 403
    assert HubUser(hub, hub.graders[0]).login(PASSWORD_INSTRUCTOR).status_code == 200
    # and a student cannot log in with the staff password
    assert HubUser(hub, students[0]).login(PASSWORD_INSTRUCTOR).status_code == 403


def test_the_formgrader_service_serves_the_staff_only(hub, students):
    instructor = logged_in(hub, hub.instructor, PASSWORD_INSTRUCTOR)
    grader = logged_in(hub, hub.graders[0], PASSWORD_INSTRUCTOR)
    student = logged_in(hub, students[0], PASSWORD_STUDENT)
    for staff in (instructor, grader):
        response = staff.api("GET", f"{FORMGRADER}/api/assignments")
        assert response.status_code == 200, response.text[:300]
        assert "01_prerequisites" in {a["name"] for a in response.json()}
    response = student.api("GET", f"{FORMGRADER}/api/assignments", allow_redirects=False)
    assert response.status_code == 403, response.status_code
    # nor with the login cookie, as a browser would
    page = student.session.get(f"{hub.url}{FORMGRADER}/", timeout=60)
    assert page.status_code == 403 and "Manage Assignments" not in page.text
    # the hub lists the service to the staff, not to students
    services = instructor.api("GET", "/hub/api/services").json()
    assert "primer" in services
    assert student.api("GET", "/hub/api/services").status_code == 403


def test_students_see_no_instructor_ui(hub, students):
    student = logged_in(hub, students[0], PASSWORD_STUDENT)
    student.start_server()
    try:
        # The server extensions are off: no formgrader, no course list ...
        assert student.server("GET", "formgrader").status_code == 404
        assert student.server("GET", "formgrader/api/assignments").status_code == 404
        # ... the Assignments panel's API is on ...
        listing = student.server("GET", "assignments", params={"course_id": "primer"})
        assert listing.status_code == 200 and listing.json()["success"]
        # ... and JupyterLab loads with the instructor-only plugins disabled.
        page = student.server("GET", "lab").text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>',
                                      page, re.S).group(1))
        disabled = config["disabledExtensions"]
        for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
            assert plugin in disabled, disabled
        assert "@jupyter/nbgrader:assignment-list" not in disabled
    finally:
        student.api("DELETE", f"/hub/api/users/{student.name}/server")


def test_an_admin_adds_people_from_a_csv_roster(hub, tmp_path):
    import os
    import pwd
    import stat
    import subprocess
    import sys

    from primer.accounts import remove_user

    newcomer, new_grader = "pt-late-student", "pt-late-grader"
    for name in (newcomer, new_grader):
        remove_user(name)
        hub.extra_accounts.append(name)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"username,role,name\n{newcomer},student,Late Student\n"
                      f"{new_grader},grader,Late Grader\n")
    instructor = logged_in(hub, hub.instructor, PASSWORD_INSTRUCTOR)
    result = subprocess.run(
        [sys.executable, "-m", "primer.hub.roster", str(roster),
         f"--url=http://127.0.0.1:{hub.port + 1}/hub/api"],
        env={**os.environ, "JUPYTERHUB_API_TOKEN": instructor.token},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 students, 1 graders" in result.stdout
    groups = {g["name"]: set(g["users"]) for g in instructor.api("GET", "/hub/api/groups").json()}
    assert newcomer in groups["nbgrader-primer"] and new_grader in groups["formgrade-primer"]

    # The newcomer logs in with the students' password; their server makes their Unix account.
    student = logged_in(hub, newcomer, PASSWORD_STUDENT)
    student.start_server()
    home = pwd.getpwnam(newcomer).pw_dir
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    student.api("DELETE", f"/hub/api/users/{newcomer}/server")
    # The new grader needs the staff password, and reaches the formgrader.
    assert HubUser(hub, new_grader).login(PASSWORD_STUDENT).status_code == 403
    grader = logged_in(hub, new_grader, PASSWORD_INSTRUCTOR)
    assert grader.api("GET", f"{FORMGRADER}/api/assignments").status_code == 200
