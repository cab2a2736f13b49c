"""A real browser on the real hub: Playwright driving Debian's chromium.

A student logs in, fetches the Prerequisites assignment in the Assignments
panel, opens it and runs a cell, validates and submits; an instructor opens the
formgrader (a hub-managed service), sees the submission, collects it,
autogrades it, generates and releases feedback; the student fetches the
feedback and reads their score. Screenshots of every step are kept in
artifacts/browser/test_student_and_instructor_in_a_browser/.
"""
from __future__ import annotations

import re

import pytest

from browser_hub import Screenshots, browser, hub, hub_login  # noqa: F401 (hub: the fixture)
from primer.testing.hub import PASSWORD_INSTRUCTOR, PASSWORD_STUDENT

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.root]
ASSIGNMENT = "01_prerequisites"
VIEWPORT = {"width": 1400, "height": 900}


def close_success_modal(page, timeout: float = 180_000) -> str:
    """Wait for the formgrader's success dialog, return its text, press OK."""
    modal = page.locator("#success-modal")
    modal.locator(".modal-footer button").wait_for(timeout=timeout)
    text = modal.inner_text()
    modal.locator("button:has-text('OK')").click()
    modal.wait_for(state="detached")
    return text


def test_student_and_instructor_in_a_browser(hub, students):
    name = students[0]
    shots = Screenshots("test_student_and_instructor_in_a_browser")
    with browser() as chromium:
        page = chromium.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(60_000)
        try:
            # -- the student: log in, the server starts, JupyterLab opens
            hub_login(page, hub.url, name, PASSWORD_STUDENT)
            page.wait_for_url(f"**/user/{name}/lab**", timeout=120_000)
            page.wait_for_selector("#jp-main-dock-panel")
            shots(page, "student-lab")
            # no instructor-only entry in the Nbgrader menu
            page.click("#jp-MainMenu >> text=Nbgrader")
            menu = page.locator(".lm-Menu:visible").inner_text()
            shots(page, "student-nbgrader-menu")
            assert "Assignment List" in menu and "Formgrader" not in menu, menu
            page.click(".lm-Menu-itemLabel:has-text('Assignment List')")

            # -- fetch in the Assignments panel
            page.click(f"#released_assignments_list .list_item:has-text('{ASSIGNMENT}') "
                       "button:has-text('Fetch')")
            page.wait_for_selector(f"#fetched_assignments_list .list_item:has-text('{ASSIGNMENT}')")
            shots(page, "student-fetched")

            # -- open the notebook and run its first code cell
            page.click("#fetched_assignments_list .assignment-notebooks-link")
            page.click("#fetched_assignments_list .nested_list_item a:has-text('prerequisites')")
            page.locator(".jp-StatusBar-Widget:has-text('Idle')").first.wait_for(timeout=120_000)
            cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            cell.locator(".jp-InputPrompt:has-text('[1]')").wait_for(timeout=120_000)
            shots(page, "student-ran-a-cell")

            # -- validate (the questions are unanswered: validation reports failing tests)
            page.click(".lm-TabBar-tab:has-text('Assignments')")
            page.click("#fetched_assignments_list button:has-text('Validate')")
            dialog = page.locator(".jp-Dialog")
            dialog.wait_for(timeout=180_000)
            shots(page, "student-validated")
            assert "Validation" in dialog.inner_text()
            dialog.locator("button").last.click()

            # -- submit
            page.click("#fetched_assignments_list button:has-text('Submit')")
            page.wait_for_selector(f"#submitted_assignments_list .list_item:has-text('{ASSIGNMENT}')")
            shots(page, "student-submitted")

            # -- the instructor: formgrader service, collect, autograde, feedback
            staff = chromium.new_context(viewport=VIEWPORT).new_page()
            staff.set_default_timeout(60_000)
            hub_login(staff, hub.url, hub.instructor, PASSWORD_INSTRUCTOR)
            staff.wait_for_url("**/hub/**")
            formgrader = f"{hub.url}/services/primer/formgrader"
            staff.goto(f"{formgrader}/manage_assignments")
            row = staff.locator(f"tr:has(td.name:has-text('{ASSIGNMENT}'))")
            row.wait_for()
            shots(staff, "instructor-formgrader")
            row.locator(".collect a").click()
            assert "Successfully collected" in close_success_modal(staff)
            staff.reload()
            row.locator(".num-submissions a").click()
            submission = staff.locator(f"tr:has-text('{name}')")
            submission.wait_for()
            shots(staff, "instructor-sees-the-submission")
            submission.locator(".autograde a").click()
            assert "Successfully autograded" in close_success_modal(staff)
            staff.reload()
            shots(staff, "instructor-autograded")
            staff.goto(f"{formgrader}/manage_assignments")
            row.locator(".generate-feedback a").click()
            assert "Successfully generated feedback" in close_success_modal(staff)
            row.locator(".release-feedback a").click()
            assert "Successfully released feedback" in close_success_modal(staff)
            shots(staff, "instructor-released-feedback")

            # -- the student fetches the feedback and reads their score
            page.click("#refresh_assignments_list")
            page.click("#submitted_assignments_list button:has-text('Fetch Feedback')")
            link = page.locator("#submitted_assignments_list a:has-text('view feedback')")
            link.wait_for()
            shots(page, "student-feedback-fetched")
            link.click()  # the file browser goes to the feedback folder
            page.dblclick(".jp-DirListing-item:has-text('prerequisites.html')")
            viewer = page.frame_locator(".jp-HTMLViewer iframe")
            score = viewer.locator("text=/Score:/").first
            score.wait_for()
            text = viewer.locator("body").inner_text()
            shots(page, "student-reads-feedback")
            assert re.search(r"Score:\s*[\d.]+\s*/\s*[\d.]+", text), text[:500]
        except Exception:
            for index, open_page in enumerate(page.context.browser.contexts):
                for tab in open_page.pages:
                    shots(tab, f"failure-{index}")
            raise
