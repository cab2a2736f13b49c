"""Grading on submit under a burst: N students submit within a minute (the grading queue, primer/queue).

    sudo .venv/bin/python benchmarks/queue_benchmark.py [--students 30] [--spread 60]
        [--assignments 00_setup 01_prerequisites] [--configs cold:1 recorder:2 zygote:2] [--cold]
        [--workers N] [--cpu]
    (make bench-queue; BENCH_ARGS="..." passes options)

For each queue configuration (``cold:1``: a cold `primer grade-one` and a fresh
record step per submission and one worker, the first queue; ``warm:2``: warm
sandboxes, primer/queue/warm_pool.py, and two workers; ``recorder:2``: the same
with the course's recorder kept running, primer/queue/recorder.py;
``zygote:2``: the same with each kernel a fork of a kernel zygote that did the
notebook's imports once, primer/grading/kernel_zygote.py, the queue's defaults;
``--cold`` / ``--workers N``: only that one), starts the course hub
as the tests do (real Unix users, a free port of 127.0.0.1, a throw-away
runtime folder) with those queue settings, and for
each assignment turns grading on with `primer queue enable`, lets every student
fetch it, then has them submit one after another over ``--spread`` seconds with
nbgrader's own submit, run as each student (as the Assignments panel does; two
in three with every answer right, the others with one wrong). Prints, side by
side, the time from Submit to feedback released (median, 90th percentile,
last), the wait before grading, one grading's time, and the hub's response
time during the burst (its REST API and a page for a logged-in user, polled
every half second); with ``--cpu``, the CPU per submission by kind of process
(benchmarks/process_cpu.py). Everything is removed after.
"""
from __future__ import annotations

import argparse
import contextlib
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

from process_cpu import ProcessCpu

from primer.accounts import run_as
from primer.course import find_repo, source_notebook
from primer.hub.course_setup import server_config_path
from primer.testing.hub import CourseHub, HubUser, PASSWORD_STUDENT
from primer.testing.scratch_course import solved_release

REPO = find_repo(Path(__file__).parent)
# A wrong answer for one in three students: a solution cell of each assignment.
WRONG_ANSWER = {"00_setup": "split", "01_prerequisites": "threshold"}


class Student:
    def __init__(self, hub: CourseHub, name: str, right: bool, assignment: str):
        self.hub, self.name, self.right, self.assignment = hub, name, right, assignment
        self.env = {"JUPYTER_CONFIG_PATH": server_config_path(_Runtime(hub), "student"),
                    "PRIMER_EXCHANGE_ROOT": str(hub.exchange)}
        self.home = Path(os.path.expanduser(f"~{name}"))
        self.submitted_at: float | None = None

    def nbgrader(self, *args: str) -> None:
        run_as(self.name, [sys.executable, "-m", "nbgrader", *args, "--course", "primer"],
               cwd=self.home, env=self.env)

    def prepare(self) -> None:
        self.nbgrader("fetch_assignment", self.assignment)
        source = source_notebook(REPO, self.assignment)
        notebook_path = self.home / "primer" / self.assignment / source.name
        notebook = solved_release(notebook_path, source)
        if not self.right:
            for cell in notebook.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == WRONG_ANSWER[self.assignment]:
                    cell.source = "raise NotImplementedError()"
        nbformat.write(notebook, notebook_path)

    def submit(self) -> None:
        self.submitted_at = time.time()
        self.nbgrader("submit", self.assignment)


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


def burst(hub: CourseHub, assignment: str, args) -> dict:
    """Every student submits ``assignment`` within ``args.spread`` seconds; what it took."""
    primer = Path(sys.executable).parent / "primer"
    subprocess.run([str(primer), "queue", "enable", assignment], env=hub.env, cwd=REPO,
                   check=True, capture_output=True)
    students = [Student(hub, name, i % 3 != 2, assignment) for i, name in enumerate(hub.students[1:])]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(Student.prepare, students))
    watcher = HubUser(hub, hub.students[0])
    assert watcher.login(PASSWORD_STUDENT).status_code == 200
    samples: dict[str, list[float]] = {"api": [], "page": []}
    stop = threading.Event()
    poller = threading.Thread(target=poll_hub, args=(hub, watcher, stop, samples), daemon=True)
    poller.start()
    before = {r["id"] for r in journal_rows(hub)}
    sampler = ProcessCpu(hub.process.pid) if args.cpu else contextlib.nullcontext()
    sampler.__enter__()
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
    deadline = time.time() + args.timeout
    while True:
        rows = [r for r in journal_rows(hub) if r["id"] not in before]
        done = [r for r in rows if r["state"] in ("graded", "failed", "refused")]
        if len(done) >= len(students) or time.time() > deadline:
            break
        time.sleep(1)
    stop.set()
    poller.join()
    sampler.__exit__(None, None, None)
    by_student = {r["student"]: r for r in rows}
    return {"students": len(students), "rows": rows, "samples": samples,
            "cpu": sampler.by_kind() if args.cpu else {},
            "totals": [by_student[s.name]["finished_at"] - s.submitted_at for s in students
                       if s.name in by_student and by_student[s.name]["finished_at"]]}


def summary(outcome: dict) -> dict:
    rows, totals = outcome["rows"], outcome["totals"]
    grading = [r["finished_at"] - r["started_at"] for r in rows if r["finished_at"] and r["started_at"]]
    waits = [r["started_at"] - r["seen_at"] for r in rows if r["started_at"]]
    api = [v for v in outcome["samples"]["api"] if v != float("inf")]
    return {"graded": sum(r["state"] == "graded" for r in rows), "of": outcome["students"],
            "median": statistics.median(totals) if totals else float("nan"),
            "p90": percentile(totals, 0.9) if totals else float("nan"),
            "last": max(totals) if totals else float("nan"),
            "wait": statistics.median(waits) if waits else float("nan"),
            "grading": statistics.median(grading) if grading else float("nan"),
            "api p95 ms": percentile(api, 0.95) * 1000 if api else float("nan"),
            "hub failed": sum(1 for v in outcome["samples"]["api"] + outcome["samples"]["page"]
                              if v == float("inf")),
            "cpu": outcome["cpu"],
            "not graded": [f"{r['student']}: {r['state']} {r['notes'][:120]}" for r in rows
                           if r["state"] != "graded"]}


TARGET_P90 = {"00_setup": 15, "01_prerequisites": 45}
# The queue's settings of each kind of configuration
KINDS = {"cold": {"PRIMER_QUEUE_WARM": "0", "PRIMER_QUEUE_RECORDER": "0"},  # the queue at first
         "warm": {"PRIMER_QUEUE_WARM": "1", "PRIMER_QUEUE_RECORDER": "0", "PRIMER_QUEUE_ZYGOTE": "0"},  # + warm sandboxes
         "recorder": {"PRIMER_QUEUE_WARM": "1", "PRIMER_QUEUE_RECORDER": "1", "PRIMER_QUEUE_ZYGOTE": "0"},  # + a kept recorder
         "zygote": {"PRIMER_QUEUE_WARM": "1", "PRIMER_QUEUE_RECORDER": "1", "PRIMER_QUEUE_ZYGOTE": "1"}}  # + forked kernels


def main(argv: list[str] | None = None) -> int:
    from primer.queue.settings import default_workers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=60, help="seconds over which they submit")
    parser.add_argument("--timeout", type=float, default=1800, help="give up waiting after this")
    parser.add_argument("--assignments", nargs="+", default=["00_setup", "01_prerequisites"])
    parser.add_argument("--configs", nargs="+", default=None,
                        help="queue configurations side by side, cold|warm|recorder|zygote:WORKERS "
                             f"(default: cold:1, the first queue, recorder:{default_workers()} and "
                             f"zygote:{default_workers()}, its defaults now)")
    parser.add_argument("--cold", action="store_true", help="only a cold grade-one per submission")
    parser.add_argument("--workers", type=int, help="only this many workers")
    parser.add_argument("--cpu", action="store_true",
                        help="also print where the CPU went, by kind of process (benchmarks/process_cpu.py)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: run as root (it creates Unix users): sudo make bench-queue", file=sys.stderr)
        return 1
    if args.cold or args.workers:
        configs = [f"{'cold' if args.cold else 'zygote'}:{args.workers or default_workers()}"]
    else:
        configs = args.configs or ["cold:1", f"recorder:{default_workers()}", f"zygote:{default_workers()}"]
    results: dict[tuple[str, str], dict] = {}
    for config in configs:
        kind, workers = config.split(":")
        if kind not in KINDS or not workers.isdigit():
            parser.error(f"--configs {config}: write KIND:N, KIND one of {', '.join(KINDS)}")
        hub = CourseHub(REPO, prefix="qb", students=args.students + 1, PRIMER_IDLE_TIMEOUT="0",
                        PRIMER_QUEUE_PER_HOUR="10", PRIMER_RELEASE=",".join(args.assignments),
                        PRIMER_QUEUE_WORKERS=workers, **KINDS[kind])
        with hub.running():
            for assignment in args.assignments:
                results[(config, assignment)] = summary(burst(hub, assignment, args))
                row = results[(config, assignment)]
                print(f"{config:<8} {assignment:<17} p90 {row['p90']:.0f} s", flush=True)
    print(f"\nGrading on submit: {args.students} students submit within {args.spread:.0f} s, "
          f"{os.cpu_count()} cores (shared with other work: compare the rows of this one run)")
    print(f"  {'queue':<8} {'assignment':<17} {'graded':>7} {'median':>7} {'p90':>6} {'last':>6}"
          f" {'wait':>6} {'grading':>8} {'API p95':>8}  target p90")
    failed = False
    for (config, assignment), row in results.items():
        print(f"  {config:<8} {assignment:<17} {row['graded']:>3}/{row['of']:<3} {row['median']:6.0f}s"
              f" {row['p90']:5.0f}s {row['last']:5.0f}s {row['wait']:5.0f}s {row['grading']:7.1f}s"
              f" {row['api p95 ms']:6.0f}ms  <= {TARGET_P90.get(assignment, '-')} s")
        for note in row["not graded"]:
            print(f"      not graded: {note}")
        failed = failed or bool(row["not graded"]) or row["graded"] < row["of"]
    for (config, assignment), row in results.items():
        if row["cpu"]:
            print(f"\n  CPU seconds per submission, {config} {assignment} (sampled every 0.1 s: a lower bound)")
            for kind, (count, seconds) in row["cpu"].items():
                print(f"    {kind:<22} {seconds / row['of']:6.2f} s   ({count} processes, {seconds:.0f} s in all)")
    print("  (cold: a fresh `primer grade-one` and record step per submission, the first queue; warm: "
          "warm sandboxes, primer/queue/warm_pool.py, and a fresh record step per submission; "
          "recorder: warm sandboxes and the course's recorder kept running, primer/queue/recorder.py; "
          "zygote: the same, each kernel forked from a kernel zygote, primer/grading/kernel_zygote.py, "
          "the queue's defaults; the number: PRIMER_QUEUE_WORKERS)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
