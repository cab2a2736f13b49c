"""The exchange with honest students: what nbgrader does, we do.

A student who submits twice keeps both submissions and the instructor grades
the latest; collect chooses the same submissions as stock nbgrader (latest,
due-date rule, --student); feedback is released under the same names.
tests/test_exchange_attacks.py has the dishonest ones.
"""
from __future__ import annotations

import datetime
import getpass
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import notebook_hash

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course
from primer.course import venv_path
from primer.accounts import ensure_user, remove_user
import nbformat

pytestmark = pytest.mark.root  # real Unix accounts submit and collect


def test_both_submissions_are_kept_and_the_latest_is_collected(tmp_path):
    course = tiny_course(tmp_path / "course")
    exchange, home = tmp_path / "exchange", tmp_path / "student"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    home.mkdir()
    env = {**os.environ, "PATH": venv_path()}
    flags = [f"--Exchange.root={exchange}", "--CourseDirectory.course_id=primer",
             "--ExchangeFactory.submit=primer.exchange.PrivateExchangeSubmit",
             f"--ExchangeFactory.collect={SAFE_COLLECT}"]

    def nbgrader(*args, cwd):
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args, *flags], cwd=cwd, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    nbgrader("release_assignment", ASSIGNMENT, cwd=course.root)
    nbgrader("fetch_assignment", ASSIGNMENT, cwd=home)
    fetched = home / "primer" / ASSIGNMENT / NOTEBOOK  # path_includes_course
    release = nbformat.read(fetched, as_version=4)
    nbformat.write(answered(release, square="return 0"), fetched)
    nbgrader("submit", ASSIGNMENT, cwd=home)
    time.sleep(1.1)  # submissions are told apart by their timestamp
    nbformat.write(answered(release), fetched)
    nbgrader("submit", ASSIGNMENT, cwd=home)

    inbound = sorted((exchange / "primer" / "inbound").iterdir())
    student = getpass.getuser()
    mine = [p for p in inbound if p.name.startswith(f"{student}+{ASSIGNMENT}+")]
    assert len(mine) == 2, f"both submissions must stay in the exchange: {inbound}"

    nbgrader("collect", ASSIGNMENT, cwd=course.root)
    course.autograde(ASSIGNMENT)
    assert course.grades(ASSIGNMENT, student)["test_square"] == (2.0, 2.0)  # the latest one
    first = nbformat.read(mine[0] / NOTEBOOK, as_version=4)
    assert any("return 0" in cell.source for cell in first.cells), "the first submission is intact"


# --------------------------------------------------------------------------- same choice as nbgrader

STOCK_COLLECT = "nbgrader.exchange.default.collect.ExchangeCollect"
SAFE_COLLECT = "primer.exchange.SafeExchangeCollect"


@pytest.fixture(scope="module")
def two_students():
    """Two real Unix accounts: collect checks that each submission belongs to its student."""
    names = ["pt-pin-1", "pt-pin-2"]
    entries = [ensure_user(name) for name in names]
    yield entries
    for name in names:
        remove_user(name)


def _honest_exchange(root, students, now):
    """Submissions as nbgrader's Submit leaves them, made a few minutes apart."""
    inbound = root / "primer" / "inbound"
    inbound.mkdir(parents=True)
    ages = {students[0].pw_name: (300, 200, 100), students[1].pw_name: (250, 50)}
    for student in students:
        for age in ages[student.pw_name]:
            stamp = (now - datetime.timedelta(seconds=age)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
            folder = inbound / f"{student.pw_name}+{ASSIGNMENT}+{stamp}+r{age}"
            folder.mkdir()
            (folder / "timestamp.txt").write_text(stamp)
            (folder / NOTEBOOK).write_text(json.dumps({"age": age}))
            for path in (folder, folder / "timestamp.txt", folder / NOTEBOOK):
                os.chown(path, student.pw_uid, student.pw_gid)


@pytest.fixture(scope="module")
def honest_class(tmp_path_factory, two_students):
    """One course and one honest exchange, with a due date between the submissions."""
    root = tmp_path_factory.mktemp("honest")
    course = tiny_course(root / "course")
    now = datetime.datetime.now(datetime.timezone.utc)
    _honest_exchange(root / "exchange", two_students, now)
    with Gradebook(f"sqlite:///{course.root}/gradebook.db", "primer") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=(
            now - datetime.timedelta(seconds=150)).replace(tzinfo=None))
    return course, root / "exchange"


@pytest.mark.parametrize("args", [[], ["--before-duedate"], ["--student=pt-pin-2"],
                                  ["--before-duedate", "--student=pt-pin-1"]])
def test_collect_chooses_the_same_submissions_as_nbgrader(honest_class, args):
    """On an honest exchange: the latest, the due-date rule and --student, as stock nbgrader."""
    course, exchange = honest_class
    chosen = {}
    for collect in (STOCK_COLLECT, SAFE_COLLECT):
        folder = "-".join([collect.rsplit(".", 1)[1], *args]).replace("=", "-")
        course.nbgrader("collect", ASSIGNMENT, *args, f"--Exchange.root={exchange}",
                        f"--ExchangeFactory.collect={collect}",
                        f"--CourseDirectory.submitted_directory={folder}")
        chosen[collect] = {
            student.name: (json.loads((student / ASSIGNMENT / NOTEBOOK).read_text())["age"],
                           (student / ASSIGNMENT / "timestamp.txt").read_text())
            for student in sorted((course.root / folder).iterdir())}
    assert chosen[SAFE_COLLECT] == chosen[STOCK_COLLECT]
    expected = {"pt-pin-1": 100, "pt-pin-2": 50}
    if "--before-duedate" in args:
        expected = {"pt-pin-1": 200, "pt-pin-2": 250}
    for option in args:
        if option.startswith("--student="):
            expected = {option.split("=")[1]: expected[option.split("=")[1]]}
    assert {name: age for name, (age, _) in chosen[SAFE_COLLECT].items()} == expected



def test_collect_before_the_due_date_counts_a_students_extension(tmp_path, two_students):
    """--before-duedate takes each student's own due date: the class's plus `primer extend`'s."""
    course = tiny_course(tmp_path / "course")
    now = datetime.datetime.now(datetime.timezone.utc)
    _honest_exchange(tmp_path / "exchange", two_students, now)
    due = (now - datetime.timedelta(seconds=150)).replace(tzinfo=None)
    with Gradebook(f"sqlite:///{course.root}/gradebook.db", "primer") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=due)
        gradebook.update_or_create_student("pt-pin-1")
    until = (due + datetime.timedelta(seconds=120)).strftime("%Y-%m-%d %H:%M:%S UTC")
    extended = subprocess.run([sys.executable, "-m", "primer.cli", "extend", ASSIGNMENT, "pt-pin-1",
                               "--until", until, "--course", str(course.root)],
                              capture_output=True, text=True, env={**os.environ, "PATH": venv_path()})
    assert extended.returncode == 0, extended.stderr
    course.nbgrader("collect", ASSIGNMENT, "--before-duedate", f"--Exchange.root={tmp_path / 'exchange'}",
                    f"--ExchangeFactory.collect={SAFE_COLLECT}")
    ages = {student.name: json.loads((student / ASSIGNMENT / NOTEBOOK).read_text())["age"]
            for student in (course.root / "submitted").iterdir()}
    assert ages == {"pt-pin-1": 100, "pt-pin-2": 250}  # without the extension pt-pin-1's is 200

def test_feedback_is_released_as_nbgrader_does_but_never_through_a_link(tmp_path, two_students):
    course = tiny_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o777)
    honest, linked = (student.pw_name for student in two_students)
    for student in (honest, linked):
        folder = course.root / "feedback" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "tiny.html").write_text(f"<p>feedback for {student}</p>")
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    (course.root / "feedback" / honest / ASSIGNMENT / "submission_secret.txt").write_text("s3cr3t")
    (course.root / "feedback" / linked / ASSIGNMENT / "submission_secret.txt").symlink_to(
        course.root / "nbgrader_config.py")  # a student's secret that was a link
    released = {}
    for cls in ("nbgrader.exchange.default.release_feedback.ExchangeReleaseFeedback",
                "primer.exchange.SafeExchangeReleaseFeedback"):
        output = course.nbgrader("release_feedback", ASSIGNMENT, f"--Exchange.root={exchange}",
                                 f"--ExchangeFactory.release_feedback={cls}")
        outbound = exchange / "primer" / "feedback"
        released[cls] = {p.name: p.read_text() for p in outbound.iterdir()}
        shutil.rmtree(outbound)
    stock, safe = released.values()
    honest_hash = notebook_hash(secret="s3cr3t", notebook_id="tiny")
    assert safe == {f"{honest_hash}.html": f"<p>feedback for {honest}</p>"}
    assert stock[f"{honest_hash}.html"] == safe[f"{honest_hash}.html"]
    assert len(stock) == 2, "stock nbgrader follows the link and releases it too"
    assert "submission_secret.txt is a symbolic link" in output.stdout + output.stderr
