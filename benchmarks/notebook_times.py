"""Benchmark: how long each solution notebook in source/ takes to run, top to bottom.

Each notebook runs --repeat times in a fresh kernel (as a student's "Restart and
run all" would). The course's budget on 2 cores: no notebook's median over 20 s,
and the median over all notebooks at most 10 s. Prints one line per notebook,
then the course's median. Run: `make bench-notebooks`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
import shutil

import nbformat
from nbclient import NotebookClient

from primer.course import assignment_names, find_repo, source_notebook

REPO = find_repo(Path(__file__).parent)

BUDGET_SECONDS = 20.0  # any one notebook
COURSE_MEDIAN_BUDGET = 10.0  # the median over all notebooks


def run_once(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="primer-bench-nb-") as workdir:
        shutil.copytree(path.parent, workdir, dirs_exist_ok=True)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": workdir}}).execute()
        return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'assignment':<20} {'median':>8} {'min':>8} {'max':>8}   (budget {BUDGET_SECONDS:.0f} s, "
          f"{args.repeat} runs each)")
    over, medians = [], []
    for assignment in assignment_names(REPO):
        times = [run_once(source_notebook(REPO, assignment)) for _ in range(args.repeat)]
        median = statistics.median(times)
        medians.append(median)
        flag = "  OVER BUDGET" if median > BUDGET_SECONDS else ""
        print(f"{assignment:<20} {median:7.1f}s {min(times):7.1f}s {max(times):7.1f}s{flag}", flush=True)
        if flag:
            over.append(assignment)
    course_median = statistics.median(medians)
    flag = "  OVER BUDGET" if course_median > COURSE_MEDIAN_BUDGET else ""
    print(f"{'all notebooks':<20} {course_median:7.1f}s   (median of the medians; budget "
          f"{COURSE_MEDIAN_BUDGET:.0f} s){flag}")
    return 1 if over or flag else 0


if __name__ == "__main__":
    sys.exit(main())
