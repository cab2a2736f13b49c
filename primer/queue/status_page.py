"""The queue's status page for the staff: /services/grading-queue/ (HTML) and api/status (JSON).

JupyterHub's OAuth (HubOAuthenticated) lets in only users whose token has
``access:services!service=grading-queue``: the staff group's role
(primer/hub/config.py). Everything a student wrote is escaped.
"""
from __future__ import annotations

import datetime
import html
import json
import os
import re
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

STATE_ORDER = ("grading", "waiting", "deferred", "failed", "refused", "graded")


class _QueueHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, queue):
        self.queue = queue


class StatusJSON(_QueueHandler):
    @web.authenticated
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.queue.status(), default=str))


class StatusHTML(_QueueHandler):
    @web.authenticated
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(render(self.queue.status(), self.current_user["name"]))


class ReportHTML(_QueueHandler):
    """The class report of an assignment (primer.report), made when asked: staff only, like the
    status page."""

    @web.authenticated
    async def get(self, assignment):
        if not ASSIGNMENT_NAME.fullmatch(assignment):
            raise web.HTTPError(404)
        done, page = await self.queue.class_report(assignment)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if not done:
            self.set_status(404)
            page = (f"<!DOCTYPE html><html><body><h1>No report for {html.escape(assignment)}</h1>"
                    f"<pre>{html.escape(page)}</pre></body></html>")
        self.write(page)


ASSIGNMENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
LEFT = ("waiting", "grading", "deferred")  # the states still to be graded


def progress_html(submissions: list[dict], enabled: list[str]) -> str:
    """How far grading on submit is per assignment: done of seen, and what is left."""
    e = html.escape
    parts = []
    for assignment in sorted(set(enabled) | {s["assignment"] for s in submissions}):
        mine = [s for s in submissions if s["assignment"] == assignment]
        left = {state: sum(s["state"] == state for s in mine) for state in LEFT}
        done = len(mine) - sum(left.values())
        parts.append(
            f"<li><b>{e(assignment)}</b>: <progress value='{done}' max='{max(len(mine), 1)}'></progress> "
            f"{done} of {len(mine)} done; left: {left['waiting']} waiting, {left['grading']} grading, "
            f"{left['deferred']} deferred</li>")
    return f"<ul id='progress'>{''.join(parts) or '<li>nothing submitted yet</li>'}</ul>"


def _time(seconds) -> str:
    if not seconds:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%H:%M:%S")


def _seconds(summary: dict) -> str:
    if not summary["count"]:
        return "-"
    return f"median {summary['median']:g} s, longest {summary['max']:g} s ({summary['count']})"


def render(status: dict, viewer: str) -> str:
    e = html.escape
    rows = []
    items = sorted(status["submissions"],
                   key=lambda s: (STATE_ORDER.index(s["state"]) if s["state"] in STATE_ORDER else 9,
                                  -s["id"]))
    for s in items:
        score = "" if s["score"] is None else f"{s['score']:g} / {s['max_score']:g}"
        flags = "; ".join(s["flags"])
        rows.append(
            f"<tr class='state-{e(s['state'])}'><td>{s['id']}</td><td>{e(s['student'])}</td>"
            f"<td>{e(s['assignment'])}</td><td>{e(s['state'])}</td><td>{_time(s['seen_at'])}</td>"
            f"<td>{'' if s['waited'] is None else round(s['waited'])}</td><td>{score}</td>"
            f"<td>{s['attempts']}</td><td class='flags'>{e(flags)}</td>"
            f"<td>{e('; '.join(s['notes']))[:1500]}</td></tr>")
    counts = ", ".join(f"{n} {e(k)}" for k, n in sorted(status["counts"].items())) or "nothing yet"
    settings = status["settings"]
    flagged = sum(1 for s in status["submissions"] if s["flags"])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Grading queue</title><meta http-equiv="refresh" content="10">
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:90%;vertical-align:top}}
.state-failed,.state-refused{{background:#fde2e1}}.state-grading{{background:#fff6d5}}
.state-deferred{{background:#e8eefc}}.flags{{color:#b00;font-weight:bold}}</style></head>
<body><h1>Grading queue</h1>
<p>Signed in as {e(viewer)}. Grading on submit: <b>{e(', '.join(status['enabled']) or 'no assignment')}</b>
(<code>primer queue enable &lt;assignment&gt;</code>). {settings['workers']} worker(s),
{settings['per_hour']} gradings per student per {settings['window']} s, {settings['timeout']} s per grading,
scores {'shown' if settings['show_scores'] else 'hidden'} in the feedback.</p>
<p id="counts">Submissions: {counts}. Flagged for review: <b id="flagged">{flagged}</b>.</p>
{progress_html(status['submissions'], status['enabled'])}
<p id="reports">Class reports: {' '.join(f"<a href='report/{quote(a)}'>{e(a)}</a>" for a in status['assignments']) or 'none'}
(<code>primer report &lt;assignment&gt;</code>).</p>
<p>Wait before grading: {_seconds(status['wait_seconds'])}. Submit to feedback:
{_seconds(status['total_seconds'])}. Grading: {_seconds(status['grading_seconds'])}.</p>
<table><tr><th>#</th><th>student</th><th>assignment</th><th>state</th><th>seen (UTC)</th>
<th>waited (s)</th><th>provisional score</th><th>attempts</th><th>flags</th><th>notes</th></tr>
{''.join(rows)}</table></body></html>"""


def make_app(queue) -> web.Application:
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grading-queue/")
    return web.Application([
        (prefix, StatusHTML, {"queue": queue}),
        (url_path_join(prefix, "api/status"), StatusJSON, {"queue": queue}),
        (url_path_join(prefix, "report/([^/]+)"), ReportHTML, {"queue": queue}),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))
