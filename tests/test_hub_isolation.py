"""Isolation on the hub, proved with real Unix users (the production shape: the hub runs as root).

A student submits through their own server; another student, as their own Unix
user and knowing the submission's full name, can neither list, read, change,
rename nor remove it. Students cannot reach another home, the course's
``source/`` (solutions), the gradebook, the instructors' homes or the hub's own
secrets; the shared data folder is readable by all and writable by none of them.
"""
from __future__ import annotations

import json
import os
import pwd
import stat
import sys
import textwrap

import pytest

from primer.testing.hub import PASSWORD_STUDENT, HubUser
from primer.accounts import run_as

ASSIGNMENT = "01_prerequisites"
pytestmark = [pytest.mark.hub, pytest.mark.root]

PROBE = textwrap.dedent("""
    import json, os, sys
    results = {}
    def attempt(label, action):
        try:
            action()
            results[label] = "allowed"
        except OSError as error:
            results[label] = type(error).__name__
    for label, path in json.loads(sys.argv[1]).items():
        kind, _, target = label.partition(":")
        if kind == "list":
            attempt(label, lambda: os.listdir(path))
        elif kind == "read":
            attempt(label, lambda: open(path, "rb").read(1))
        elif kind == "write":
            attempt(label, lambda: open(path, "ab").write(b"x"))
        elif kind == "create":
            attempt(label, lambda: open(path, "xb").close())
        elif kind == "rename":
            attempt(label, lambda: os.rename(path, path + ".stolen"))
        elif kind == "remove":
            attempt(label, lambda: os.rmdir(path))
    print(json.dumps(results))
""")


def probe(user: str, checks: dict[str, str]) -> dict[str, str]:
    """Try each file operation as the Unix user ``user``; 'allowed' or the error's name."""
    result = run_as(user, [sys.executable, "-c", PROBE, json.dumps(checks)], cwd="/tmp")
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def submission(hub):
    """The full path of a real submission made by pt-student-2 through their server."""
    name = hub.students[1]
    student = HubUser(hub, name).log_in_and_start_server(PASSWORD_STUDENT)
    student.assignment_action("fetch", ASSIGNMENT)
    assert student.assignment_action("submit", ASSIGNMENT)["success"]
    inbound = hub.exchange / "primer" / "inbound"
    (folder,) = [p for p in inbound.iterdir() if p.name.startswith(f"{name}+{ASSIGNMENT}+")]
    yield folder
    student.api("DELETE", f"/hub/api/users/{name}/server")


def test_homes_are_private(hub):
    for name in hub.accounts:
        mode = stat.S_IMODE(os.stat(pwd.getpwnam(name).pw_dir).st_mode)
        assert mode & 0o077 == 0, f"{name}'s home is {oct(mode)}: others could read it"


def test_another_student_cannot_touch_a_submission_even_knowing_its_name(hub, submission):
    notebook = next(p for p in submission.iterdir() if p.suffix == ".ipynb")
    outsider = hub.students[2]
    results = probe(outsider, {
        "list:inbound": str(submission.parent),
        "list:submission": str(submission),
        "read:notebook": str(notebook),
        "read:secret": str(submission / "submission_secret.txt"),
        "write:notebook": str(notebook),
        "create:file": str(submission / "planted.ipynb"),
        "rename:submission": str(submission),
        "remove:submission": str(submission),
    })
    assert set(results.values()) == {"PermissionError"}, results
    assert submission.exists() and not (submission / "planted.ipynb").exists()


def test_the_staff_can_read_a_submission_and_its_student_still_can(hub, submission):
    notebook = next(p for p in submission.iterdir() if p.suffix == ".ipynb")
    checks = {"list:inbound": str(submission.parent), "read:notebook": str(notebook)}
    assert set(probe(hub.instructor, checks).values()) == {"allowed"}
    assert probe(hub.graders[0], {"read:notebook": str(notebook)}) == {"read:notebook": "allowed"}
    # The submitting student's own copy: readable by them, not listable inbound.
    own = probe(hub.students[1], {"read:notebook": str(notebook), "list:inbound": str(submission.parent)})
    assert own == {"read:notebook": "allowed", "list:inbound": "PermissionError"}


def test_students_cannot_reach_solutions_gradebook_homes_or_hub_secrets(hub):
    course = hub.course
    instructor_home = pwd.getpwnam(hub.instructor).pw_dir
    other_home = pwd.getpwnam(hub.students[0]).pw_dir
    (source,) = (course / "source" / ASSIGNMENT).glob("*.ipynb")
    results = probe(hub.students[2], {
        "read:source": str(source),
        "list:course": str(course),
        "read:gradebook": str(course / "gradebook.db"),
        "list:instructor-home": instructor_home,
        "list:other-student-home": other_home,
        "create:other-student-home": os.path.join(other_home, "planted"),
        "read:passwords": str(hub.runtime / "hub" / "passwords.json"),
        "read:hub-database": str(hub.runtime / "hub" / "jupyterhub.sqlite"),
        "read:cookie-secret": str(hub.runtime / "hub" / "jupyterhub_cookie_secret"),
    })
    assert set(results.values()) == {"PermissionError"}, results


def test_shared_data_is_readable_by_everyone_and_writable_by_no_student(hub):
    shared = hub.runtime / "shared-data"
    results = probe(hub.students[2], {
        "list:shared": str(shared),
        "read:readme": str(shared / "README.txt"),
        "write:readme": str(shared / "README.txt"),
        "create:shared": str(shared / "mine.nii.gz"),
    })
    assert results == {"list:shared": "allowed", "read:readme": "allowed",
                       "write:readme": "PermissionError", "create:shared": "PermissionError"}


def test_a_submission_forged_under_another_students_name_is_not_collected(hub, submission):
    import shutil

    victim, forger = hub.students[1], hub.students[2]
    stamp = "2099-01-01 00:00:00.000000 UTC"  # "newer" than the real one, so it would win
    forged = submission.parent / f"{victim}+{ASSIGNMENT}+{stamp}+forged"
    plant = ("import os, sys\np = sys.argv[1]\nos.mkdir(p)\n"
             "open(p + '/timestamp.txt', 'w').write(sys.argv[2])\n"
             "open(p + '/prerequisites.ipynb', 'w').write('{}')\nos.chmod(p, 0o777)\n")
    run_as(forger, [sys.executable, "-c", plant, str(forged), stamp], cwd="/tmp")
    try:
        result = run_as(hub.instructor, [sys.executable, "-m", "nbgrader", "collect", ASSIGNMENT,
                                         f"--student={victim}"],
                        cwd=hub.course, env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange)})
        assert "claims to be" in result.stdout + result.stderr
        collected = hub.course / "submitted" / victim / ASSIGNMENT / "timestamp.txt"
        assert collected.read_text() == (submission / "timestamp.txt").read_text()
    finally:
        shutil.rmtree(forged, ignore_errors=True)
