"""Feedback that says which test failed and why, without showing the hidden tests.

nbgrader 0.9.6 puts the instructor's whole test cell back during autograde
(OverwriteCells copies it from the gradebook, which stored it before
ClearHiddenTests ran), so the autograded notebook -- and the feedback made
from it -- contains the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
region verbatim, and the traceback of a failing hidden assert quotes its
source line (nbgrader issue #917). `HideHiddenTests` runs inside
``nbgrader generate_feedback`` and, in every autograded test cell,

* replaces each hidden region by one comment, ``# 2 hidden tests run here``;
* keeps the visible tests and the outputs, but trims every error to
  ``ExceptionName: message`` (the assertion message the instructor wrote).

Enable it in nbgrader_config.py::

    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        "primer.grading.feedback.HideHiddenTests",
    ]
"""
from __future__ import annotations

import ast
import textwrap

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class HideHiddenTests(NbGraderPreprocessor):
    """Hide hidden tests and their tracebacks in the feedback of autograded test cells."""

    begin_test_delimeter = Unicode(
        "BEGIN HIDDEN TESTS",
        help="Marks the start of hidden tests (same as ClearHiddenTests.begin_test_delimeter)",
    ).tag(config=True)

    end_test_delimeter = Unicode(
        "END HIDDEN TESTS",
        help="Marks the end of hidden tests (same as ClearHiddenTests.end_test_delimeter)",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if is_test_cell(cell):
            cell.source = self.hide_hidden_regions(cell.source)
            cell.outputs = [trim_error(output) for output in cell.get("outputs", [])]
        return cell, resources

    def hide_hidden_regions(self, source: str) -> str:
        """The source with each hidden region replaced by a one-line placeholder."""
        kept, hidden, indent = [], None, ""
        for line in source.split("\n"):
            if hidden is None and self.begin_test_delimeter in line:
                hidden, indent = [], line[: len(line) - len(line.lstrip())]
            elif hidden is not None and self.end_test_delimeter in line:
                kept.append(indent + placeholder(count_tests("\n".join(hidden))))
                hidden = None
            elif hidden is not None:
                hidden.append(line)
            else:
                kept.append(line)
        if hidden is not None:  # no END marker: hide everything after BEGIN, never show it
            kept.append(indent + placeholder(count_tests("\n".join(hidden))))
        return "\n".join(kept)


def is_test_cell(cell) -> bool:
    """An autograded test cell: a code cell worth points that holds no answer."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return (cell.get("cell_type") == "code" and isinstance(meta, dict)
            and utils.is_grade(cell) and not utils.is_solution(cell))


def count_tests(code: str) -> int | None:
    """How many assert statements and assert_* calls the code holds; None if it does not parse."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Assert) or _is_assert_call(node))


def _is_assert_call(node) -> bool:
    # numpy.testing.assert_allclose, pandas.testing.assert_frame_equal, self.assertEqual, ...
    if not isinstance(node, ast.Call):
        return False
    name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
    return name.lower().startswith("assert")


def placeholder(count: int | None) -> str:
    if not count:
        return "# hidden tests run here"
    if count == 1:
        return "# 1 hidden test runs here"
    return f"# {count} hidden tests run here"


def trim_error(output):
    """An error output reduced to ``Name: message``: its traceback quotes the hidden source."""
    if output.get("output_type") != "error":
        return output
    name, message = output.get("ename", "Error"), output.get("evalue", "")
    output["traceback"] = [f"{name}: {message}" if message else name]
    return output
