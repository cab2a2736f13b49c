"""Hidden tests say what they checked, never the value they expected.

Provisional feedback (the grading queue, up to six submissions an hour) shows
the message of every failed hidden assert: a message that carries the
expected value turns the hidden test into an oracle. For every hidden test of
the course (``### BEGIN HIDDEN TESTS`` in source/*/*.ipynb), each assert's
message

* is a plain string or an f-string (no ``+``, ``%`` or ``.format`` to hide
  an interpolation in);
* interpolates only the student's own names (``got {slope}``), never a name
  the hidden test computes (its reference results, its fresh inputs, what the
  student's code returned on them), never a call (``{int(mask.sum())}``);
* holds only numbers that the student's own notebook (the release) already
  shows: hidden numbers (``expected about 0.702``) are answers.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")


def _notebooks():
    return sorted(REPO.glob("source/*/*.ipynb"))


def _hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) inside the hidden regions of a cell."""
    lines, inside = set(), False
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _assigned(tree: ast.AST, hidden: set[int]) -> set[str]:
    """Every name the hidden lines bind: assignments, loops, imports, functions, arguments."""
    names = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) not in hidden:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            names.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg))
        elif isinstance(node, ast.Lambda):
            names.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _root_name(node) -> str | None:
    """The name at the root of ``a``, ``a.b``, ``a[0]``, ``a.b["c"]``; None for anything else."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
            return None
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _message_problems(message: ast.AST, hidden_names: set[str], shown: set[str]) -> list[str]:
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        texts, values = [message.value], []
    elif isinstance(message, ast.JoinedStr):
        texts = [part.value for part in message.values if isinstance(part, ast.Constant)]
        values = [part.value for part in message.values if isinstance(part, ast.FormattedValue)]
    else:
        return [f"the message is built by {type(message).__name__}: write a plain or f-string"]
    problems = []
    for value in values:
        root = _root_name(value)
        if root is None:
            problems.append(f"interpolates {ast.unparse(value)!r}: a computation, not the student's name")
        elif root in hidden_names:
            problems.append(f"interpolates {ast.unparse(value)!r}, which the hidden test computes")
    for text in texts:
        for number in NUMBER.findall(text):
            if number not in shown:
                problems.append(f"says {number}, which the student's notebook never shows")
    return problems


def _hidden_messages(path: Path):
    """(grade_id, line, message problems) of every hidden assert of a notebook."""
    release = REPO / "release" / path.parent.name / path.name
    shown = set(NUMBER.findall("\n".join(c.source for c in nbformat.read(release, as_version=4).cells)))
    for cell in nbformat.read(path, as_version=4).cells:
        hidden = _hidden_lines(cell.source)
        if cell.cell_type != "code" or not hidden:
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        tree = ast.parse(cell.source)
        names = _assigned(tree, hidden)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert) and node.lineno in hidden and node.msg is not None:
                yield grade_id, node.lineno, _message_problems(node.msg, names, shown)


@pytest.mark.parametrize("notebook", _notebooks(), ids=lambda p: p.parent.name)
def test_hidden_test_messages_never_give_the_expected_value(notebook):
    found = [f"{grade_id} line {line}: {problem}" for grade_id, line, problems in _hidden_messages(notebook)
             for problem in problems]
    if found:
        pytest.fail(f"{notebook.relative_to(REPO)}: hidden test messages that give answers away:\n"
                    + "\n".join(found), pytrace=False)


def test_the_course_has_hidden_tests_with_messages():
    """The check above looks at something: the course's hidden tests carry messages."""
    messages = [m for path in _notebooks() for m in _hidden_messages(path)]
    assert len(messages) > 100
