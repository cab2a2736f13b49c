"""Every question is visible, and every exercise stands alone.

- Each manually graded answer cell in release/ comes right after a read-only
  markdown cell that asks its question (nbgrader wipes anything inside the
  answer cell itself).
- Leaving any one autograded answer unanswered (the release stub in place of
  its solution) fails only that exercise's own tests: the test cells between
  it and the next answer cell. Every other test cell of the notebook still
  passes, and every other code cell (demos, plots, later answers) still runs
  without an error, thanks to the course-provided fallbacks (primer.exercise).
"""
from __future__ import annotations

import copy
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor

import pytest
from nbgrader.preprocessors import ClearSolutions
from traitlets.config import Config

from conftest import REPO, is_autograded_test, nbgrader_meta, read_notebook, source_notebook
from notebook_runner import execute_in_assignment_copy

STUB_ONLY = re.compile(r"^\s*(YOUR ANSWER HERE)?\s*$")
# A question asks: a question mark, or a sentence that starts with an instruction.
ASKS = re.compile(r"\?|(^|[.:)*\"]\s+|^\W*)(Explain|Describe|List|Name|Say|Write|Give|Argue|Compare|"
                  r"Discuss|Suggest|Propose|Justify|Think of|In \w+ (to \w+ )?sentences)\b", re.MULTILINE)
VARIANT_WORKERS = 2  # the machine has 2 cores; one kernel per variant
# Two kernels at once, each with one BLAS/OpenMP thread: without this, their
# thread pools fight over the 2 cores and a notebook runs up to 4x slower.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _release_notebook(assignment: str):
    (path,) = (REPO / "release" / assignment).glob("*.ipynb")
    return read_notebook(path)


def _is_manual_answer(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution") and meta.get("grade")) and cell.cell_type == "markdown"


def _is_autograded_answer(cell) -> bool:
    return cell.cell_type == "code" and bool(nbgrader_meta(cell).get("solution"))


def _words(markdown: str) -> list[str]:
    text = re.sub(r"^#+.*$", "", markdown, flags=re.MULTILINE)  # headings alone ask nothing
    return re.findall(r"[A-Za-z]{2,}", text)


def test_every_written_answer_follows_its_question(assignment):
    cells = _release_notebook(assignment).cells
    problems = []
    for index, cell in enumerate(cells):
        if not _is_manual_answer(cell):
            continue
        grade_id = nbgrader_meta(cell)["grade_id"]
        before = cells[index - 1] if index else None
        if before is None or before.cell_type != "markdown" or not nbgrader_meta(before).get("locked"):
            problems.append(f"{grade_id}: the cell before it is not a read-only markdown question cell")
        elif STUB_ONLY.match(before.source) or len(_words(before.source)) < 8 or not ASKS.search(before.source):
            problems.append(f"{grade_id}: the cell before it asks nothing (no question mark, no "
                            f"'Explain/Describe/List...'): {before.source[-200:]!r}")
        elif nbgrader_meta(before).get("solution"):
            problems.append(f"{grade_id}: the question cell before it is itself an answer cell")
    assert problems == [], (
        f"{assignment}: written answers whose question students cannot see (put the question in a "
        "locked markdown cell right before the answer cell, docs/authoring.md):\n" + "\n".join(problems))


def _stubbed(cell):
    """The answer cell as the student gets it: nbgrader's own stub in place of the solution."""
    config = Config()
    config.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    cleared, _ = ClearSolutions(config=config).preprocess_cell(
        copy.deepcopy(cell), {"language": "python"}, 0)
    return cleared


def _own_tests(cells, answer_index: int) -> set[str]:
    """The test cells between this answer cell and the next one belong to its exercise."""
    own = set()
    for cell in cells[answer_index + 1:]:
        if _is_autograded_answer(cell):
            break
        if is_autograded_test(cell):
            own.add(nbgrader_meta(cell)["grade_id"])
    return own


def _error(cell) -> str | None:
    """The cell's error as "Name: message", or None if it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue', '')}"[:200]
    return None


def _failed_tests(executed) -> set[str]:
    return {nbgrader_meta(cell)["grade_id"] for cell in executed.cells
            if is_autograded_test(cell) and _error(cell)}


def _crashed_cells(executed, answer_index: int) -> list[str]:
    """Code cells other than tests and the unanswered cell itself that raised, as "cell N (id): error"."""
    return [f"cell {index} ({nbgrader_meta(cell).get('grade_id') or cell.get('id')}): {_error(cell)}"
            for index, cell in enumerate(executed.cells)
            if cell.cell_type == "code" and index != answer_index
            and not is_autograded_test(cell) and _error(cell)]


def _run_variant(assignment: str, answer_index: int) -> tuple[str, set[str], set[str], list[str]]:
    os.environ.update(ONE_THREAD)  # in the pool's worker process; its kernel inherits it
    notebook = read_notebook(source_notebook(assignment))
    answer = notebook.cells[answer_index]
    stub = _stubbed(answer)
    assert stub.source != answer.source, f"{nbgrader_meta(answer)['grade_id']}: nothing to clear"
    notebook.cells[answer_index] = stub
    executed = execute_in_assignment_copy(notebook, source_notebook(assignment).parent)
    return (nbgrader_meta(answer)["grade_id"], _own_tests(notebook.cells, answer_index),
            _failed_tests(executed), _crashed_cells(executed, answer_index))


@pytest.mark.slow
@pytest.mark.timeout(3600)  # one run of the notebook per answer cell
def test_an_unanswered_exercise_fails_only_its_own_tests(assignment):
    cells = read_notebook(source_notebook(assignment)).cells
    answers = [i for i, cell in enumerate(cells) if _is_autograded_answer(cell)]
    if not answers:
        assert not any(is_autograded_test(c) for c in cells), (
            f"{assignment}: autograded test cells without any answer cell before them")
        return
    # Fresh worker processes, not forks: earlier tests leave threads in this process (kernel
    # clients), and a fork taken while one of them holds a lock hangs the worker for good.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=VARIANT_WORKERS, mp_context=spawn) as pool:
        results = list(pool.map(_run_variant, [assignment] * len(answers), answers))
    problems = []
    for grade_id, own, failed, crashed in results:
        if crashed:
            problems.append(f"{grade_id} unanswered, yet other code cells raise (demos and plots must "
                            f"still run): {crashed}")
        if not own <= failed:
            problems.append(f"{grade_id} unanswered, yet its own tests pass: {sorted(own - failed)}")
        if failed - own:
            problems.append(f"{grade_id} unanswered takes other exercises' tests with it: "
                            f"{sorted(failed - own)}")
    assert problems == [], (
        f"{assignment}: exercises that do not stand alone (use primer.exercise.answer_or_provided "
        "where a later step needs an earlier result, or have the cell say which exercise to finish "
        "first, docs/authoring.md):\n" + "\n".join(problems))
