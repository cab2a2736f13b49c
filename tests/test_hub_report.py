"""The class report on the hub (/services/grading-queue/report/<assignment>): chromium opens it as
the instructor (figures drawn, screenshot in artifacts/report-page.png) and gets 403 as a student.

A real student's submission of 01_prerequisites is placed as `nbgrader collect` places it and
graded by the instructor with `primer autograde`, as their own Unix user."""
from __future__ import annotations

import os
import pwd
import sys

import nbformat
import pytest

from browser_hub import ARTIFACTS, browser, hub, hub_login  # noqa: F401 (hub: the fixture)
from conftest import REPO
from nbgrader_course import solved_release
from primer.accounts import chown_tree, run_as
from primer.testing.hub import PASSWORD_INSTRUCTOR, PASSWORD_STUDENT

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.root]
ASSIGNMENT = "01_prerequisites"
SCREENSHOTS = ARTIFACTS.parent  # artifacts/: the closing note's screenshots


def visit(page, url: str) -> int:
    """Open ``url`` once the log-in has left the login page; the status the page ended with
    (the OAuth redirects in between skipped; a 403 anywhere on the way counts)."""
    page.wait_for_url(lambda u: "/hub/login" not in u, wait_until="commit", timeout=120_000)
    with page.expect_response(lambda r: r.status == 403 or (r.url == url and r.status == 200),
                              timeout=120_000) as answer:
        page.goto(url, wait_until="commit")
    page.wait_for_load_state()
    return answer.value.status


def test_the_report_page_is_for_the_staff(hub, students):
    student = students[0]
    release = hub.course / "release" / ASSIGNMENT
    (notebook,) = release.glob("*.ipynb")
    folder = hub.course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(solved_release(notebook, REPO / "source" / ASSIGNMENT / notebook.name),
                   folder / notebook.name)
    (folder / "timestamp.txt").write_text("2026-12-01 09:30:00.000000 UTC")
    owner = pwd.getpwnam(hub.instructor)
    chown_tree(hub.course / "submitted", owner.pw_uid, owner.pw_gid)
    graded = run_as(hub.instructor, [sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT,
                                     "--student", student, "-j", "1"], cwd=hub.course,
                    env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange)})
    assert f"{student} " in graded.stdout and " graded " in graded.stdout, graded.stdout + graded.stderr

    url = f"{hub.url}/services/grading-queue/report/{ASSIGNMENT}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser() as chromium:
        page = chromium.new_context(viewport={"width": 1300, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        hub_login(page, hub.url, hub.instructor, PASSWORD_INSTRUCTOR)
        assert visit(page, url) == 200
        page.wait_for_selector("#question-table")
        assert f"Class report: {ASSIGNMENT}" in page.title()
        images = page.locator("img")
        assert images.count() == 3  # distribution, questions, timeline (no survey collected here)
        for index in range(images.count()):
            image = images.nth(index)
            assert image.get_attribute("alt"), index
            # drawn by the browser: a decoded PNG has a width
            assert image.evaluate("i => i.complete && i.naturalWidth") > 100, index
        assert student in page.inner_text("#students-table")
        page.screenshot(path=str(SCREENSHOTS / "report-page.png"), full_page=True)
        status = page.goto(f"{hub.url}/services/grading-queue/")
        assert status.status == 200 and page.locator(f"#reports a:has-text('{ASSIGNMENT}')").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "queue-status-page.png"), full_page=True)

        other = chromium.new_context().new_page()
        hub_login(other, hub.url, student, PASSWORD_STUDENT)
        assert visit(other, url) == 403
        assert "Class report" not in other.content()
    assert os.path.getsize(SCREENSHOTS / "report-page.png") > 10_000
