"""Make the book's copies of the student notebooks, with the figures a student sees.

Runs in the COURSE venv (it has the kernel's packages: numpy, nilearn, torch,
primer). For every assignment in release/ (the student versions nbgrader made;
never source/, which holds solutions and hidden tests) it

1. executes a copy of the release notebook, offline (the kernel has a network
   namespace of its own and talks to us over Unix sockets), cell by cell,
   going on after errors. Answer cells raise NotImplementedError there, and
   cells that need an answer fail after them: exactly what a student sees
   before answering;
2. keeps the outputs of cells that ran cleanly and are neither answer nor test
   cells; every other code cell keeps no output (no tracebacks, no test results);
3. for a read-only cell that failed only because it needs an answer, takes the
   FIGURES (images only: no text, which could print an answer) that the same
   cell drew when the instructor's notebook ran, and only when that cell's code
   is identical in source/ and release/. A note under it says so. The
   instructor's notebook runs in a temporary copy; nothing of its code reaches
   the book (tests/test_book.py checks the built site for every solution line
   and hidden test);
4. tags cells for a reveal.js slide show (``slideshow.slide_type``) unless the
   author already did: a new slide at each ``#``/``##`` heading, a sub-slide at
   each ``###`` heading, the rest on the same slide;
5. adds, after the opening cell (title, objectives), the "Open on the hub" link
   and the link to the slides.

Output: book/notebooks/<assignment>/<notebook>.ipynb (generated, git-ignored).
Executed notebooks are cached in book/.cache/ by the hash of their inputs; two
kernels run at a time.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BOOK = Path(__file__).resolve().parents[1]
REPO = BOOK.parent
COURSE_ID = "primer"  # nbgrader_config.py: CourseDirectory.course_id, path_includes_course
HUB_LINK_CLASS = "primer-hub-link"
SLIDES_LINK_CLASS = "primer-slides-link"


class OfflineKernelManager(KernelManager):
    """A kernel without network: a notebook that tries to download fails at once."""

    def format_kernel_cmd(self, extra_arguments=None):
        unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
        return [*unshare, "--", *super().format_kernel_cmd(extra_arguments)]


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell) -> bool:
    return bool(nbgrader(cell).get("solution"))


def is_test(cell) -> bool:
    meta = nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def hub_url(base: str, assignment: str, notebook: str) -> str:
    return f"{base.rstrip('/')}/hub/user-redirect/lab/tree/{COURSE_ID}/{assignment}/{notebook}"


def execute(notebook, workdir: Path, timeout: int) -> tuple[set[int], float]:
    """Run every code cell; return the indices of the cells that raised."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            kernel_manager_class=OfflineKernelManager,
                            resources={"metadata": {"path": str(workdir)}})
    client.km = client.create_kernel_manager()
    client.km.transport, client.km.ip = "ipc", str(workdir / ".kernel")
    failed: set[int] = set()
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError:
                failed.add(index)
    return failed, time.perf_counter() - start


IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def figures_of(cell) -> list:
    """The image outputs of a code cell, with every other representation dropped."""
    figures = []
    for output in cell.get("outputs", []):
        if output.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = {k: v for k, v in output.get("data", {}).items() if k in IMAGE_TYPES}
        if data:
            figures.append(nbformat.v4.new_output("display_data", data=data,
                                                  metadata=output.get("metadata", {})))
    return figures


def input_key(*paths: Path) -> str:
    digest = hashlib.sha256()
    # The notebook, this script, the pinned packages and the course package (data loaders).
    course_code = sorted((REPO / "primer").rglob("*.py"))
    for path in (*paths, Path(__file__), REPO / "constraints.txt", *course_code):
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def executed_copy(job: tuple[str, str, int]) -> tuple[str, list[int], float]:
    """Execute one notebook (cached by the hash of its inputs); return where the result is."""
    notebook_path, cache_path, timeout = Path(job[0]), Path(job[1]), job[2]
    key = input_key(notebook_path)
    meta_path = cache_path.with_suffix(".json")
    if cache_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return str(cache_path), meta["failed"], 0.0
    notebook = nbformat.read(notebook_path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="primer-book-") as tmp:
        workdir = Path(tmp)
        shutil.copytree(notebook_path.parent, workdir, dirs_exist_ok=True)
        failed, seconds = execute(notebook, workdir, timeout)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, cache_path)
    meta_path.write_text(json.dumps({"key": key, "failed": sorted(failed),
                                     "seconds": round(seconds, 1)}))
    return str(cache_path), sorted(failed), seconds


def slide_type(cell) -> str:
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if re.match(r"#{1,2} ", first):
            return "slide"
        if re.match(r"#{3,} ", first):
            return "subslide"
    return "-"


def links_cell(assignment: str, notebook_name: str, hub: str):
    url = hub_url(hub, assignment, notebook_name)
    slides = f"../../slides/{assignment}.slides.html"
    text = (
        '<p class="primer-links">'
        f'<a class="{HUB_LINK_CLASS}" href="{url}">Open on the hub</a> · '
        f'<a class="{SLIDES_LINK_CLASS}" href="{slides}">View as slides</a></p>\n\n'
        f"*Fetch* `{assignment}` in the hub's **Assignments** panel first; the link then opens "
        f"your own copy, `{COURSE_ID}/{assignment}/{notebook_name}`. This page is the student "
        "version: answer cells say `YOUR CODE HERE` and figures that need your answers are "
        "missing until you run the notebook yourself."
    )
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["primer-links", "remove-cell-slides"]
    cell.metadata["slideshow"] = {"slide_type": "skip"}
    return cell


SOLUTION_FIGURE_NOTE = ("*The figure above was drawn by the worked solution; your notebook "
                        "draws it once your answers run.*")


def prepare(release_notebook: Path, release_run: tuple, source_run: tuple | None,
            out_dir: Path, hub: str) -> dict:
    assignment = release_notebook.parent.name
    executed = nbformat.read(release_run[0], as_version=4)
    failed = set(release_run[1])
    solved = nbformat.read(source_run[0], as_version=4) if source_run else None
    if solved is not None and len(solved.cells) != len(executed.cells):
        solved = None  # source/ and release/ out of sync: take nothing from source/
    solved_failed = set(source_run[1]) if source_run else set()

    cells, kept, borrowed = [], 0, 0
    for index, cell in enumerate(executed.cells):
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                output["execution_count"] = None
        if is_answer(cell) or is_test(cell):
            cell.outputs = []
            continue
        if index not in failed:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
            kept += bool(cell.outputs)
            continue
        cell.outputs = []
        twin = solved.cells[index] if solved is not None else None
        if (twin is not None and index not in solved_failed and twin.cell_type == "code"
                and twin.source == cell.source and not is_answer(twin) and not is_test(twin)):
            cell.outputs = figures_of(twin)
            if cell.outputs:
                borrowed += 1
                note = nbformat.v4.new_markdown_cell(SOLUTION_FIGURE_NOTE)
                note.metadata["tags"] = ["primer-solution-figure"]
                cells.append(note)
    executed.cells = cells
    for cell in executed.cells:
        cell.metadata.setdefault("slideshow", {}).setdefault("slide_type", slide_type(cell))
        # Tests are for the hub; the book shows them folded.
        if is_test(cell):
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
    executed.cells.insert(1, links_cell(assignment, release_notebook.name, hub))
    executed.metadata["primer_book"] = {"assignment": assignment}

    target = out_dir / assignment / release_notebook.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, target)
    return {"assignment": assignment, "notebook": release_notebook.name,
            "cells_with_outputs": kept, "figures_from_solution_run": borrowed,
            "cells_waiting_for_answers": len(failed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, default=REPO / "release")
    parser.add_argument("--out", type=Path, default=BOOK / "notebooks")
    parser.add_argument("--hub-url", default=os.environ.get("PRIMER_BOOK_HUB_URL",
                                                            "http://127.0.0.1:8000"))
    parser.add_argument("--source", type=Path, default=REPO / "source")
    parser.add_argument("--cache", type=Path, default=BOOK / ".cache" / "executed")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    args = parser.parse_args()
    if not re.match(r"https?://[^/\s]+", args.hub_url):
        parser.error(f"the hub URL should look like https://hub.example.org, not {args.hub_url!r}")

    notebooks = sorted(p for p in args.release.glob("*/*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        print(f"error: no notebooks in {args.release}/*/: run `make release` first", file=sys.stderr)
        return 1
    jobs = {}
    for path in notebooks:
        assignment = path.parent.name
        jobs[("release", path)] = (str(path), str(args.cache / "release" / assignment / path.name),
                                   args.timeout)
        twin = args.source / assignment / path.name
        if twin.exists():
            jobs[("source", path)] = (str(twin), str(args.cache / "source" / assignment / path.name),
                                      args.timeout)
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {key: pool.submit(executed_copy, job) for key, job in jobs.items()}
        runs = {key: future.result() for key, future in futures.items()}
    for (kind, path), (_, _, seconds) in sorted(runs.items(), key=lambda kv: str(kv[0][1])):
        if seconds:
            print(f"  executed {kind}/{path.parent.name}/{path.name} in {seconds:.1f} s", flush=True)
            if seconds > 30:
                print(f"  warning: over the 30 s budget", flush=True)

    if args.out.exists():
        shutil.rmtree(args.out)
    report = []
    for path in notebooks:
        row = prepare(path, runs[("release", path)], runs.get(("source", path)), args.out,
                      args.hub_url)
        print(f"  {row['assignment']}/{row['notebook']}: {row['cells_with_outputs']} cells with "
              f"the student's outputs, {row['figures_from_solution_run']} figures from the "
              f"solution run, {row['cells_waiting_for_answers']} cells wait for answers", flush=True)
        report.append(row)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"  notebooks ready in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
