"""Run a solution notebook once, checking its own tests and the plausible wrong answers.

The notebook executes top to bottom in one kernel. At each autograded test cell
that has wrong answers listed in tests/wrong_answers/<assignment>.py, every
wrong answer replaces its solution cell, the cells in between run again, and
the test cell must now fail; then the real solution is restored (with the cells
from the wrong answer's ``rerun_from`` cell on, if it rebinds what an earlier
cell made) and the test cell must pass. One kernel per notebook keeps this fast.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import os

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import REPO, is_autograded_test, nbgrader_meta
from primer.testing import scratch_course


class OfflineKernelManager(KernelManager):
    """A kernel in a network namespace of its own: a notebook that needs the internet fails.

    It talks to us over Unix sockets (ZeroMQ's ipc transport), which cross
    network namespaces; TCP on loopback would not.
    """

    def format_kernel_cmd(self, extra_arguments=None):
        unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
        return [*unshare, "--", *super().format_kernel_cmd(extra_arguments)]


@dataclass
class RunReport:
    seconds: float = 0.0
    failed_cells: list[str] = field(default_factory=list)  # own tests that did not pass
    wrong_answers_passing: list[str] = field(default_factory=list)  # mistakes the tests missed
    tests_without_wrong_answer: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)


def offline_client(notebook, workdir: str, **options) -> NotebookClient:
    """An nbclient for ``notebook`` whose kernel runs in ``workdir`` with no network."""
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            kernel_manager_class=OfflineKernelManager,
                            resources={"metadata": {"path": workdir}}, **options)
    client.km = client.create_kernel_manager()
    client.km.transport, client.km.ip = "ipc", os.path.join(workdir, ".kernel")
    return client


def execute_in_assignment_copy(notebook, assignment_folder: Path):
    """Run every cell of ``notebook`` (errors do not stop it) in a copy of its folder; return it executed."""
    with tempfile.TemporaryDirectory(prefix="primer-variant-") as workdir:
        shutil.copytree(assignment_folder, workdir, dirs_exist_ok=True)
        offline_client(notebook, workdir, allow_errors=True).execute()
    return notebook


def load_wrong_answers(assignment: str) -> list[dict]:
    return scratch_course.load_wrong_answers(REPO, assignment)


def _grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def run_solution_notebook(notebook_path: Path, wrong_answers: list[dict]) -> RunReport:
    report = RunReport()
    notebook = nbformat.read(notebook_path, as_version=4)
    index_of = {_grade_id(c): i for i, c in enumerate(notebook.cells) if _grade_id(c)}
    by_test: dict[str, list[dict]] = {}
    for wrong in wrong_answers:
        missing = [wrong[k] for k in ("solution", "test", "rerun_from") if k in wrong and wrong[k] not in index_of]
        report.unknown_ids += missing
        if not missing:
            by_test.setdefault(wrong["test"], []).append(wrong)
    report.tests_without_wrong_answer = [
        _grade_id(c) for c in notebook.cells if is_autograded_test(c) and _grade_id(c) not in by_test]

    with tempfile.TemporaryDirectory(prefix="primer-run-") as workdir:
        # Run in a copy of the assignment folder: notebooks may write files.
        shutil.copytree(notebook_path.parent, workdir, dirs_exist_ok=True)
        # nbclient writes each executed cell back into the notebook it holds:
        # give it a copy so that the real solutions stay here to restore.
        client = offline_client(copy.deepcopy(notebook), workdir)

        last_error = [""]

        def runs(cell, index) -> bool:
            try:
                client.execute_cell(copy.deepcopy(cell), index)
                return True
            except CellExecutionError as error:
                last_error[0] = str(error).strip().splitlines()[-1][:300]
                return False

        start = time.perf_counter()
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                grade_id = _grade_id(cell)
                for wrong in by_test.get(grade_id, []):
                    first = index_of[wrong["solution"]]
                    mutated = copy.deepcopy(notebook.cells[first])
                    mutated.source = wrong["code"]
                    runs(mutated, first)
                    for between in range(first + 1, index):
                        if notebook.cells[between].cell_type == "code":
                            runs(notebook.cells[between], between)
                    if runs(cell, index):
                        report.wrong_answers_passing.append(f"{grade_id}: {wrong['why']}")
                    # Restore the real solution and what depends on it.
                    for between in range(min(first, index_of[wrong.get("rerun_from", wrong["solution"])]), index):
                        if notebook.cells[between].cell_type == "code":
                            runs(notebook.cells[between], between)
                if not runs(cell, index):
                    report.failed_cells.append(
                        f"cell {index} ({grade_id or 'no grade id'}): {last_error[0]}")
        report.seconds = time.perf_counter() - start
    return report
