"""Benchmark: how long each solution notebook in source/ takes to run, top to bottom.

Each notebook runs --repeat times in a fresh kernel (as a student's "Restart and
run all" would); the median is checked against the course's budget of 30 s on
2 cores. Prints one line per notebook. Run: `make bench-notebooks`.
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

BUDGET_SECONDS = 30.0


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
    over = []
    for assignment in assignment_names(REPO):
        times = [run_once(source_notebook(REPO, assignment)) for _ in range(args.repeat)]
        median = statistics.median(times)
        flag = "  OVER BUDGET" if median > BUDGET_SECONDS else ""
        print(f"{assignment:<20} {median:7.1f}s {min(times):7.1f}s {max(times):7.1f}s{flag}", flush=True)
        if flag:
            over.append(assignment)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
