"""One source for nbgrader's course-wide settings: a change reaches the instructor and every server.

The hub runs from a copy of the repository whose nbgrader_config.py is changed
after an older hub left its copy in the instructor's course directory (as
`make hub` did: copied once, then read last, so it won). After a start of the
hub, the instructor's own nbgrader, a student's server and a staff server, and
the formgrader service all read the changed setting.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import psutil
import pytest

from conftest import REPO
from primer.accounts import chown_tree, ensure_user, run_as
from primer.hub.course_setup import PERSONAL_CONFIG_HEADER
from primer.testing.hub import (PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, CourseHub, HubUser, execute,
                                start_kernel)

pytestmark = [pytest.mark.hub, pytest.mark.root]
OLD, NEW = "c.Execute.timeout = 120", "c.Execute.timeout = 77"
# How nbgrader reads its settings wherever it runs (config paths, the working and course folders).
PROBE = ("from nbgrader.apps.baseapp import NbGrader\n"
         "app = NbGrader(); app.initialize([]); print(f'timeout={app.config.Execute.timeout}')\n")


def timeout_read(output: str) -> int:
    """The Execute.timeout the probe printed (nbgrader may log around it)."""
    found = re.findall(r"^timeout=(\d+)$", output, re.M)
    assert len(found) == 1, output
    return int(found[0])


def repository_copy(target: Path) -> Path:
    shutil.copytree(REPO, target, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "_build", "artifacts", "__pycache__"))
    # the proxy is installed once, in the real checkout
    (target / "deploy" / "proxy" / "node_modules").symlink_to(REPO / "deploy" / "proxy" / "node_modules")
    target.chmod(0o755)
    return target


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    repo = repository_copy(tmp_path_factory.mktemp("config") / "repo")
    original = (repo / "nbgrader_config.py").read_text()
    assert OLD in original, "the probe's setting is no longer in nbgrader_config.py: update this test"
    hub = CourseHub(repo, prefix="cfg", students=1, release="none", PRIMER_IDLE_TIMEOUT="0")
    # What an older hub left: its one-time copy of the settings in the course directory.
    owner = ensure_user(hub.instructor)
    course = Path(owner.pw_dir) / "primer-course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(original)
    chown_tree(course, owner.pw_uid, owner.pw_gid)
    # The instructor then changes a course-wide setting in the repository.
    (repo / "nbgrader_config.py").write_text(original.replace(OLD, NEW))
    with hub.running():
        yield hub


def test_the_course_directory_keeps_no_stale_copy(hub):
    text = (hub.course / "nbgrader_config.py").read_text()
    assert text.startswith(PERSONAL_CONFIG_HEADER)
    assert "c." not in text.replace("c = get_config()", ""), text  # no setting at all
    assert OLD in (hub.course / "nbgrader_config.py.stale").read_text()


def test_the_instructors_own_nbgrader_reads_the_change(hub):
    result = run_as(hub.instructor, [sys.executable, "-c", PROBE], cwd=hub.course)
    assert timeout_read(result.stdout) == 77, result.stderr


@pytest.mark.parametrize("role", ["student", "staff"])
def test_every_server_reads_the_change(hub, role):
    name, password = ((hub.students[0], PASSWORD_STUDENT) if role == "student"
                      else (hub.instructor, PASSWORD_INSTRUCTOR))
    user = HubUser(hub, name).log_in_and_start_server(password)
    try:
        assert timeout_read(execute(user, start_kernel(user), PROBE)) == 77
    finally:
        user.api("DELETE", f"/hub/api/users/{name}/server")


def test_the_formgrader_reads_the_change(hub):
    (service,) = [p for p in psutil.process_iter(["environ"])
                  if (p.info["environ"] or {}).get("JUPYTERHUB_SERVICE_NAME") == "primer"
                  and (p.info["environ"] or {}).get("PRIMER_EXCHANGE_ROOT") == str(hub.exchange)]
    env = {key: value for key, value in service.info["environ"].items()
           if key in ("JUPYTER_CONFIG_PATH", "PRIMER_EXCHANGE_ROOT")}
    result = run_as(hub.instructor, [sys.executable, "-c", PROBE], cwd=Path(service.cwd()), env=env)
    assert timeout_read(result.stdout) == 77, result.stderr
    assert os.pathsep in env["JUPYTER_CONFIG_PATH"]  # its role's settings, then the course's
