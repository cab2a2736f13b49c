"""Benchmark: the grader's peak memory while a submission floods it with huge messages.

    python benchmarks/grader_flood_memory.py [--python PYTHON] [--messages 3] [--mib 300] [--reply-mib 0]

Grades, with plain `nbgrader autograde` run by PYTHON (default: this
environment; give another checkout's venv python to compare), a class of two:
one honest student and one whose notebook prints ``--messages`` strings of
``--mib`` MiB each (each one kernel message) and, with ``--reply-mib``, ends its cell
with a reply of that size (a page payload on the shell channel). Prints the largest resident size
of any grading process (the kernels, which run as other accounts, are not
counted) and whether the honest student was graded. Run as root, as grading
runs on the hub.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from primer.testing.grader_memory import watch_grader_peak_rss
from primer.testing.scratch_course import ScratchCourse

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "flood"


def _meta(grade_id, **flags):
    return {"nbgrader": {"grade_id": grade_id, "grade": False, "solution": False, "locked": False,
                         "schema_version": 3, **flags}}


def _source():
    return new_notebook(cells=[
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=_meta("square", solution=True)),
        new_code_cell("assert square(3) == 9", metadata=_meta("test_square", grade=True, locked=True, points=1)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs nbgrader")
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--mib", type=int, default=300)
    parser.add_argument("--reply-mib", type=int, default=0,
                        help="the size of the flooding cell's reply (shell channel), 0: none")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="primer-flood-") as base:
        course = ScratchCourse(Path(base) / "course", REPO)
        (course.root / "source" / ASSIGNMENT).mkdir()
        nbformat.write(_source(), course.root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        course.generate(ASSIGNMENT)
        release = nbformat.read(course.root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        release.cells[0].source = "def square(x):\n    return x * x"
        course.submit("honest", ASSIGNMENT, release)
        flood = nbformat.from_dict(release)
        flood.cells.insert(0, new_code_cell(
            f"import sys\nfor _ in range({args.messages}):\n    sys.stdout.write('x' * ({args.mib} << 20))\n"
            "    sys.stdout.flush()\n" + (
                "get_ipython().payload_manager.write_payload("
                f"{{'source': 'page', 'data': {{'text/plain': 'x' * ({args.reply_mib} << 20)}}}})"
                if args.reply_mib else "")))
        course.submit("flooder", ASSIGNMENT, flood)
        env = {**os.environ, "PATH": f"{Path(args.python).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        peak, done = {"bytes": 0}, threading.Event()
        started = time.monotonic()
        with subprocess.Popen([args.python, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                              cwd=course.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as process:
            watcher = threading.Thread(target=watch_grader_peak_rss, args=(process.pid, peak, done, 0.05))
            watcher.start()
            output, _ = process.communicate()
            done.set()
            watcher.join()
        seconds = time.monotonic() - started
        graded = (course.root / "autograded" / "honest" / ASSIGNMENT).is_dir()
        flooder = (course.root / "autograded" / "flooder" / ASSIGNMENT).is_dir()
        if os.environ.get("BENCH_LOG"):
            print(output[-int(os.environ["BENCH_LOG"]):])
        print(f"grader: {args.python}")
        print(f"flood: {args.messages} messages of {args.mib} MiB, a reply of {args.reply_mib} MiB")
        print(f"grader peak resident size: {peak['bytes'] / 2 ** 20:.0f} MiB; wall time {seconds:.1f} s; "
              f"honest student graded: {graded}; flooding student graded: {flooder}")


if __name__ == "__main__":
    main()
