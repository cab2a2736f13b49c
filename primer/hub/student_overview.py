"""A student's own overview: /services/student-overview/ on the hub.  [TRUSTED SIDE]

Each student sees their assignments with their due date (their own extension
applied, nbgrader's ``SubmittedAssignment.duedate``), whether they submitted,
and, once the feedback is released, their score after any late penalty.

The data is in the gradebook, which students cannot read, so this is a
hub-managed service running as the course owner (primer/hub/config.py). Who
is asking comes from the hub's OAuth (HubOAuthenticated), never from the
request: the page takes no parameters and has no other paths. Everything a
student could have named (assignment names, their own name) is escaped.
"""
from __future__ import annotations

import asyncio
import html
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from primer.grading.deadlines import holds_only_an_extension, shown

SERVICE_NAME = "student-overview"  # /services/student-overview/ on the hub
SECRET = "submission_secret.txt"
log = logging.getLogger("student-overview")


@dataclass(frozen=True)
class Row:
    assignment: str
    due: str
    extended: bool
    status: str
    score: str  # "" until the feedback is released


def _released(exchange_course: Path, feedback: Path, notebooks: list[str]) -> bool:
    """Whether nbgrader's release_feedback published this submission's feedback (its hashed names)."""
    from nbgrader.utils import notebook_hash

    from primer.exchange import SMALL_FILE
    from primer.safecopy import Skipped, read_regular_file

    try:  # the secret came with the student's submission: read it as untrusted bytes
        secret = read_regular_file(feedback / SECRET, max_bytes=SMALL_FILE).decode("utf-8", "replace")
    except (Skipped, OSError):
        return False
    return bool(notebooks) and all(
        (exchange_course / "feedback" / f"{notebook_hash(secret=secret, notebook_id=name)}.html").is_file()
        for name in notebooks)


def _waiting_in_inbound(exchange_course: Path, student: str, assignment: str) -> bool:
    """A submission in the exchange not collected yet (nbgrader names it student+assignment+time+random)."""
    try:
        names = os.listdir(exchange_course / "inbound")
    except OSError:
        return False
    return any(name.startswith(f"{student}+{assignment}+") for name in names)


def overview(gradebook_url: str, course: Path, exchange_course: Path, student: str) -> list[Row]:
    """``student``'s rows, one per assignment in the gradebook; nothing of anyone else."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(gradebook_url) as gradebook:
        assignments = sorted(gradebook.assignments,
                             key=lambda a: (a.duedate is None, a.duedate or 0, a.name))
        for assignment in assignments:
            try:
                submission = gradebook.find_submission(assignment.name, student)
            except MissingEntry:
                submission = None
            extended = submission is not None and submission.extension is not None
            due = submission.duedate if submission is not None else assignment.duedate
            score = ""
            if submission is None or holds_only_an_extension(submission):
                status = ("submitted, waiting to be collected"
                          if _waiting_in_inbound(exchange_course, student, assignment.name)
                          else "not submitted")
            else:
                late = submission.total_seconds_late or 0
                status = f"submitted {shown(submission.timestamp)}"
                if late > 0:
                    status += f" ({late / 3600:.1f} h late)"
                notebooks = [notebook.name for notebook in assignment.notebooks]
                if _released(exchange_course, course / "feedback" / student / assignment.name, notebooks):
                    final = max(0.0, submission.score - submission.late_submission_penalty)
                    score = f"{final:g} / {submission.max_score:g}"
            rows.append(Row(assignment.name, "no due date" if due is None else shown(due),
                            extended, status, score))
    return rows


def _no_score(status: str) -> str:
    return "feedback not released yet" if status.startswith("submitted") else "-"


def render(student: str, rows: list[Row]) -> str:
    e = html.escape
    body = "".join(
        f"<tr><td class='assignment'>{e(r.assignment)}</td>"
        f"<td class='due'>{e(r.due)}{' (your extension)' if r.extended else ''}</td>"
        f"<td class='status'>{e(r.status)}</td>"
        f"<td class='score'>{e(r.score) or _no_score(r.status)}</td></tr>"
        for r in rows) or "<tr><td colspan='4'>No assignment has been released yet.</td></tr>"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>My assignments</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em}}</style></head>
<body><h1>My assignments</h1>
<p id="student">Signed in as <b>{e(student)}</b>. Due dates are in UTC; work submitted after yours
loses a share of its score. Scores appear once your instructor releases feedback
(then <em>Fetch Feedback</em> in the Assignments panel shows the details).</p>
<table id="overview"><tr><th>assignment</th><th>due</th><th>submission</th><th>score</th></tr>
{body}</table></body></html>"""


class OverviewPage(HubOAuthenticated, web.RequestHandler):
    def initialize(self, course: Path, exchange_course: Path, gradebook_url: str):
        self.course, self.exchange_course, self.gradebook_url = course, exchange_course, gradebook_url

    @web.authenticated
    def get(self):
        student = self.current_user["name"]  # from the hub's token; nothing the request says
        rows = overview(self.gradebook_url, self.course, self.exchange_course, student)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(render(student, rows))


def make_app(course: Path, exchange_course: Path, gradebook_url: str) -> web.Application:
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")
    settings = {"course": course, "exchange_course": exchange_course, "gradebook_url": gradebook_url}
    return web.Application([
        (prefix, OverviewPage, settings),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))


def service_definition(runtime, course: Path, owner: str) -> dict:
    """The hub's entry (primer/hub/config.py): run as the course owner, who may read the gradebook."""
    from primer.course import COURSE_ID
    from primer.hub.services import owner_service

    return owner_service(runtime, course, owner, name=SERVICE_NAME, port=runtime.port + 5,
                         command=[sys.executable, "-m", "primer.hub.student_overview", str(course),
                                  str(runtime.exchange / COURSE_ID)])


async def serve(course: Path, exchange_course: Path) -> None:
    from urllib.parse import urlparse

    from primer.grading.course_settings import gradebook_url

    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app(course, exchange_course, gradebook_url(course)).listen(url.port, url.hostname)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    log.info("student overview at %s", url.geturl())
    await stopping.wait()


def main(argv: list[str] | None = None) -> int:
    """Started by the hub: ``python -m primer.hub.student_overview <course> <exchange course folder>``."""
    course, exchange_course = argv or sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="[student-overview %(asctime)s] %(message)s")
    asyncio.run(serve(Path(course), Path(exchange_course)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
