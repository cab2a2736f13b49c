"""Find answers that use the results the course ships for unanswered exercises.

A locked cell after an exercise's tests falls back to ``primer/provided/<name>.npz``
when the student's answer does not run (primer.exercise.answer_or_provided).
The same file, loaded in an answer, would pass the hidden tests without the
work. This is a static look at the student's code (every answer cell, and
every code cell the student added or changed), not a proof: a match only
flags the submission for a person, its score stays (the answer may be
honest), and code that hides the names (strings pieced together, importlib)
is not caught here.

The course's own calls, in the release's locked cells, are never looked at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from primer.grading.repair import submitted_nbgrader_meta

# What gives an answer the course's provided results; the first match names the finding.
PROVIDED_PATTERNS = [
    ("load_provided", re.compile(r"\bload_provided\b")),
    ("answer_or_provided", re.compile(r"\banswer_or_provided\b")),
    ("primer.exercise", re.compile(r"\bprimer\s*\.\s*exercise\b|\bfrom\s+primer\s+import\b[^\n]*\bexercise\b")),
    ("primer.provided", re.compile(r"\bprimer\s*\.\s*provided\b|\bfrom\s+primer\s+import\b[^\n]*\bprovided\b")),
    ("a file in primer/provided", re.compile(r"primer[/\\]+provided|provided[/\\][^\n'\"]*\.npz")),
]


@dataclass
class ProvidedUse:
    label: str  # the answer cell's grade_id, or where the student's own cell is
    used: str  # the first pattern it matched
    tests: list[str]  # grade_ids of the graded cells a person should check

    @property
    def flag(self) -> str:
        return (f"{self.label}: the answer uses the results the course provides ({self.used}): "
                "a person should check it")


def uses_of_provided_results(notebook, release) -> list[ProvidedUse]:
    """The student's cells of ``notebook`` that use the course's provided results.

    ``notebook`` must already carry the release's grading metadata
    (primer.grading.repair.restore_protected_cells): its answer cells are the
    release's, and a cell without a grade_id is the student's own unless the
    release has the very same ungraded cell.
    """
    ungraded_release = {cell.source for cell in release.cells
                        if cell.cell_type == "code" and not submitted_nbgrader_meta(cell).get("grade_id")}
    uses, previous = [], "the top"
    for index, cell in enumerate(notebook.cells):
        meta = submitted_nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        own_cell = not meta.get("grade_id") and cell.source not in ungraded_release
        used = _first_match(cell.source) if meta.get("solution") or own_cell else None
        if used:
            label = meta.get("grade_id") if meta.get("solution") else f"a cell added after {previous}"
            uses.append(ProvidedUse(label, used, _tests_of(notebook.cells, index)))
        previous = meta.get("grade_id") or previous
    return uses


def _first_match(source: str) -> str | None:
    return next((name for name, pattern in PROVIDED_PATTERNS if pattern.search(source)), None)


def _tests_of(cells, index: int) -> list[str]:
    """The graded cells of the exercise that starts at ``index``: it, if graded, and the
    graded cells after it up to the next answer cell."""
    answer = submitted_nbgrader_meta(cells[index])
    tests = [answer.get("grade_id")] if answer.get("grade") else []
    for cell in cells[index + 1:]:
        meta = submitted_nbgrader_meta(cell)
        if meta.get("solution"):
            break
        if meta.get("grade") and meta.get("grade_id"):
            tests.append(meta["grade_id"])
    return tests
