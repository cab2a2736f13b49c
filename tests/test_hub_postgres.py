"""PostgreSQL, optional: the hub's database and the nbgrader gradebook on a real server.

The test starts its own PostgreSQL (Debian's, as the postgres user, in a
temporary folder, on a free port of 127.0.0.1), runs a hub with
PRIMER_HUB_DB_URL and PRIMER_GRADEBOOK_URL pointing at it, and stops the server
by its PID afterwards.
"""
from __future__ import annotations

import csv
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy

from conftest import REPO
from primer.accounts import is_running, run_as
from primer.testing.hub import PASSWORD_STUDENT, CourseHub, HubUser, free_port_block, wait_for

pytestmark = [pytest.mark.hub, pytest.mark.root]
ASSIGNMENT = "01_prerequisites"


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql "
                    "(deploy/debian-packages.txt lists it)")
    return found[-1].parent


class Postgres:
    """A throw-away PostgreSQL server owned by the postgres user."""

    def __init__(self):
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="primer-pg-"))
        self.port = free_port_block(1)
        self.data = self.folder / "data"
        entry = pwd.getpwnam("postgres")
        os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.pid: int | None = None

    def run(self, *argv: str) -> str:
        entry = pwd.getpwnam("postgres")
        result = subprocess.run(argv, user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                                cwd=self.folder, capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
        return result.stdout

    def start(self) -> None:
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                 "--no-sync")
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
                 "-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        for database in ("jupyterhub", "gradebook"):
            self.run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                     "-U", "postgres", database)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.pid and is_running(self.pid):
            os.kill(self.pid, signal.SIGINT)  # "fast" shutdown
            try:
                wait_for(lambda: not is_running(self.pid), 30, "PostgreSQL stopped", every=0.1)
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    if os.geteuid() != 0:
        pytest.fail("the hub tests need root: run `sudo make test`")
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        assert not is_running(server.pid)


@pytest.fixture(scope="module")
def hub(postgres):
    hub = CourseHub(REPO, prefix="pg", students=1, PRIMER_HUB_DB_URL=postgres.url("jupyterhub"),
                    PRIMER_GRADEBOOK_URL=postgres.url("gradebook"), PRIMER_IDLE_TIMEOUT="0")
    with hub.running():
        yield hub


def test_the_hub_keeps_its_users_in_postgresql(hub, postgres):
    student = HubUser(hub, hub.students[0])
    assert student.login(PASSWORD_STUDENT).status_code == 200
    engine = sqlalchemy.create_engine(postgres.url("jupyterhub"))
    with engine.connect() as connection:
        names = {row[0] for row in connection.execute(sqlalchemy.text("SELECT name FROM users"))}
        groups = {row[0] for row in connection.execute(sqlalchemy.text("SELECT name FROM groups"))}
    engine.dispose()
    assert names == {hub.instructor, hub.students[0]}
    assert groups == {"formgrade-primer", "nbgrader-primer"}
    assert not (hub.runtime / "hub" / "jupyterhub.sqlite").exists()


def test_the_gradebook_is_in_postgresql(hub, postgres):
    from nbgrader.api import Gradebook

    # `primer hub` generated the released assignment as the instructor, with the
    # gradebook URL from their nbgrader config: its grade cells are in PostgreSQL.
    with Gradebook(postgres.url("gradebook")) as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        assert assignment.max_score > 0
        assert [nb.name for nb in assignment.notebooks] == ["prerequisites"]
    assert not (hub.course / "gradebook.db").exists()
    # and nbgrader, run by the instructor in the course, reads it from there
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "db", "assignment", "list"],
        cwd=hub.course, user=hub.instructor, capture_output=True, text=True,
        env={"HOME": pwd.getpwnam(hub.instructor).pw_dir, "PATH": os.environ["PATH"]})
    assert result.returncode == 0, result.stderr
    assert ASSIGNMENT in result.stdout + result.stderr


def test_primer_export_reads_the_gradebook_nbgrader_is_configured_with(hub, postgres, tmp_path):
    """`primer export`, run by the instructor in the course, exports PostgreSQL's gradebook."""
    from nbgrader.api import Gradebook

    student = hub.students[0]
    with Gradebook(postgres.url("gradebook")) as gradebook:
        gradebook.update_or_create_student(student, first_name="Pat", last_name="Postgres")
        max_score = gradebook.find_assignment(ASSIGNMENT).max_score
    exports = hub.course / "exports"
    result = run_as(hub.instructor, [sys.executable, "-m", "primer.cli", "export"], cwd=hub.course,
                    check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(exports / "grades_lms.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["student_id"], r["first_name"], r["assignment"], r["status"], float(r["max_score"]))
            for r in rows] == [(student, "Pat", ASSIGNMENT, "missing", max_score)]
    assert not (hub.course / "gradebook.db").exists(), "export made a SQLite gradebook of its own"
