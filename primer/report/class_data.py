"""What the class report says, read from the gradebook (nbgrader's Gradebook API) and the
autograded notebooks: scores, per-question statistics, failed tests, flags, survey ratings.

Everything here is numbers and plain strings; primer.report.page turns them into HTML
(escaping every string: student names, outputs and messages are the students' bytes).
"""
from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd

from primer.grading.course_settings import gradebook_url

MESSAGE_CHARS = 300  # a failed test's message in the report: its first line, this long at most


@dataclass
class ClassData:
    assignment: str
    max_score: float
    duedate: datetime.datetime | None  # UTC, naive (as nbgrader stores it)
    # one row per submission: student, name, timestamp, score, late (after the student's own due date)
    submissions: pd.DataFrame
    # one row per graded cell: notebook, question, kind, max_score, mean, share_full, discrimination, ungraded
    questions: pd.DataFrame
    # (notebook, test, failures, [(message, count), ...]) most failed first
    failed_tests: list[tuple[str, str, int, list[tuple[str, int]]]] = field(default_factory=list)
    # (student, notebook, flags, voided tests)
    flagged: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    survey: pd.DataFrame | None = None  # block, mean, n (None: no survey collected)


def read_class(course: Path, assignment: str) -> ClassData:
    """Everything the report shows about ``assignment`` in the course folder ``course``."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    url = gradebook_url(course)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        # nbgrader would create an empty gradebook here: say what to do instead
        raise ValueError(f"{course} has no gradebook yet ({url}): grade the class first, "
                         f"`primer autograde {assignment}`, in the course folder")
    with Gradebook(url) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            known = ", ".join(a.name for a in gradebook.assignments) or "none yet"
            raise ValueError(f"the gradebook of {course} has no assignment {assignment!r} (it has: "
                             f"{known}); grade it first: `primer autograde {assignment}`") from None
        max_score, duedate = float(found.max_score), found.duedate
        rows, items = [], []
        for submission in gradebook.assignment_submissions(assignment):
            student = submission.student
            name = " ".join(filter(None, [student.first_name, student.last_name]))
            rows.append({"student": student.id, "name": name, "timestamp": submission.timestamp,
                         "score": float(submission.score),
                         "late": bool(submission.total_seconds_late > 0)})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    items.append({"student": student.id, "notebook": notebook.name,
                                  "question": grade.name, "kind": "test" if grade.cell_type == "code"
                                  else "written", "score": float(grade.score),
                                  "max_score": float(grade.max_score),
                                  "graded": grade.auto_score is not None or grade.manual_score is not None})
    submissions = pd.DataFrame(rows, columns=["student", "name", "timestamp", "score", "late"])
    grades = pd.DataFrame(items, columns=["student", "notebook", "question", "kind", "score",
                                          "max_score", "graded"])
    return ClassData(assignment=assignment, max_score=max_score, duedate=duedate,
                     submissions=submissions.sort_values("student").reset_index(drop=True),
                     questions=question_statistics(grades, submissions),
                     failed_tests=failed_tests(course, assignment, grades),
                     flagged=flagged_submissions(course, assignment, list(submissions["student"])),
                     survey=survey_ratings(course))


def question_statistics(grades: pd.DataFrame, submissions: pd.DataFrame) -> pd.DataFrame:
    """Per graded cell: mean score, share of students at full marks, and discrimination:
    the corrected item-total correlation (Pearson's r between the question's score and the
    rest of the total; for a pass/fail test this is the point-biserial correlation).
    NaN when it cannot be computed (fewer than 3 students, or everybody scored the same)."""
    columns = ["notebook", "question", "kind", "max_score", "mean", "share_full", "discrimination",
               "ungraded"]
    if grades.empty:
        return pd.DataFrame(columns=columns)
    totals = submissions.set_index("student")["score"]
    stats = []
    for (notebook, question), item in grades.groupby(["notebook", "question"], sort=False):
        scores = item.set_index("student")["score"]
        rest = totals.loc[scores.index] - scores
        top = float(item["max_score"].iloc[0])
        discrimination = scores.corr(rest) if len(scores) >= 3 else float("nan")
        stats.append({"notebook": notebook, "question": question, "kind": item["kind"].iloc[0],
                      "max_score": top, "mean": float(scores.mean()),
                      "share_full": float((scores >= top).mean()) if top > 0 else float("nan"),
                      "discrimination": float(discrimination),
                      "ungraded": int((~item["graded"]).sum())})
    return pd.DataFrame(stats, columns=columns)


def _autograded_notebooks(course: Path, assignment: str, student: str) -> list[Path]:
    folder = course / "autograded" / student / assignment
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink()) \
        if folder.is_dir() else []


def _message(output) -> str:
    """A failed test's error output as one short line: "AssertionError: what was checked"."""
    text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
    return text.splitlines()[0][:MESSAGE_CHARS] if text else "Error"


def failed_tests(course: Path, assignment: str, grades: pd.DataFrame
                 ) -> list[tuple[str, str, int, list[tuple[str, int]]]]:
    """The autograded tests that paid less than full marks, most often failed first, with the
    messages their error outputs gave (hidden tests' messages too: the report is for staff)."""
    failed = grades[(grades["kind"] == "test") & (grades["score"] < grades["max_score"])]
    messages: dict[tuple[str, str], Counter] = {}
    for student, rows in failed.groupby("student"):
        wanted = set(zip(rows["notebook"], rows["question"]))
        for path in _autograded_notebooks(course, assignment, student):
            try:
                notebook = nbformat.read(path, as_version=4)
            except (OSError, ValueError):
                continue
            for cell in notebook.cells:
                key = (path.stem, cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
                if key in wanted:
                    said = [_message(o) for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                    messages.setdefault(key, Counter()).update(said[:1] or ["no error shown"])
    counts = failed.groupby(["notebook", "question"], sort=False).size()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(notebook, test, int(n), messages.get((notebook, test), Counter()).most_common(5))
            for (notebook, test), n in ranked]


def flagged_submissions(course: Path, assignment: str, students: list[str]
                        ) -> list[tuple[str, str, list[str], list[str]]]:
    """Submissions the grader flagged for review, with its reasons and the tests it voided
    (primer.grading.integrity records both in the autograded notebook's metadata.primer)."""
    from primer.grading.integrity import integrity_record

    found = []
    for student in students:
        for path in _autograded_notebooks(course, assignment, student):
            record = integrity_record(path)
            flags, voided = list(record.get("flags", [])), list(record.get("voided", []))
            if flags or voided:
                found.append((student, path.stem, flags, voided))
    return found


def survey_ratings(course: Path) -> pd.DataFrame | None:
    """Mean rating and count per block of the 07_feedback survey; None when nobody's was collected."""
    from primer.feedback_survey import RATING_BLOCKS, collect_feedback

    try:
        table = collect_feedback(course)
    except (OSError, ValueError):
        return None
    if table.empty:
        return None
    ratings = table[list(RATING_BLOCKS)]
    return pd.DataFrame({"block": list(RATING_BLOCKS), "mean": ratings.mean().to_numpy(),
                         "n": ratings.count().to_numpy()})
