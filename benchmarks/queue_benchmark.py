"""Grading on submit under a burst: N students submit within a minute (the grading queue, primer/queue).

    sudo .venv/bin/python benchmarks/queue_benchmark.py [--students 30] [--spread 60]   (make bench-queue)

Starts the course hub as the tests do (real Unix users, a free port of
127.0.0.1, a throw-away runtime folder) with the queue at its defaults (workers:
cores - 1), turns grading on for the Prerequisites with `primer queue enable`,
lets every student fetch the assignment, then has them submit one after another
over ``--spread`` seconds with nbgrader's own submit, run as each student (as
the Assignments panel does; two in three with every answer right, the others
with one wrong). Prints the time from Submit to feedback released (median,
90th percentile, last), the wait before grading, and the hub's response time
during the burst (its REST API and a page for a logged-in user, polled every
half second). Everything is removed after.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import requests

from primer.accounts import run_as
from primer.course import find_repo, source_notebook
from primer.hub.course_setup import server_config_path
from primer.testing.hub import CourseHub, HubUser, PASSWORD_STUDENT
from primer.testing.scratch_course import solved_release

REPO = find_repo(Path(__file__).parent)
ASSIGNMENT = "01_prerequisites"


class Student:
    def __init__(self, hub: CourseHub, name: str, right: bool):
        self.hub, self.name, self.right = hub, name, right
        self.env = {"JUPYTER_CONFIG_PATH": server_config_path(_Runtime(hub), "student"),
                    "PRIMER_EXCHANGE_ROOT": str(hub.exchange)}
        self.home = Path(os.path.expanduser(f"~{name}"))
        self.submitted_at: float | None = None

    def nbgrader(self, *args: str) -> None:
        run_as(self.name, [sys.executable, "-m", "nbgrader", *args, "--course", "primer"],
               cwd=self.home, env=self.env)

    def prepare(self) -> None:
        self.nbgrader("fetch_assignment", ASSIGNMENT)
        notebook_path = self.home / "primer" / ASSIGNMENT / source_notebook(REPO, ASSIGNMENT).name
        notebook = solved_release(notebook_path, source_notebook(REPO, ASSIGNMENT))
        if not self.right:
            for cell in notebook.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "threshold":
                    cell.source = "raise NotImplementedError()"
        nbformat.write(notebook, notebook_path)

    def submit(self) -> None:
        self.submitted_at = time.time()
        self.nbgrader("submit", ASSIGNMENT)


class _Runtime:
    """What server_config_path needs of a HubRuntime."""

    def __init__(self, hub: CourseHub):
        self.jupyter_config = hub.runtime / "etc"


def journal_rows(hub: CourseHub) -> list[dict]:
    path = hub.runtime / "queue" / "journal.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM submissions")]


def poll_hub(hub: CourseHub, user: HubUser, stop: threading.Event, samples: dict) -> None:
    """The hub's response times while the burst is graded: its API and a logged-in page."""
    while not stop.is_set():
        for kind, call in (("api", lambda: requests.get(f"{hub.url}/hub/api/", timeout=30)),
                           ("page", lambda: user.session.get(f"{hub.url}/hub/home", timeout=30))):
            started = time.monotonic()
            try:
                ok = call().status_code == 200
            except requests.RequestException:
                ok = False
            samples[kind].append((time.monotonic() - started) if ok else float("inf"))
        time.sleep(0.5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=60, help="seconds over which they submit")
    parser.add_argument("--timeout", type=float, default=1800, help="give up waiting after this")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: run as root (it creates Unix users): sudo make bench-queue", file=sys.stderr)
        return 1
    hub = CourseHub(REPO, prefix="qb", students=args.students + 1, PRIMER_IDLE_TIMEOUT="0",
                    PRIMER_QUEUE_PER_HOUR="10")
    with hub.running():
        primer = Path(sys.executable).parent / "primer"
        subprocess.run([str(primer), "queue", "enable", ASSIGNMENT], env=hub.env, cwd=REPO,
                       check=True, capture_output=True)
        students = [Student(hub, name, right=i % 3 != 2) for i, name in enumerate(hub.students[1:])]
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(Student.prepare, students))
        print(f"{len(students)} students fetched and answered the assignment in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        watcher = HubUser(hub, hub.students[0])
        assert watcher.login(PASSWORD_STUDENT).status_code == 200
        samples: dict[str, list[float]] = {"api": [], "page": []}
        stop = threading.Event()
        poller = threading.Thread(target=poll_hub, args=(hub, watcher, stop, samples), daemon=True)
        poller.start()
        burst_start = time.time()
        gap = args.spread / max(1, len(students) - 1)
        submitters = []
        for index, student in enumerate(students):
            delay = burst_start + index * gap - time.time()
            if delay > 0:
                time.sleep(delay)
            thread = threading.Thread(target=student.submit)
            thread.start()
            submitters.append(thread)
        for thread in submitters:
            thread.join()
        print(f"{len(students)} submissions in {time.time() - burst_start:.0f} s", flush=True)
        deadline = time.time() + args.timeout
        while True:
            rows = journal_rows(hub)
            done = [r for r in rows if r["state"] in ("graded", "failed", "refused")]
            if len(done) >= len(students) or time.time() > deadline:
                break
            time.sleep(2)
        stop.set()
        poller.join()
    by_student = {r["student"]: r for r in rows}
    totals = [by_student[s.name]["finished_at"] - s.submitted_at for s in students
              if s.name in by_student and by_student[s.name]["finished_at"]]
    waits = [r["started_at"] - r["seen_at"] for r in rows if r["started_at"]]
    failed = [r for r in rows if r["state"] != "graded"]
    workers = max(1, (os.cpu_count() or 2) - 1)
    print(f"\nGrading on submit: {len(students)} students submitted {ASSIGNMENT} within "
          f"{args.spread:.0f} s on {os.cpu_count()} cores, {workers} worker(s)")
    print(f"  graded: {len(rows) - len(failed)} of {len(students)}; not graded: {len(failed)} "
          + "; ".join(f"{r['student']}: {r['state']} {r['notes'][:120]}" for r in failed))
    if totals:
        print(f"  Submit -> feedback released: median {statistics.median(totals):.0f} s, "
              f"90th percentile {percentile(totals, 0.9):.0f} s, last {max(totals):.0f} s")
        print(f"  wait before grading: median {statistics.median(waits):.0f} s, longest {max(waits):.0f} s")
        grading = [r["finished_at"] - r["started_at"] for r in rows if r["finished_at"] and r["started_at"]]
        print(f"  one grading (collect, unit, record, feedback): median {statistics.median(grading):.1f} s")
    for kind, label in (("api", "hub REST API (/hub/api/)"), ("page", "a logged-in page (/hub/home)")):
        values = samples[kind]
        bad = sum(1 for v in values if v == float("inf"))
        good = [v for v in values if v != float("inf")]
        if good:
            print(f"  {label} during the burst: median {statistics.median(good) * 1000:.0f} ms, "
                  f"95th percentile {percentile(good, 0.95) * 1000:.0f} ms, max {max(good) * 1000:.0f} ms, "
                  f"{bad} failed of {len(values)}")
    return 0 if not failed and len(totals) == len(students) else 1


if __name__ == "__main__":
    sys.exit(main())
