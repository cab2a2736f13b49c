"""Faults during a workshop, on the real hub with real users.

* The hub dies (SIGKILL, as in a crash) while a student works, and is started
  again: the student's server, kernel, variables and files survived, and they
  carry on with the same login.
* A student's server is killed: they start it again and their saved work is there.
"""
from __future__ import annotations

import os
import pwd
import signal

import psutil
import pytest

from primer.accounts import command_line, is_running, processes_of
from primer.testing.hub import PASSWORD_STUDENT, HubUser, execute, start_kernel, wait_for

pytestmark = [pytest.mark.hub, pytest.mark.root]
NOTEBOOK = {"cells": [{"cell_type": "code", "source": "answer = 42", "metadata": {},
                       "outputs": [], "execution_count": None}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def student(hub, students):
    user = HubUser(hub, students[0]).log_in_and_start_server(PASSWORD_STUDENT)
    yield user
    user.api("DELETE", f"/hub/api/users/{user.name}/server")


def server_pid(hub, name: str) -> int:
    uid = pwd.getpwnam(name).pw_uid
    (pid,) = [p for p in processes_of(uid) if "jupyterhub-singleuser" in command_line(p)]
    return pid


def save(user: HubUser, path: str) -> None:
    response = user.server("PUT", f"api/contents/{path}",
                           json={"type": "notebook", "format": "json", "content": NOTEBOOK})
    assert response.status_code == 201, response.text  # created: each test saves a new file


def test_the_hub_crashes_and_restarts_while_a_student_works(hub, student):
    save(student, "work-before-crash.ipynb")
    kernel = start_kernel(student)
    assert execute(student, kernel, "progress = 41\nprint(progress)").strip() == "41"
    pid = server_pid(hub, student.name)

    hub.crash()
    assert is_running(pid), "the student's server died with the hub"
    # the server itself still has the file while the hub is down
    hub.start()
    # the crashed hub's formgrader service held its port: the new hub stopped it by PID
    assert "left by a previous hub" in hub.log()

    model = student.api("GET", f"/hub/api/users/{student.name}").json()
    assert model["servers"][""]["ready"], model
    assert server_pid(hub, student.name) == pid, "the server was restarted, not kept"
    # same login (cookie) and token, same kernel with its variables, same files
    assert student.session.get(f"{hub.url}/hub/api/user",
                               headers={"X-XSRFToken": student.session.cookies.get("_xsrf", path="/hub/")},
                               timeout=30).status_code == 200
    assert execute(student, kernel, "print(progress + 1)").strip() == "42"
    assert student.server("GET", "api/contents/work-before-crash.ipynb").status_code == 200
    # the formgrader service came back too
    assert student.api("GET", "/services/primer/formgrader/api/assignments").status_code == 403


def test_a_killed_server_is_started_again_and_nothing_is_lost(hub, student):
    save(student, "work-before-kill.ipynb")
    pid = server_pid(hub, student.name)
    os.kill(pid, signal.SIGKILL)
    # gone, not only a zombie: the hub polls the PID, and a zombie still answers
    wait_for(lambda: not psutil.pid_exists(pid), 30, f"the killed server {pid} reaped")
    # the student starts it again (the hub notices the dead server on this request)
    student.start_server()
    assert server_pid(hub, student.name) != pid
    listing = student.server("GET", "api/contents/").json()
    names = {entry["name"] for entry in listing["content"]}
    assert names == {"work-before-crash.ipynb", "work-before-kill.ipynb"}
    kernel = start_kernel(student)
    assert execute(student, kernel, "print(6 * 7)").strip() == "42"


def test_a_planned_restart_keeps_everyones_server_with_PRIMER_KEEP_SERVERS(hub, student):
    hub.stop(settle=0)  # the running hub stops every server on Ctrl-C (the demo's default)
    hub.env["PRIMER_KEEP_SERVERS"] = "1"
    try:
        hub.start()
        student.start_server()
        kernel = start_kernel(student)
        assert execute(student, kernel, "kept = 'yes'\nprint(kept)").strip() == "yes"
        save(student, "work-before-restart.ipynb")
        pid = server_pid(hub, student.name)
        left = hub.stop(settle=0)  # e.g. `systemctl restart` to change a setting
        assert any(f"(pid {pid})" in entry for entry in left), left
    finally:
        del hub.env["PRIMER_KEEP_SERVERS"]
        hub.start()  # without the setting again: the end of the session stops everything
    assert server_pid(hub, student.name) == pid
    assert student.api("GET", f"/hub/api/users/{student.name}").json()["servers"][""]["ready"]
    assert execute(student, kernel, "print(kept)").strip() == "yes"
    assert student.server("GET", "api/contents/work-before-restart.ipynb").status_code == 200
