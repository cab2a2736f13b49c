"""Grading on submit (primer/queue) on a real hub with real students.

A hub of this module's own (the queue's settings are read when the hub
starts) with the queue service; the instructor turns grading on with the one
command. Each test submits through the students' own servers (nbgrader's
submit, as the Assignments panel does) and reads the feedback the way the
Fetch Feedback button does. In order:

* submit -> provisional feedback: which tests passed, the score, hidden tests
  hidden, the written answer "graded by the team"; the gradebook holds what
  ``nbgrader autograde`` would;
* resubmit -> new feedback beside the old;
* over the per-student limit -> deferred (the student is told), graded later;
* hostile submissions (fork bomb-ish + os._exit, an endless loop) do not stall
  the queue or the hub; a forged inbound entry is refused; students cannot see
  the status page;
* the hub is stopped mid-queue and started again: nothing lost, nothing
  recorded twice.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests
from nbgrader.api import Gradebook

from conftest import REPO, source_notebook
from nbgrader_course import solved_release
from primer.accounts import run_as
from primer.testing.hub import PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, CourseHub, HubUser, wait_for

pytestmark = [pytest.mark.hub, pytest.mark.root]
ASSIGNMENT = "01_prerequisites"
NOTEBOOK = source_notebook(ASSIGNMENT).name
PER_HOUR = 2
WINDOW = 100  # seconds the per-student limit counts over (an hour on a real hub)
TIMEOUT = 90  # seconds one grading may take


@pytest.fixture(scope="module")
def hub():
    if os.geteuid() != 0:
        pytest.fail("the queue tests create real Unix users and need root: run `sudo make test`")
    settings = {"PRIMER_IDLE_TIMEOUT": "0", "PRIMER_QUEUE_WORKERS": "2",
                "PRIMER_QUEUE_PER_HOUR": str(PER_HOUR), "PRIMER_QUEUE_WINDOW": str(WINDOW),
                "PRIMER_QUEUE_TIMEOUT": str(TIMEOUT)}
    with CourseHub(REPO, prefix="pq", students=6, **settings).running() as course_hub:
        yield course_hub


@pytest.fixture(scope="module")
def users(hub):
    return {}


def user(hub, users, index: int) -> HubUser:
    """Student ``index`` logged in, server started, assignment fetched (once per module)."""
    name = hub.students[index]
    if name not in users:
        users[name] = HubUser(hub, name).log_in_and_start_server(PASSWORD_STUDENT)
        users[name].assignment_action("fetch", ASSIGNMENT)
    return users[name]


def fetched_path(student: HubUser) -> Path:
    return Path(pwd.getpwnam(student.name).pw_dir) / "primer" / ASSIGNMENT / NOTEBOOK


def submit(student: HubUser, notebook) -> str:
    """Save ``notebook`` as the student's assignment and submit it; the inbound entry's time."""
    saved = student.server("PUT", f"api/contents/primer/{ASSIGNMENT}/{NOTEBOOK}",
                           json={"type": "notebook", "format": "json", "content": notebook})
    assert saved.status_code == 200, saved.text
    answer = student.assignment_action("submit", ASSIGNMENT)
    assert answer["success"], answer
    return answer


def answered(student: HubUser, answers: dict[str, str] | None = None):
    """The release with every solution filled in, then ``answers`` (grade_id -> code) on top."""
    notebook = solved_release(fetched_path(student), source_notebook(ASSIGNMENT))
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def feedback(student: HubUser) -> dict[str, str]:
    """Fetch Feedback, then timestamp folder -> the feedback page, as the student sees them."""
    student.assignment_action("fetch_feedback", ASSIGNMENT)
    folder = student.server("GET", f"api/contents/primer/{ASSIGNMENT}/feedback")
    if folder.status_code == 404:
        return {}
    pages = {}
    for entry in folder.json()["content"]:
        page = student.server("GET", f"api/contents/{entry['path']}/{NOTEBOOK.replace('.ipynb', '.html')}")
        if page.status_code == 200:
            pages[entry["name"]] = page.json()["content"]
    return pages


def wait_for_feedback(student: HubUser, count: int, timeout: float = 240) -> dict[str, str]:
    """Wait until ``count`` submissions have real (not notice) feedback and the journal
    says so; return all pages. The feedback is released a moment before the journal
    records the grading as finished, so both are waited for."""
    def ready():
        rows = rows_of(student.hub, student.name)
        failed = [r for r in rows if r["state"] == "failed"]
        assert not failed, f"the queue failed: {failed}"
        if sum(r["state"] == "graded" for r in rows) < count:
            return None
        pages = feedback(student)
        graded = [p for p in pages.values() if "provisional feedback" in p]
        return pages if len(graded) >= count else None
    try:
        return wait_for(ready, timeout, f"{count} feedback page(s) for {student.name}", every=2)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{diagnosis(student.hub)}") from None


def diagnosis(hub: CourseHub) -> str:
    """The queue's journal and log lines, for a failure message."""
    try:
        rows = journal(hub)
    except sqlite3.Error as error:
        rows = [f"no journal: {error}"]
    lines = [line for line in hub.log().splitlines() if "grading-queue" in line or "Traceback" in line]
    logs = sorted((hub.runtime / "queue" / "logs").glob("*.log"))
    tails = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs[-3:])
    return ("journal:\n" + "\n".join(map(str, rows)) + "\nqueue log:\n" + "\n".join(lines[-60:])
            + "\ngrading logs:\n" + tails)


def page_score(page: str) -> float:
    match = re.search(r"Provisional score: ([\d.]+) /", page)
    assert match, page[:2000]
    return float(match.group(1))


def journal(hub: CourseHub) -> list[dict]:
    with sqlite3.connect(f"file:{hub.runtime / 'queue' / 'journal.sqlite'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM submissions ORDER BY id")]


def rows_of(hub: CourseHub, student: str) -> list[dict]:
    return [r for r in journal(hub) if r["student"] == student]


def primer_queue(hub: CourseHub, *args: str) -> subprocess.CompletedProcess:
    primer = Path(sys.executable).parent / "primer"
    return subprocess.run([str(primer), "queue", *args], env={**hub.env}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def gradebook_scores(hub: CourseHub, student: str) -> tuple[float, float]:
    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        grades = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
        return sum(g.auto_score or 0 for g in grades), sum(g.max_score for g in grades)


# --------------------------------------------------------------------------- the tests

def test_submit_then_provisional_feedback_appears(hub, users):
    status = primer_queue(hub, "status")
    assert "grading on submit: no assignment" in status.stdout, status.stdout + status.stderr
    enabled = primer_queue(hub, "enable", ASSIGNMENT)
    assert enabled.returncode == 0 and "on for 01_prerequisites" in enabled.stdout, enabled.stderr

    student = user(hub, users, 0)
    started = time.monotonic()
    submit(student, answered(student))
    pages = wait_for_feedback(student, 1)
    seconds = time.monotonic() - started
    (page,) = pages.values()
    assert "Provisional score: 14.0 / 14.0 on the tests" in page, page[:3000]
    assert "9 of 9 tests passed" in page
    assert "BEGIN HIDDEN TESTS" not in page and "hidden test" in page  # placeholders, no source
    assert "graded by the team" in page  # the written answer
    # The gradebook holds what nbgrader autograde records; the formgrader sees it.
    assert gradebook_scores(hub, student.name) == (14.0, 14.0)
    assert (hub.course / "submitted" / student.name / ASSIGNMENT / NOTEBOOK).is_file()
    assert (hub.course / "autograded" / student.name / ASSIGNMENT / NOTEBOOK).is_file()
    assert pwd.getpwuid((hub.course / "gradebook.db").stat().st_uid).pw_name == hub.instructor
    (row,) = rows_of(hub, student.name)
    assert row["state"] == "graded" and row["recorded"] == 1 and row["score"] == 14.0, row
    print(f"Submit -> feedback fetched: {seconds:.1f} s")


def test_resubmit_gives_new_feedback_and_keeps_the_old(hub, users):
    student = user(hub, users, 0)
    time.sleep(1.1)  # nbgrader names submissions to the second
    submit(student, answered(student, {"voxel-volume": "raise NotImplementedError()"}))
    pages = wait_for_feedback(student, 2)
    assert len(pages) == 2, list(pages)
    old, new = (pages[name] for name in sorted(pages))
    assert "Provisional score: 14.0 / 14.0" in old
    assert "9 of 9 tests passed" not in new and "failed" in new, new[:3000]
    earned = page_score(new)
    assert earned < 14 and gradebook_scores(hub, student.name) == (earned, 14.0)  # the latest counts


def test_over_the_limit_is_deferred_and_the_student_told(hub, users):
    student = user(hub, users, 0)
    time.sleep(1.1)
    submit(student, answered(student))
    def deferred():
        rows = rows_of(hub, student.name)
        return len(rows) == 3 and rows[-1]["state"] == "deferred" and rows[-1]
    row = wait_for(deferred, 60, "the third submission deferred")
    assert "graded after" in row["notes"], row
    pages = feedback(student)
    notices = [p for p in pages.values() if "will be graded a little later" in p]
    assert len(notices) == 1, list(pages.values())[-1][:1000]
    # graded later, not lost: checked at the end of the module (the window passes meanwhile)


def finished(hub: CourseHub, student: HubUser) -> dict | None:
    rows = rows_of(hub, student.name)
    return rows and rows[-1]["state"] in ("graded", "failed") and rows[-1]


def test_hostile_submissions_do_not_stall_the_queue_or_the_hub(hub, users):
    crasher, looper, honest = (user(hub, users, i) for i in (1, 2, 3))
    # a fork bomb (bounded by the sandbox's process limit), then the kernel quits at once
    fork_bomb = ("import os, time\nchildren = 0\nfor _ in range(5000):\n    try:\n"
                 "        if os.fork() == 0:\n            time.sleep(600)\n            os._exit(0)\n"
                 "        children += 1\n    except OSError:\n        break\nprint(children)")
    submit(crasher, answered(crasher, {"voxel-volume": fork_bomb, "slice-means": "import os\nos._exit(3)"}))
    submit(looper, answered(looper, {"voxel-volume": "while True:\n    pass"}))
    crashed = wait_for(lambda: finished(hub, crasher), 120, "the crashing submission finished")
    # explained in words (the forked copies garble the kernel's messages), not "see the log"
    assert crashed["state"] == "failed" and "autograde failed" not in crashed["notes"], crashed
    print(f"fork bomb + os._exit: failed after {crashed['finished_at'] - crashed['started_at']:.1f} s:",
          crashed["notes"])
    assert [r["state"] for r in rows_of(hub, looper.name)] == ["grading"], rows_of(hub, looper.name)
    submit(honest, answered(honest))
    latencies = []

    def honest_done():
        started = time.monotonic()
        assert requests.get(f"{hub.url}/hub/api/", timeout=10).status_code == 200
        latencies.append(time.monotonic() - started)
        return [r for r in rows_of(hub, honest.name) if r["state"] == "graded"]
    (graded,) = wait_for(honest_done, 180, "the honest submission graded", every=1)
    # graded beside the endless loop, not after it: it started while the loop still ran
    (loop_row,) = rows_of(hub, looper.name)
    assert loop_row["state"] == "grading" or loop_row["finished_at"] > graded["started_at"], loop_row
    assert max(latencies) < 3, f"the hub answered in up to {max(latencies):.1f} s while grading"
    print(f"hub API while grading an endless loop: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")

    looped = wait_for(lambda: finished(hub, looper), TIMEOUT + 120, "the endless loop stopped")
    assert looped["state"] == "failed" and f"longer than {TIMEOUT} s" in looped["notes"], looped
    for student in (crasher, looper):  # told, through Fetch Feedback
        assert any("could not be graded automatically" in p for p in feedback(student).values())
    # nothing of theirs is left running: the queue's sandbox accounts are empty again
    from primer.accounts import processes_of
    for slot in (50, 51):
        try:
            uid = pwd.getpwnam(f"primer-sandbox{slot}").pw_uid
        except KeyError:
            continue
        wait_for(lambda: processes_of(uid) == [], 10, f"primer-sandbox{slot}'s processes gone")


def test_a_forged_inbound_entry_is_refused_and_flagged(hub, users):
    forger, victim = user(hub, users, 1), hub.students[4]
    inbound = hub.exchange / "primer" / "inbound"
    name = f"{victim}+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+forged"
    script = (f"import os; p = {str(inbound / name)!r}; os.mkdir(p); "
              "open(os.path.join(p, 'timestamp.txt'), 'w').write('2099-01-01 00:00:00.000000 UTC')")
    run_as(forger.name, [sys.executable, "-c", script], cwd=Path("/"))
    row = wait_for(lambda: [r for r in journal(hub) if r["entry"] == name], 30, "the forged entry seen")[0]
    assert row["state"] == "refused" and "forged" in row["notes"], row
    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
        assert victim not in [s.id for s in gradebook.students]


def test_the_status_page_is_for_the_staff_only(hub, users):
    staff = HubUser(hub, hub.instructor)
    assert staff.login(PASSWORD_INSTRUCTOR).status_code == 200
    staff.create_token()
    status = staff.api("GET", "/services/grading-queue/api/status")
    assert status.status_code == 200, status.text[:500]
    body = status.json()
    assert body["enabled"] == [ASSIGNMENT]
    assert body["counts"].get("graded", 0) >= 3 and body["counts"].get("failed", 0) >= 2, body["counts"]
    assert body["wait_seconds"]["count"] >= 5 and body["total_seconds"]["median"] > 0
    page = staff.session.get(f"{hub.url}/services/grading-queue/", timeout=60)  # OAuth, as a browser
    assert page.status_code == 200 and "Grading queue" in page.text, page.text[:500]
    assert "refused" in page.text and "forged" in page.text
    student = user(hub, users, 0)
    refused = student.api("GET", "/services/grading-queue/api/status")
    assert refused.status_code == 403, refused.status_code


@pytest.mark.browser
def test_the_student_sees_provisional_feedback_in_a_browser(hub):
    """Submit in JupyterLab's Assignments panel, press Fetch Feedback, read the provisional page."""
    from browser_hub import Screenshots, browser, chromium_missing, hub_login

    problem = chromium_missing()
    if problem:
        pytest.fail(problem)
    name = hub.students[5]
    shots = Screenshots("test_the_student_sees_provisional_feedback_in_a_browser")
    with browser() as chromium:
        page = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        try:
            hub_login(page, hub.url, name, PASSWORD_STUDENT)
            page.wait_for_url(f"**/user/{name}/lab**", timeout=120_000)
            page.wait_for_selector("#jp-main-dock-panel")
            page.click("#jp-MainMenu >> text=Nbgrader")
            page.click(".lm-Menu-itemLabel:has-text('Assignment List')")
            page.click(f"#released_assignments_list .list_item:has-text('{ASSIGNMENT}') "
                       "button:has-text('Fetch')")
            page.wait_for_selector(f"#fetched_assignments_list .list_item:has-text('{ASSIGNMENT}')")
            page.click("#fetched_assignments_list button:has-text('Submit')")
            page.wait_for_selector(f"#submitted_assignments_list .list_item:has-text('{ASSIGNMENT}')")
            shots(page, "submitted")
            # the unanswered notebook is graded in a little while: Fetch Feedback until it is there
            deadline = time.monotonic() + 240
            while True:
                rows = rows_of(hub, name)
                if rows and rows[-1]["state"] in ("graded", "failed"):
                    break
                assert time.monotonic() < deadline, f"not graded in time: {rows}"
                time.sleep(2)
            assert rows[-1]["state"] == "graded", rows
            page.click("#refresh_assignments_list")
            page.click("#submitted_assignments_list button:has-text('Fetch Feedback')")
            link = page.locator("#submitted_assignments_list a:has-text('view feedback')")
            link.wait_for()
            link.click()
            page.dblclick(".jp-DirListing-item:has-text('prerequisites.html')")
            viewer = page.frame_locator(".jp-HTMLViewer iframe")
            viewer.locator("text=/provisional feedback/").first.wait_for()
            text = viewer.locator("body").inner_text()
            shots(page, "provisional-feedback")
            assert "0 of 9 tests passed" in text and "Provisional score: 0.0 / 14.0" in text, text[:800]
            assert "graded by the team" in text and "BEGIN HIDDEN TESTS" not in text
        except Exception:
            shots(page, "failure")
            raise


def test_the_hub_restarts_mid_queue_nothing_lost_nothing_twice(hub, users):
    primer_queue(hub, "enable", ASSIGNMENT)  # (already on when the module runs in order)
    first, second = user(hub, users, 3), user(hub, users, 4)
    submit(first, answered(first))
    submit(second, answered(second, {"threshold": "raise NotImplementedError()"}))
    wait_for(lambda: [r for r in journal(hub) if r["state"] == "grading"
                      and r["student"] in (first.name, second.name)], 60, "a grading under way")
    assert hub.stop(settle=10) == []
    hub.start()
    for student in (first, second):
        student.start_server()
    for student, full in ((first, True), (second, False)):
        last = wait_for(lambda: finished(hub, student), 240, f"{student.name} graded after the restart")
        if last["state"] != "graded":
            print(last, diagnosis(hub))
        assert last["state"] == "graded" and last["recorded"] == 1, last["notes"]
        earned, _ = gradebook_scores(hub, student.name)
        assert (earned == 14.0) == full, earned
    restarted = [r for r in journal(hub) if "the hub stopped" in r["notes"]]
    assert restarted, "no grading was interrupted by the restart"
    assert len(wait_for_feedback(second, 1)) >= 1
    entries = [r["entry"] for r in journal(hub)]
    assert len(entries) == len(set(entries))


def test_the_deferred_submission_was_graded_later(hub, users):
    student = users[hub.students[0]]
    student.start_server()  # stopped with the hub in the test before
    def third_graded():
        rows = rows_of(hub, student.name)
        return len(rows) == 3 and rows[-1]["state"] == "graded" and rows
    wait_for(third_graded, WINDOW + 240, "the deferred submission graded", every=2)
    pages = wait_for_feedback(student, 3)
    assert len(pages) == 3
    assert gradebook_scores(hub, student.name) == (14.0, 14.0)
