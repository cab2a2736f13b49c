"""Read the attendees' answers to the feedback survey (``07_feedback``) into one table.

The survey notebook (``source/07_feedback/feedback.ipynb``) asks for

- ratings from 1 (poor) to 5 (excellent) per workshop block, in an editable code
  cell (tagged ``feedback-ratings``) that assigns a dictionary ``ratings = {...}``
  and a string ``pace``;
- free text in markdown answer cells (nbgrader grade ids ``what-worked``,
  ``what-to-change``, ``anything-else``).

:func:`collect_feedback` reads every ``submitted/<student>/07_feedback/feedback.ipynb``
(or, for students without one, ``autograded/<student>/...``) under an nbgrader course
directory *without executing anything* (the cells are parsed, never run) and returns
one row per student. A broken or half-filled notebook never stops the table: its
missing values are NaN and its ``problem`` column says what was wrong.

From the command line::

    python -m primer.feedback_survey <course_root> [--csv out.csv]
"""

from __future__ import annotations

import argparse
import ast
import math
import re
import sys
from pathlib import Path

import pandas as pd

__all__ = [
    "RATING_BLOCKS",
    "PACE_CHOICES",
    "FREE_TEXT_CELLS",
    "check_ratings",
    "read_feedback_notebook",
    "collect_feedback",
    "main",
]

#: The blocks attendees rate, in workshop order (keys of ``ratings``).
RATING_BLOCKS = (
    "setup",
    "prerequisites",
    "ml_model_types",
    "ml_evaluation",
    "ml_tuning",
    "dl_basics",
    "dl_training",
    "overall",
)
#: Allowed answers for ``pace``.
PACE_CHOICES = ("too slow", "just right", "too fast")
#: nbgrader grade id of each free-text answer cell -> column name in the table.
FREE_TEXT_CELLS = {
    "what-worked": "what_worked",
    "what-to-change": "what_to_change",
    "anything-else": "anything_else",
}
RATINGS_TAG = "feedback-ratings"
_UNANSWERED = {"", "YOUR ANSWER HERE"}
_ASSIGNS_RATINGS = re.compile(r"^\s*ratings\s*=", re.MULTILINE)


def _rating_problem(block, value):
    """None if ``value`` is a valid rating (1-5 or None), else what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 1 <= value <= 5:
        return f"rating for {block!r} must be a number from 1 to 5 or None, got {value!r}"
    return None


def check_ratings(ratings, pace=None, blocks=RATING_BLOCKS):
    """Check a student's answers; print a short summary or raise a clear ValueError.

    Used by the survey notebook right below the ratings cell, so attendees see at
    once whether the instructor will be able to read their answers.
    """
    if not isinstance(ratings, dict):
        raise ValueError(
            "ratings should be a dictionary like {'setup': 4, ...}; "
            f"got a {type(ratings).__name__}. Re-run the cell above after fixing it."
        )
    unknown = sorted(set(ratings) - set(blocks))
    if unknown:
        raise ValueError(
            f"unknown block(s) {unknown}: keep the names of the template "
            f"({', '.join(blocks)}) and only change the values."
        )
    problems = [p for p in (_rating_problem(b, ratings.get(b)) for b in blocks) if p]
    if problems:
        raise ValueError("; ".join(problems))
    if pace is not None and pace not in PACE_CHOICES:
        raise ValueError(f"pace should be one of {PACE_CHOICES} or None; got {pace!r}.")
    rated = [b for b in blocks if ratings.get(b) is not None]
    print(f"Thank you! You rated {len(rated)} of {len(blocks)} blocks"
          + (f" and said the pace was {pace!r}." if pace else "."))


def _literal(node):
    return ast.literal_eval(node)


def _parse_ratings_source(source):
    """Return (ratings dict, pace, problems) from the code of the ratings cell."""
    problems = []
    ratings, pace = None, None
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return None, None, [f"ratings cell is not valid Python ({error.msg}, line {error.lineno})"]
    for statement in tree.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        try:
            if isinstance(target, ast.Name) and target.id == "ratings":
                value = _literal(statement.value)
                if not isinstance(value, dict):
                    problems.append(f"ratings is a {type(value).__name__}, not a dictionary")
                    continue
                ratings = dict(value)
            elif isinstance(target, ast.Name) and target.id == "pace":
                pace = _literal(statement.value)
            elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                  and target.value.id == "ratings"):
                key = _literal(target.slice)
                if ratings is None:
                    ratings = {}
                ratings[key] = _literal(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            problems.append(
                f"line {statement.lineno} of the ratings cell is not a plain value "
                "(write numbers such as 4, or None)"
            )
    return ratings, pace, problems


def _find_ratings_cell(nb):
    tagged = [c for c in nb.cells if RATINGS_TAG in c.get("metadata", {}).get("tags", [])]
    if tagged:
        return tagged[0]
    for cell in nb.cells:  # the tag was lost: the first code cell that assigns ratings
        if cell.get("cell_type") == "code" and _ASSIGNS_RATINGS.search(cell.get("source", "")):
            return cell
    return None


def _empty_row(blocks):
    row = {block: math.nan for block in blocks}
    row["pace"] = math.nan
    row.update({column: math.nan for column in FREE_TEXT_CELLS.values()})
    return row


def read_feedback_notebook(path, blocks=RATING_BLOCKS):
    """Read one filled-in survey notebook into a dict (one table row).

    Never raises for a bad notebook: the row's ``problem`` entry (None when
    all is well) lists everything that could not be read.
    """
    import nbformat

    row = _empty_row(blocks)
    problems = []
    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        row["problem"] = f"no notebook {Path(path).name}"
        return row
    except Exception as error:  # invalid JSON, wrong format, unreadable file...
        row["problem"] = f"could not read notebook ({type(error).__name__}: {str(error)[:120]})"
        return row

    cell = _find_ratings_cell(nb)
    if cell is None:
        problems.append("ratings cell missing")
    else:
        ratings, pace, parse_problems = _parse_ratings_source(cell.get("source", ""))
        problems.extend(parse_problems)
        if ratings is None and not parse_problems:
            problems.append("no ratings dictionary in the ratings cell")
        for key, value in (ratings or {}).items():
            if key not in blocks:
                problems.append(f"unknown block {key!r}")
                continue
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    pass
            problem = _rating_problem(key, value)
            if problem:
                problems.append(problem)
            elif value is not None:
                row[key] = float(value)
        if pace is not None:
            if pace in PACE_CHOICES:
                row["pace"] = pace
            else:
                problems.append(f"pace should be one of {PACE_CHOICES}, got {pace!r}")

    by_id = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for grade_id, column in FREE_TEXT_CELLS.items():
        text_cell = by_id.get(grade_id)
        if text_cell is None:
            problems.append(f"answer cell {grade_id!r} missing")
            continue
        text = text_cell.get("source", "").strip()
        if text not in _UNANSWERED:
            row[column] = text
    row["problem"] = "; ".join(problems) if problems else None
    return row


def _timestamp(folder):
    stamp = Path(folder) / "timestamp.txt"
    try:
        return stamp.read_text().strip() or None
    except OSError:
        return None


def collect_feedback(course_root, assignment="07_feedback", notebook="feedback.ipynb",
                     sources=("submitted", "autograded"), blocks=RATING_BLOCKS):
    """One row per student with their survey answers, read from an nbgrader course.

    Parameters
    ----------
    course_root : str or Path
        The nbgrader course directory (holding ``submitted/`` and/or ``autograded/``).
    assignment : str, default "07_feedback"
    notebook : str, default "feedback.ipynb"
    sources : tuple of str, default ("submitted", "autograded")
        Folders to look in, in order of preference: a student's notebook is read
        from the first one that has their assignment folder.
    blocks : sequence of str
        The rating keys to expect (the template's).

    Returns
    -------
    pandas.DataFrame
        Columns ``student``, ``source``, ``timestamp``, one float column per block
        (1-5, NaN when not rated), ``pace``, ``what_worked``, ``what_to_change``,
        ``anything_else`` (NaN when left empty) and ``problem`` (NaN, or what could
        not be read). Sorted by student; empty (with these columns) when nobody
        submitted.
    """
    root = Path(course_root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"course directory {str(root)!r} does not exist: pass the folder that holds "
            "nbgrader's submitted/ and autograded/ folders."
        )
    unknown = [s for s in sources if s not in ("submitted", "autograded")]
    if unknown or not sources:
        raise ValueError(f"sources must be 'submitted' and/or 'autograded'; got {sources!r}.")
    blocks = tuple(blocks)
    found = {}
    for source in sources:
        base = root / source
        if not base.is_dir():
            continue
        for student_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            folder = student_dir / assignment
            if student_dir.name in found or not folder.is_dir():
                continue
            found[student_dir.name] = (source, folder)

    columns = (["student", "source", "timestamp", *blocks, "pace",
                *FREE_TEXT_CELLS.values(), "problem"])
    rows = []
    for student, (source, folder) in sorted(found.items()):
        try:
            row = read_feedback_notebook(folder / notebook, blocks=blocks)
        except Exception as error:  # never lose the whole table for one student
            row = _empty_row(blocks)
            row["problem"] = f"unexpected error ({type(error).__name__}: {error})"
        row.update(student=student, source=source, timestamp=_timestamp(folder))
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    for block in blocks:
        table[block] = table[block].astype(float)
    return table


def _summary(table, blocks=RATING_BLOCKS):
    ratings = table[list(blocks)]
    summary = pd.DataFrame({"mean": ratings.mean(), "n": ratings.count()}).round(2)
    return summary


def _format_report(table, blocks=RATING_BLOCKS):
    """The table as text: ratings first, then each student's free text, then a summary."""
    import textwrap

    lines = ["Ratings (1 = poor, 5 = excellent; - = not rated):"]
    shown = table[["student", *blocks, "pace", "problem"]].astype(object)
    shown = shown.where(shown.notna(), "-")
    with pd.option_context("display.width", 250, "display.max_columns", None):
        lines.append(shown.to_string(index=False))
    lines += ["", "Free text:"]
    for _, row in table.iterrows():
        for column in FREE_TEXT_CELLS.values():
            text = row[column]
            if isinstance(text, str):
                lines.append(f"[{row['student']}] {column}:")
                lines.append(textwrap.indent(text, "    "))
    lines += ["", "Per block:", _summary(table, blocks).to_string()]
    problems = int(table["problem"].notna().sum())
    if problems:
        lines.append(f"\n{problems} notebook(s) could not be read completely: see 'problem'.")
    return "\n".join(lines)


def main(argv=None):
    """``primer survey [course_root] [--csv out.csv]``."""
    parser = argparse.ArgumentParser(
        prog="primer survey",
        description="Collect the attendees' answers to the feedback survey into one table.",
    )
    parser.add_argument("course_root", nargs="?", default=None,
                        help="the nbgrader course directory (default: the one you are in)")
    parser.add_argument("--assignment", default="07_feedback")
    parser.add_argument("--notebook", default="feedback.ipynb")
    parser.add_argument("--csv", metavar="PATH", help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    try:
        if args.course_root is None:
            from primer.course import CourseError, find_repo
            try:
                args.course_root = str(find_repo())
            except CourseError as error:
                raise ValueError(str(error)) from None
        table = collect_feedback(args.course_root, assignment=args.assignment,
                                 notebook=args.notebook)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if table.empty:
        print(f"No submissions of {args.assignment} found under {args.course_root}.")
    else:
        print(_format_report(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
