"""Benchmark: one synthetic class graded by `primer autograde -j 2` and by Slurm on the local cluster.

The same class (>= 120 submissions of one assignment: correct, partly wrong
and blank work) is graded twice, on this machine's cores: by the local
backend with 2 workers, and by `--backend slurm` on a one-node Slurm cluster
started for the run (scripts/slurm-cluster; one array task per submission,
one CPU each). It prints the wall time per submission of each, the
scheduler's overhead (Slurm's extra time per submission), whether the scores
are identical, and a paper estimate, from the measured cost per submission,
of the cluster needed to grade 1,000 students x 7 assignments in 30 minutes.
Run as root: `make bench-cluster` (or with --students/--assignment).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_benchmark import build_class, scores  # noqa: E402
from slurm_cluster import local_slurm  # noqa: E402

TARGET_SUBMISSIONS, TARGET_SECONDS = 1000 * 7, 30 * 60


def grade(course: Path, assignment: str, backend: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "primer.cli", "autograde", assignment, *backend,
                           "--course", str(course)], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "0 failed" not in done.stdout:
        print(f"  (exit status {done.returncode})", done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=120)
    parser.add_argument("--assignment", default="00_setup")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: the local Slurm cluster needs root: sudo make bench-cluster", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 2
    n = args.students
    with tempfile.TemporaryDirectory(prefix="primer-bench-cluster-") as scratch:
        print(f"class: {n} submissions of {args.assignment}; {cores} cores", flush=True)
        local = build_class(Path(scratch) / "local", [args.assignment], n)
        on_slurm = Path(scratch) / "slurm"
        shutil.copytree(local.root, on_slurm, symlinks=True)
        local_seconds = grade(local.root, args.assignment, ["-j", "2"])
        print(f"  local -j 2:      {local_seconds:7.1f} s   {local_seconds / n:5.2f} s per submission", flush=True)
        with local_slurm() as env:
            slurm_seconds = grade(on_slurm, args.assignment, ["--backend", "slurm"], env=env)
        print(f"  slurm (1 node):  {slurm_seconds:7.1f} s   {slurm_seconds / n:5.2f} s per submission", flush=True)
        theirs = local.__class__.__new__(local.__class__)
        theirs.root = on_slurm
        same = scores(local, [args.assignment], n) == scores(theirs, [args.assignment], n)

    core_seconds = local_seconds * 2 / n  # one submission's grading, on one core
    overhead = (slurm_seconds - local_seconds) * 2 / n  # Slurm's extra core-seconds per submission
    print(f"  scheduler overhead: {slurm_seconds / local_seconds - 1:+.0%} of the wall time, "
          f"{overhead:+.2f} core-s per submission")
    print(f"  identical scores:   {same}")
    per_task = core_seconds + max(overhead, 0.0)
    needed = math.ceil(TARGET_SUBMISSIONS * per_task / TARGET_SECONDS)
    print(f"paper estimate: 1,000 students x 7 assignments = {TARGET_SUBMISSIONS} submissions in "
          f"{TARGET_SECONDS // 60} min, at {per_task:.2f} core-s each (this assignment, with Slurm's "
          f"overhead): {needed} cores busy at once, e.g. {math.ceil(needed / 32)} node(s) of 32 cores")
    for notebook_seconds in (10, 30):  # the course's real notebooks take 10-30 s each (DESIGN.md)
        heavy = math.ceil(TARGET_SUBMISSIONS * (notebook_seconds + per_task) / TARGET_SECONDS)
        print(f"  if each notebook runs {notebook_seconds} s: {heavy} cores "
              f"({math.ceil(heavy / 32)} nodes of 32 cores)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
