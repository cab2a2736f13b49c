"""The trusted merge: check one unit's result (primer.grading.unit) and record it in the gradebook.

Results come from places that ran students' code (a grading pod, a cluster
node), so nothing in them is taken on trust that can be checked:

* the result must be complete (result.json is written last), readable and
  well-formed, for the student and assignment it claims, with plain names;
* it must have been graded against *this* release: the checksums of the
  release's cells it carries must equal the gradebook's;
* scores are not copied from result.json: they are re-derived here from the
  autograded notebook's outputs by nbgrader's own SaveAutoGrades (which calls
  nbgrader.utils.determine_grade), exactly as `nbgrader autograde` records
  them. Claims that do not match that, a score above a cell's maximum, a
  grade cell the release does not have, or an autograded notebook that is
  missing or unreadable reject the whole result with a plain message.

Then the gradebook gets the rows `nbgrader autograde` writes (student,
submission with its timestamp, grades' auto_score and needs_manual_grade,
comments, late penalty; tests flagged by the tamper checks marked as needing
a person) and autograded/<student>/<assignment>/ gets the notebook(s), so
generate_feedback and the formgrader work as usual.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from primer.grading.unit import RESULT_FILE, RESULT_FORMAT, check_name, release_checksums

log = logging.getLogger("primer.grading.merge")


class ResultRejected(ValueError):
    """A result that cannot be recorded; the message says why and what to do."""


@dataclass
class Merged:
    student: str
    assignment: str
    status: str  # graded | failed | not graded
    notes: list[str] = field(default_factory=list)  # staging problems, the grading error
    flags: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    sandbox_events: list[str] = field(default_factory=list)  # the grading's own, notebook or not
    error: str = ""  # nbgrader's error and log, when grading failed
    seconds: float = 0.0


def read_result(result_dir: Path) -> dict:
    """result.json of ``result_dir``, checked for completeness; ResultRejected otherwise."""
    result_dir = Path(result_dir)
    path = result_dir / RESULT_FILE
    if not result_dir.is_dir():
        raise ResultRejected(f"result folder {result_dir} is missing: the task never ran or wrote "
                             "nowhere; grade this submission again")
    if path.is_symlink() or not path.is_file():
        raise ResultRejected(f"{path} is missing: the task did not finish (see its log); "
                             "grade this submission again")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ResultRejected(f"{path} is corrupt or truncated ({error}); grade this submission again") from None
    expected = {"format": int, "student": str, "assignment": str, "graded": bool, "success": bool,
                "error": str, "problems": list, "notebooks": dict, "release": dict}
    wrong = [key for key, kind in expected.items() if not isinstance(record.get(key) if
                                                                     isinstance(record, dict) else None, kind)]
    if wrong:
        raise ResultRejected(f"{path} is incomplete or malformed (bad or missing: {', '.join(wrong)}); "
                             "grade this submission again")
    if record["format"] != RESULT_FORMAT:
        raise ResultRejected(f"{path} has format {record['format']}, this primer reads {RESULT_FORMAT}: "
                             "grade with the same primer version as the course")
    try:
        check_name("student", record["student"])
        check_name("assignment", record["assignment"])
        for name in record["notebooks"]:
            check_name("notebook", name)
    except ValueError as error:
        raise ResultRejected(f"{path}: {error}") from None
    return record


def _strings(value) -> list[str]:
    """An optional list of short words from the result, or nothing (it is only ever looked up)."""
    return [str(v)[:100] for v in value[:20]] if isinstance(value, list) else []


def merge_result(course: Path, result_dir: Path, *, expect_student: str | None = None,
                 expect_assignment: str | None = None) -> Merged:
    """Check the result in ``result_dir`` and record it in ``course``'s gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    from primer.grading.course_settings import gradebook_url

    course, result_dir = Path(course).resolve(), Path(result_dir)
    record = read_result(result_dir)
    student, assignment = record["student"], record["assignment"]
    for claimed, expected, what in ((student, expect_student, "student"),
                                    (assignment, expect_assignment, "assignment")):
        if expected is not None and claimed != expected:
            raise ResultRejected(f"{result_dir} is the result of {what} {claimed!r}, not {expected!r}: "
                                 "results were mixed up; grade this submission again")
    # The error's traceback ends in nbgrader's "see the log": what happened is in the log.
    merged = Merged(student, assignment, "graded", notes=list(record["problems"]),
                    error=f"{record['error']}\n{record.get('log', '')}",
                    seconds=float(record.get("seconds") or 0),
                    sandbox_events=_strings(record.get("sandbox_events")))
    url = gradebook_url(course)
    with Gradebook(url) as gradebook:
        try:
            checksums = release_checksums(gradebook, assignment)
        except MissingEntry:
            raise ResultRejected(f"{result_dir}: assignment {assignment!r} is not in the course's "
                                 "gradebook") from None
        if record["release"] != checksums:
            raise ResultRejected(
                f"{result_dir} was graded against a different release of {assignment} (its cell "
                "checksums differ from the gradebook's): grade it again with the current release")
        definitions = {nb.name: {c.name: c.max_score for c in nb.grade_cells}
                       for nb in gradebook.find_assignment(assignment).notebooks}
    if not record["graded"]:
        merged.status = "not graded"
        return merged
    notebooks = _checked_notebooks(result_dir, record, definitions)
    _record(course, url, record, notebooks, result_dir)
    for name, info in sorted(record["notebooks"].items()):
        merged.flags += [f"{name}.ipynb: {flag}" for flag in info.get("flags", [])]
        merged.events += list(info.get("events", []))
    if not record["success"]:
        merged.status = "failed"
    return merged


def _checked_notebooks(result_dir: Path, record: dict, definitions: dict) -> dict:
    """name -> autograded notebook, each checked against the release and the result's claims."""
    from nbgrader.utils import determine_grade, is_grade

    where = result_dir / RESULT_FILE
    unknown = set(record["notebooks"]) - set(definitions)
    if unknown:
        raise ResultRejected(f"{where} names notebooks the release does not have: {sorted(unknown)}")
    notebooks = {}
    for name, info in record["notebooks"].items():
        scores = info.get("scores")
        if not isinstance(scores, dict):
            raise ResultRejected(f"{where}: no scores for {name}.ipynb; grade this submission again")
        for grade_id, claim in scores.items():
            maximum = definitions[name].get(grade_id)
            if maximum is None:
                raise ResultRejected(f"{where}: {name}.ipynb has no graded cell {grade_id!r} in the "
                                     "release: this result is forged or from another assignment")
            if not (isinstance(claim, list) and len(claim) == 2):
                raise ResultRejected(f"{where}: the score of {grade_id} is malformed")
            if claim[0] is not None and not (0 <= float(claim[0]) <= maximum):
                raise ResultRejected(f"{where}: {grade_id} claims {claim[0]} points of {maximum}: "
                                     "a score outside 0..maximum is forged; not recorded")
        if not info.get("autograded"):
            continue
        path = result_dir / "autograded" / f"{name}.ipynb"
        if path.is_symlink() or not path.is_file():
            raise ResultRejected(f"{path} is missing: the result is incomplete; grade this submission again")
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:  # noqa: BLE001 - any unreadable notebook is rejected alike
            raise ResultRejected(f"{path} is corrupt or truncated ({type(error).__name__}); "
                                 "grade this submission again") from None
        found = {}
        for cell in notebook.cells:
            if is_grade(cell):
                grade_id = cell.metadata["nbgrader"].get("grade_id")
                if grade_id not in definitions[name]:
                    raise ResultRejected(f"{path} has a graded cell {grade_id!r} that the release does "
                                         "not have: this result is forged or from another assignment")
                found[grade_id] = determine_grade(cell, log)[0]
        missing = set(definitions[name]) - set(found)
        if missing:
            raise ResultRejected(f"{path} lacks the release's graded cells {sorted(missing)}: "
                                 "the result is incomplete or forged; grade this submission again")
        claimed = {g: (s[0] if s[0] is None else float(s[0])) for g, s in scores.items()}
        derived = {g: (s if s is None else float(s)) for g, s in found.items()}
        if claimed != derived:
            raise ResultRejected(f"{where}: the scores it claims for {name}.ipynb ({claimed}) are not "
                                 f"what its autograded notebook earns ({derived}): not recorded")
        notebooks[name] = notebook
    return notebooks


def collected_timestamp(course: Path, assignment: str, student: str):
    """submitted/<student>/<assignment>/timestamp.txt, which collect (or the queue) wrote from
    the time the exchange trusts (primer/exchange.py); None if there is none."""
    from nbgrader.utils import parse_utc

    from primer.exchange import SMALL_FILE, TIMESTAMP
    from primer.grading.problems import Skipped
    from primer.safecopy import read_regular_file

    path = course / "submitted" / student / assignment / TIMESTAMP
    try:
        return parse_utc(read_regular_file(path, max_bytes=SMALL_FILE).decode().strip())
    except (OSError, ValueError, Skipped):
        return None


def _record(course: Path, url: str, record: dict, notebooks: dict, result_dir: Path) -> None:
    """The gradebook rows and autograded/ files of `nbgrader autograde --force`, from a checked result."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    from primer.grading.integrity import RecordIntegrity
    from primer.grading.course_settings import course_config

    student, assignment = record["student"], record["assignment"]
    destination = course / "autograded" / student / assignment
    if destination.exists():
        shutil.rmtree(destination)  # as --force: what an earlier grading left goes
    with Gradebook(url) as gradebook:
        gradebook.update_or_create_student(student)
        # Lateness is measured on the course's own copy of the timestamp (collect wrote it),
        # never on the one the result claims: results come from where student code ran.
        timestamp = collected_timestamp(course, assignment, student)
        if timestamp is not None:
            gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gradebook.update_or_create_submission(assignment, student)
        for name, info in record["notebooks"].items():
            if not info.get("submitted"):  # nbgrader: a notebook not submitted scores zero
                for grade in gradebook.find_submission_notebook(name, assignment, student).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
        gradebook.db.commit()
    config = course_config(course)
    for name, notebook in notebooks.items():
        resources = {"nbgrader": {"db_url": url, "assignment": assignment, "notebook": name,
                                  "student": student},
                     "primer_integrity": {key: notebook.metadata.get("primer", {}).get(key, [])
                                          for key in ("flags", "voided", "events")}}
        for step in (SaveAutoGrades, AssignLatePenalties, RecordIntegrity):
            step(config=config).preprocess(copy.deepcopy(notebook), resources)
    _copy_regular_files(result_dir / "autograded", destination)


def _copy_regular_files(source: Path, target: Path) -> None:
    """Copy a result's autograded files; never a link or special file (results are untrusted)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            _copy_regular_files(Path(entry.path), target / entry.name)
        elif stat.S_ISREG(mode):
            shutil.copyfile(entry.path, target / entry.name, follow_symlinks=False)
