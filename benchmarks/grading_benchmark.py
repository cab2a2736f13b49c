"""Benchmark: plain sequential `nbgrader autograde` against `primer autograde -j N`.

A synthetic class (a mix of correct, partly wrong and blank work) for each
chosen assignment is graded in one run, side by side:

1. raw nbclient: the same notebooks executed with N processes, no grading;
2. plain nbgrader 0.9.6: `nbgrader autograde` with nbgrader's own Execute
   (no sandbox), one student after another, as nbgrader does it;
3. `primer autograde -j N`: staged, sandboxed, parallel, every test cell run
   in the judge outside the student's interpreter;
4. the same as before the judge: test cells run in the kernel between
   in-kernel tamper checks (``SandboxedExecute.judge_tests = False``).

It prints the wall times, the speed-up of 3 over 2, the overhead of 3 over 1,
the cost of the judge (3 over 4, target <= 1.2x), the peak memory in use on
the machine during each, and whether 2, 3 and 4 gave identical scores. Run: `make bench-grading` (or with --students/--assignments).
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from primer.course import find_repo, source_notebook
from primer.testing.scratch_course import ScratchCourse, load_wrong_answers, solved_release

REPO = find_repo(Path(__file__).parent)

PLAIN_PREPROCESSORS = """
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]
"""


class MemoryPeak:
    """Peak of memory in use on the machine (MemTotal - MemAvailable) above the start."""

    def __init__(self):
        self.peak = self.start = self._used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _used() -> int:
        fields = dict(line.split(":") for line in Path("/proc/meminfo").read_text().splitlines())
        kib = lambda name: int(fields[name].split()[0])  # noqa: E731
        return (kib("MemTotal") - kib("MemAvailable")) * 1024

    def _sample(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._used())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2 ** 20


def synthetic_submission(kind: str, release_path: Path, assignment: str, index: int):
    source = source_notebook(REPO, assignment)
    if kind == "blank":
        return nbformat.read(release_path, as_version=4)
    notebook = solved_release(release_path, source)
    if kind == "partly wrong":
        wrong = load_wrong_answers(REPO, assignment)
        for entry in wrong[index % max(len(wrong), 1)::3][:2]:
            for cell in notebook.cells:
                if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == entry["solution"]:
                    cell.source = entry["code"]
    return notebook


def build_class(root: Path, assignments: list[str], students: int) -> ScratchCourse:
    course = ScratchCourse(root, REPO)
    kinds = ["correct", "partly wrong", "blank"]
    for assignment in assignments:
        release = course.generate(assignment)
        for i in range(students):
            notebook = synthetic_submission(kinds[i % 3], release, assignment, i)
            folder = course.submit(f"student{i:03d}", assignment, notebook)
            (folder / "timestamp.txt").write_text("2026-11-29 09:00:00.000000 UTC")
    return course


def _execute(path: str) -> None:
    from nbclient import NotebookClient
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()


def run_raw(course: ScratchCourse, workers: int) -> None:
    paths = sorted(str(p) for p in (course.root / "submitted").glob("*/*/*.ipynb"))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_execute, paths, chunksize=1)


def scores(course: ScratchCourse, assignments, students) -> dict:
    return {(a, s): course.grades(a, s) for a in assignments
            for s in (f"student{i:03d}" for i in range(students))}


def timed(label: str, action) -> tuple[float, float]:
    with MemoryPeak() as memory:
        start = time.perf_counter()
        action()
        seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:8.1f} s   peak memory +{memory.mib:7.0f} MiB", flush=True)
    return seconds, memory.mib


def _median_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _warm_grading(pool, release: Path, submission: Path, scratch: Path) -> float:
    """One grading by a warm sandbox the pool started ahead (its start is not timed: the queue
    starts it while it waits for submissions)."""
    pool.prepare(release)
    for standby in pool.ready:
        await standby.ready
    await asyncio.sleep(1)  # its kernels settle, as between submissions
    start = time.perf_counter()
    standby = await pool.take(release)
    process = await pool.run(standby, {"submission": str(submission), "scratch": str(scratch / "s"),
                                       "result": str(scratch / "result"), "student": "student000",
                                       "log": str(scratch / "warm.log")})
    await process.wait()
    seconds = time.perf_counter() - start
    await pool.done(standby)
    if not json.loads((scratch / "result" / "result.json").read_text())["success"]:
        raise RuntimeError(f"the warm grading failed: see {scratch / 'warm.log'}")
    return seconds


def one_grading(root: Path, assignments: list[str], runs: int) -> bool:
    """Per assignment, one correct submission: the notebook run by plain nbclient, a cold
    `primer grade-one` (the queue's unit until now) and a warm sandbox (the queue's unit now)."""
    from primer.grading.unit import prepare_release
    from primer.queue.warm_pool import WarmPool

    course = build_class(root, assignments, 1)
    print(f"\none grading of a correct submission (median of {runs}; the machine is shared):")
    print(f"  {'assignment':<18} {'nbclient':>9} {'cold grade-one':>15} {'warm sandbox':>13}"
          f" {'cold/nbclient':>14} {'warm/nbclient':>14}")
    within = True
    for assignment in assignments:
        release = prepare_release(course.root, assignment, root / f"release-{assignment}")
        submission = course.root / "submitted" / "student000" / assignment
        notebook = str(next(submission.glob("*.ipynb")))
        scratch = root / f"one-{assignment}"
        scratch.mkdir()
        plain = _median_of(runs, lambda: _execute(notebook))
        cold = _median_of(runs, lambda: subprocess.run(
            [sys.executable, "-m", "primer.cli", "grade-one", "--release", str(release),
             "--submission", str(submission), "--scratch", str(scratch / "s"), "--result",
             str(scratch / "result"), "--student", "student000", "--slot", "70"],
            check=True, capture_output=True))

        async def warm_runs() -> list[float]:
            pool = WarmPool(scratch, 1, 71)
            try:
                return [await _warm_grading(pool, release, submission, scratch) for _ in range(runs)]
            finally:
                await pool.close()

        warm = statistics.median(asyncio.run(warm_runs()))
        within = within and warm <= 1.3 * plain
        print(f"  {assignment:<18} {plain:8.2f}s {cold:14.2f}s {warm:12.2f}s {cold / plain:13.2f}x"
              f" {warm / plain:13.2f}x", flush=True)
    print("  target: a grading costs at most 1.3x the notebook's own run by plain nbclient")
    return within


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignments", nargs="+", default=["00_setup", "01_prerequisites"])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--one", action="store_true",
                        help="only one grading per assignment: nbclient, cold grade-one, warm sandbox")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each single grading")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="primer-bench-") as scratch:
        os.chmod(scratch, 0o711)  # the sandbox accounts reach their sockets below it
        one_grading(Path(scratch) / "one", args.assignments, args.runs)
        if args.one:
            return 0
        print(f"class: {args.students} students x {args.assignments}, {args.jobs} workers", flush=True)
        plain = build_class(Path(scratch) / "plain", args.assignments, args.students)
        with open(plain.root / "nbgrader_config.py", "a") as config:
            config.write(PLAIN_PREPROCESSORS)
        ours = build_class(Path(scratch) / "ours", args.assignments, args.students)
        in_kernel = build_class(Path(scratch) / "in_kernel", args.assignments, args.students)
        with open(in_kernel.root / "nbgrader_config.py", "a") as config:
            config.write("\nc.SandboxedExecute.judge_tests = False\n")

        raw_seconds, _ = timed(f"raw nbclient, {args.jobs} processes", lambda: run_raw(plain, args.jobs))
        plain_seconds, _ = timed("plain nbgrader autograde, sequential", lambda: [
            plain.autograde(a) for a in args.assignments])
        def primer_autograde(course):
            for assignment in args.assignments:
                subprocess.run([sys.executable, "-m", "primer.cli", "autograde", assignment, "-j",
                                str(args.jobs), "--course", str(course.root)], check=False,
                               capture_output=True)

        ours_seconds, _ = timed(f"primer autograde -j {args.jobs} (sandboxed)", lambda: primer_autograde(ours))
        in_kernel_seconds, _ = timed("  the same, tests in the kernel (before the judge)",
                                     lambda: primer_autograde(in_kernel))
        reference = scores(plain, args.assignments, args.students)
        same = reference == scores(ours, args.assignments, args.students) == scores(
            in_kernel, args.assignments, args.students)
        print(f"  speed-up over plain nbgrader:   {plain_seconds / ours_seconds:5.2f}x (target >= 1.8x)")
        print(f"  overhead over raw nbclient:     {ours_seconds / raw_seconds:5.2f}x (target <= 1.15x)")
        print(f"  judge over tests in the kernel: {ours_seconds / in_kernel_seconds:5.2f}x "
              f"({ours_seconds - in_kernel_seconds:+.1f} s; target <= 1.2x)")
        print(f"  identical scores:               {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
