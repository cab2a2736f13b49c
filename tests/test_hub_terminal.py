"""The README's instructor guide, typed where an instructor types it: a JupyterLab terminal on the hub.

In chromium, the instructor opens File → New → Terminal and types the guide's
commands in the course folder: `nbgrader generate_assignment`,
`nbgrader release_assignment`, then (after a student fetched and submitted)
`nbgrader collect` and `primer autograde ... -j 2`. Each works, with the
course's configuration (the release reaches the hub's exchange, the grade the
course's gradebook). A grader's terminal finds the same tools; a student's
terminal stays a plain login shell without them. The terminal's text is read
from xterm's screen-reader rows and kept, with screenshots, in
artifacts/browser/test_the_instructor_guide_in_a_jupyterlab_terminal/.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from browser_hub import Screenshots, browser, hub, hub_login  # noqa: F401 (hub: the fixture)
from primer.testing.hub import PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, HubUser, wait_for

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.root]
ASSIGNMENT = "00_setup"  # not released when the shared hub starts: the guide releases it
VIEWPORT = {"width": 1400, "height": 1000}
VENV_BIN = str(Path(sys.executable).parent)
TERMINAL_SETTINGS = "lab/api/settings/@jupyterlab/terminal-extension:plugin"


class Terminal:
    """A JupyterLab terminal in ``page``, opened from the menus; its screen read as text."""

    def __init__(self, page, transcript: list[str], who: str):
        self.page, self.transcript, self.who = page, transcript, who
        self.count = 0
        page.click("#jp-MainMenu >> text=File")
        page.hover(".lm-Menu-itemLabel:text-is('New')")
        page.click(".lm-Menu:visible .lm-Menu-itemLabel:text-is('Terminal')")
        self.rows = page.locator(".jp-Terminal:visible .xterm-accessibility-tree")
        self.rows.wait_for(timeout=60_000)
        page.locator(".jp-Terminal:visible .xterm").click()

    def screen(self) -> str:
        return self.rows.inner_text().replace("\xa0", " ")

    def run(self, command: str, timeout: float = 120) -> tuple[str, int]:
        """Type ``command`` on a cleared screen; its screen text and exit status once it ends."""
        self.count += 1
        marker = f"step-{self.count}-done"
        self.page.keyboard.press("Control+l")
        self.page.keyboard.type(f"{command}; echo {marker}=$?", delay=5)
        self.page.keyboard.press("Enter")
        deadline = time.monotonic() + timeout
        while not (found := re.search(rf"{marker}=(\d+)", self.screen())):
            assert time.monotonic() < deadline, f"{command!r} did not end:\n{self.screen()}"
            time.sleep(0.5)
        text = self.screen()
        self.transcript.append(f"--- {self.who}'s terminal\n" + "\n".join(
            line.rstrip() for line in text.splitlines() if line.strip()))
        return text, int(found.group(1))


def use_screen_reader_rows(user: HubUser) -> None:
    """xterm draws on a canvas; its screen-reader mode also keeps the text in the page."""
    done = user.server("PUT", TERMINAL_SETTINGS, data=json.dumps({"raw": json.dumps({"screenReaderMode": True})}))
    assert done.status_code == 204, done.text


def open_lab(page, hub, name: str, password: str) -> None:
    hub_login(page, hub.url, name, password)
    page.wait_for_url(f"**/user/{name}/lab**", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel")


def test_the_instructor_guide_in_a_jupyterlab_terminal(hub, students):
    name = students[0]
    shots = Screenshots("test_the_instructor_guide_in_a_jupyterlab_terminal")
    transcript: list[str] = []
    staff = {person: HubUser(hub, person).log_in_and_start_server(PASSWORD_INSTRUCTOR)
             for person in (hub.instructor, hub.graders[0])}
    student = HubUser(hub, name).log_in_and_start_server(PASSWORD_STUDENT)
    for user in (*staff.values(), student):
        use_screen_reader_rows(user)
    with browser() as chromium:
        page = chromium.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(60_000)
        try:
            open_lab(page, hub, hub.instructor, PASSWORD_INSTRUCTOR)
            terminal = Terminal(page, transcript, "the instructor")
            text, status = terminal.run('cd ~/primer-course && echo "PATH=$PATH" && command -v nbgrader primer')
            assert status == 0 and f"{VENV_BIN}/nbgrader" in text and f"{VENV_BIN}/primer" in text, text

            # The guide's steps 2 and 3: generate and release.
            text, status = terminal.run(f"nbgrader generate_assignment {ASSIGNMENT}")
            assert status == 0, text
            assert (hub.course / "release" / ASSIGNMENT).is_dir()
            text, status = terminal.run(f"nbgrader release_assignment {ASSIGNMENT}")
            assert status == 0 and f"Released as: primer {ASSIGNMENT}" in text, text
            # the course's settings: the hub's exchange (PRIMER_EXCHANGE_ROOT, course id primer)
            assert (hub.exchange / "primer" / "outbound" / ASSIGNMENT).is_dir()
            shots(page, "instructor-released")

            # A student fetches and submits it (their Assignments panel's calls).
            student.assignment_action("fetch", ASSIGNMENT)
            student.assignment_action("submit", ASSIGNMENT)

            # Steps 4 and 5: collect, autograde.
            text, status = terminal.run(f"nbgrader collect {ASSIGNMENT}")
            assert status == 0 and f"Collecting submission: {name} {ASSIGNMENT}" in text, text
            text, status = terminal.run(f"primer autograde {ASSIGNMENT} -j 2", timeout=600)
            shots(page, "instructor-autograded")
            assert status == 0, text
            assert f"{ASSIGNMENT}: 1 submissions" in text and re.search(rf"{name}\s+graded\s", text), text
            with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
                assert gradebook.find_submission(ASSIGNMENT, name).max_score > 0

            # A grader finds the same tools; a student's terminal has none of them.
            for person, password, found in ((hub.graders[0], PASSWORD_INSTRUCTOR, True),
                                            (name, PASSWORD_STUDENT, False)):
                other = chromium.new_context(viewport=VIEWPORT).new_page()
                other.set_default_timeout(60_000)
                open_lab(other, hub, person, password)
                text, status = Terminal(other, transcript, person).run(
                    'echo "PATH=$PATH"; command -v nbgrader primer')
                shots(other, f"{'grader' if found else 'student'}-terminal")
                assert (status == 0) is found, text
                assert (f"{VENV_BIN}/nbgrader" in text) is found, text
                path = re.search(r"^PATH=(.*)$", text, re.MULTILINE).group(1)
                assert (VENV_BIN in path.split(":")) is found, text
        except Exception:
            for index, context in enumerate(page.context.browser.contexts):
                for tab in context.pages:
                    shots(tab, f"failure-{index}")
            raise
        finally:
            (shots.folder / "terminal-session.txt").write_text("\n".join(transcript) + "\n")
            print("\n".join(transcript))
            for user in (*staff.values(), student):  # the next test logs in to a stopped server
                stop_server(user)


def stop_server(user: HubUser, timeout: float = 60) -> None:
    user.api("DELETE", f"/hub/api/users/{user.name}/server")
    wait_for(lambda: not user.api("GET", f"/hub/api/users/{user.name}").json().get("servers"),
             timeout, f"{user.name}'s server stopped", every=0.5)
