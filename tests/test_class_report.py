"""`primer report`: a class graded by `primer autograde -j 2` (the usual path), its report's numbers
against the gradebook read by hand here, its figures, and students' bytes escaped.

Also the progress output of `primer autograde` and `primer release`: a tqdm bar on a terminal
(a real pseudo-terminal, the pty module), whole lines without carriage returns in a pipe.
"""
from __future__ import annotations

import base64
import datetime
import fcntl
import html
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearSolutions

from conftest import REPO
from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.course import venv_path
from primer.feedback_survey import RATINGS_TAG

pytestmark = pytest.mark.root  # the sandbox's accounts (primer-sandboxN)

INJECTED = "<script>alert('pwned')</script>"
NAME_INJECTED = "<img src=x onerror=alert(1)>"
STAMPS = {"alice": "2026-11-29 09:00:00", "bob": "2026-11-29 10:30:00", "carol": "2026-11-29 11:00:00",
          "dave": "2026-11-30 08:00:00", "eve": "2026-11-30 09:15:00"}
DUE = datetime.datetime(2026, 11, 29, 12, 0)
SURVEY = REPO / "source" / "07_feedback" / "feedback.ipynb"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "primer.cli", *args]


def _environment() -> dict[str, str]:
    return {**os.environ, "PATH": venv_path(), "COLUMNS": "100"}


def _survey(ratings: dict[str, int]):
    """The survey as a student fills it in (the student version, ratings set)."""
    notebook = nbformat.read(SURVEY, as_version=4)
    notebook, _ = ClearSolutions().preprocess(notebook, {"language": "python"})
    (cell,) = [c for c in notebook.cells if RATINGS_TAG in c.metadata.get("tags", [])]
    for block, value in ratings.items():
        cell.source = cell.source.replace(f'"{block}": None,', f'"{block}": {value},', 1)
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Five students graded by `primer autograde -j 2`, its output sent to a pipe:
    alice right, bob and carol each fail a hidden test, dave both, eve's answer raises an
    exception whose message is HTML; due at 12:00 on 29 November (dave and eve late)."""
    course = tiny_course(tmp_path_factory.mktemp("report"))
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    answers = {"alice": {}, "bob": {"square": "return x * abs(x)"}, "carol": {"cube": "return abs(x) ** 3"},
               "dave": {"square": "return x * abs(x)", "cube": "return abs(x) ** 3"},
               "eve": {"square": f"raise ValueError({INJECTED!r})"}}
    for student, body in answers.items():
        folder = write_submission(course.root / "submitted" / student / ASSIGNMENT, answered(release, **body))
        (folder / "timestamp.txt").write_text(f"{STAMPS[student]}.000000 UTC")
    for student, rating in (("alice", 5), ("bob", 3)):
        folder = course.root / "submitted" / student / "07_feedback"
        folder.mkdir(parents=True)
        nbformat.write(_survey({"setup": rating, "overall": rating - 1}), folder / "feedback.ipynb")
    run = subprocess.run(_command("autograde", ASSIGNMENT, "-j", "2", "--course", str(course.root)),
                         capture_output=True, text=True, env=_environment(), cwd="/", timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student("eve", first_name=NAME_INJECTED, last_name="Doe")
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
    report = subprocess.run(_command("report", ASSIGNMENT, "--course", str(course.root)),
                            capture_output=True, text=True, env=_environment(), timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    page = (course.root / "exports" / f"report-{ASSIGNMENT}.html").read_text()
    return {"course": course, "autograde": run, "page": page}


def by_hand(course) -> dict:
    """Totals and per-question statistics from the gradebook, computed here with numpy."""
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        items: dict[str, dict[str, float]] = {}
        maxima: dict[str, float] = {}
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    items.setdefault(grade.name, {})[submission.student.id] = grade.score
                    maxima[grade.name] = grade.max_score
    students = sorted(next(iter(items.values())))
    totals = {s: sum(items[q][s] for q in items) for s in students}
    stats = {}
    for question, scores in items.items():
        x = np.array([scores[s] for s in students])
        rest = np.array([totals[s] for s in students]) - x
        r = np.corrcoef(x, rest)[0, 1] if x.std() > 0 and rest.std() > 0 else float("nan")
        stats[question] = {"mean": x.mean(), "share_full": (x >= maxima[question]).mean(),
                           "discrimination": r, "max": maxima[question]}
    return {"totals": totals, "questions": stats}


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The cells of each row of the table ``table_id`` in the report, as text."""
    table = re.search(rf"<table id=\"{table_id}\">(.*?)</table>", page, re.S).group(1)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td" in row]


def test_the_report_numbers_are_the_gradebooks(graded):
    expected = by_hand(graded["course"])
    assert expected["totals"] == {"alice": 3, "bob": 1, "carol": 2, "dave": 0, "eve": 1}  # the class as built
    students = {row[0]: row for row in table_rows(graded["page"], "students-table")}
    assert {s: float(row[3]) for s, row in students.items()} == expected["totals"]
    assert [s for s, row in students.items() if row[4] == "late"] == ["dave", "eve"]
    rows = {row[1]: row for row in table_rows(graded["page"], "question-table")}
    assert sorted(rows) == sorted(expected["questions"]) == ["test_cube", "test_square", "why"]
    for question, stats in expected["questions"].items():
        row = rows[question]
        assert float(row[3]) == stats["max"]
        assert row[4] == f"{stats['mean']:.2f}", (question, row)
        assert row[5] == f"{stats['share_full'] * 100:.0f}%", (question, row)
        want = "-" if np.isnan(stats["discrimination"]) else f"{stats['discrimination']:.2f}"
        assert row[6] == want, (question, row)
    assert rows["test_square"][6] != "-"  # a real correlation, not only the blank case
    assert "2 of 5 submitted after their" in graded["page"]


def test_the_most_failed_tests_come_first_with_their_messages(graded):
    rows = table_rows(graded["page"], "failed-tests")
    assert [(r[1], r[2]) for r in rows] == [("test_square", "3"), ("test_cube", "2")]
    square = rows[0][3]
    assert "square must handle negative numbers (2)" in square  # the hidden test's message: staff only
    assert "ValueError: " in square


def test_each_figure_is_a_png_with_alt_text_from_the_data(graded):
    page = graded["page"]
    images = dict(re.findall(r'<img id="([^"]+)" src="data:image/png;base64,([^"]+)"', page))
    assert sorted(images) == ["questions", "score-distribution", "submissions-over-time", "survey"]
    for name, data in images.items():
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n"), name
        alt = html.unescape(re.search(rf'<img id="{name}" [^>]* alt="([^"]*)"', page).group(1))
        assert len(alt) > 40, (name, alt)
    alts = {n: html.unescape(re.search(rf'<img id="{n}" [^>]* alt="([^"]*)"', page).group(1)) for n in images}
    assert alts["score-distribution"].startswith(f"Histogram of 5 total scores for {ASSIGNMENT}: median 1 of 4")
    assert "hardest why (mean 0 of 1)" in alts["questions"]
    assert "due 2026-11-29 12:00 UTC, 2 submitted after their due date" in alts["submissions-over-time"]
    assert "highest setup (4.00), lowest overall (3.00)" in alts["survey"]


def test_students_bytes_are_escaped(graded):
    page = graded["page"]
    assert INJECTED not in page and NAME_INJECTED not in page
    assert html.escape(NAME_INJECTED) in page  # shown, as text
    assert "&lt;script&gt;alert(" in page
    assert len(re.findall(r"<script", page, re.I)) == 0


@pytest.mark.browser
def test_the_static_report_opens_in_chromium_with_its_figures(graded):
    """The file itself, opened from disk: every figure decoded and drawn; kept in artifacts/
    (report-static.html and its screenshot) for the closing note."""
    from browser_hub import ARTIFACTS, browser, chromium_missing

    problem = chromium_missing()
    if problem:
        pytest.fail(problem)
    folder = ARTIFACTS.parent
    folder.mkdir(parents=True, exist_ok=True)
    static = folder / "report-static.html"
    static.write_text(graded["page"])
    with browser() as chromium:
        page = chromium.new_context(viewport={"width": 1300, "height": 1000}).new_page()
        page.goto(static.as_uri())
        images = page.locator("img")
        assert images.count() == 4
        for index in range(4):
            assert images.nth(index).evaluate("i => i.complete && i.naturalWidth") > 100, index
        page.screenshot(path=str(folder / "report-static.png"), full_page=True)


def test_no_due_date_and_no_survey_are_said(tmp_path):
    course = tiny_course(tmp_path / "course")
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    write_submission(course.root / "submitted" / "alice" / ASSIGNMENT, answered(release))
    course.autograde(ASSIGNMENT)
    out = subprocess.run(_command("report", ASSIGNMENT, "--course", str(course.root), "--output", "-"),
                         capture_output=True, text=True, env=_environment(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "No due date is set for tiny." in out.stdout and "due date: none set" in out.stdout
    assert "No survey ratings collected yet." in out.stdout and "No test failed." in out.stdout
    wrong = subprocess.run(_command("report", "nope", "--course", str(course.root)),
                           capture_output=True, text=True, env=_environment(), timeout=300)
    assert wrong.returncode == 1 and "has no assignment 'nope' (it has: tiny)" in wrong.stderr
    (course.root / "gradebook.db").rename(course.root / "elsewhere.db")
    none = subprocess.run(_command("report", ASSIGNMENT, "--course", str(course.root)),
                          capture_output=True, text=True, env=_environment(), timeout=300)
    assert none.returncode == 1 and "has no gradebook yet" in none.stderr, none.stderr
    assert not (course.root / "gradebook.db").exists()  # not created empty


# -- progress ------------------------------------------------------------------

def run_in_terminal(argv: list[str], cwd: Path | str) -> str:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    # a terminal of 30 rows x 120 columns, like a window (a new pty has 0 x 0)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, cwd=cwd,
                               env=_environment(), close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


def test_autograde_shows_plain_progress_lines_in_a_pipe(graded):
    err = graded["autograde"].stderr
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"{ASSIGNMENT}: autograde: ")]
    assert len(lines) == 5, err
    assert lines[-1].startswith(f"{ASSIGNMENT}: autograde: 5/5 [")
    assert sorted(line.rsplit("] ", 1)[1] for line in lines) == [
        "alice graded", "bob graded", "carol graded", "dave graded", "eve graded"]


def test_autograde_shows_a_bar_on_a_terminal(graded):
    output = run_in_terminal(_command("autograde", ASSIGNMENT, "-j", "2", "--student", "alice",
                                      "--student", "bob", "--course", str(graded["course"].root)), "/")
    assert "\r" in output and re.search(r"100%\|[^\n]*\| 2/2 ", output), output[-2000:]
    assert f"{ASSIGNMENT}: autograde: 2/2 [" not in output  # not the plain lines


@pytest.fixture
def small_repo(tmp_path):
    """A course repository with one assignment, for `primer release`."""
    root = tmp_path / "repo"
    (root / "source").mkdir(parents=True)
    shutil.copytree(REPO / "source" / "00_setup", root / "source" / "00_setup")
    shutil.copy2(REPO / "nbgrader_config.py", root)
    return root


def test_release_shows_progress_on_a_terminal_and_lines_in_a_pipe(small_repo):
    piped = subprocess.run(_command("release"), cwd=small_repo, capture_output=True, text=True,
                           env=_environment(), timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr
    assert re.search(r"^release: nbgrader generate_assignment: 1/1 \[[^\]]+\] 00_setup$",
                     piped.stderr, re.M), piped.stderr
    assert (small_repo / "release" / "00_setup").is_dir()
    output = run_in_terminal(_command("release"), small_repo)
    assert "\r" in output and re.search(r"100%\|[^\n]*\| 1/1 ", output), output
