"""nbgrader preprocessors that make every autograde path grade a submission the same way.

``nbgrader autograde``, the formgrader's Autograde button and ``primer
autograde`` all run nbgrader's Autograde converter, and the course's
nbgrader_config.py adds these steps to it:

* ``CheckSubmission`` (first of ``Autograde.sanitize_preprocessors``): refuses
  a notebook that is a link or not a regular file, deletes from autograded/
  whatever nbgrader copied there through a link or from a special file, and
  puts back the release's test cells and grading metadata that the student
  deleted or changed (primer.grading.repair); then flags the answers that use
  the results the course provides for unanswered exercises
  (primer.grading.provided_check).
* ``RecordIntegrity`` (after ``SaveAutoGrades``): writes those flags and what
  the sandbox's tamper checks found into the autograded notebook (``metadata.primer``, and a
  note at its top that the formgrader shows), and marks the affected test
  cells as needing a person in the gradebook, so the formgrader lists them.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from primer.grading.provided_check import uses_of_provided_results
from primer.grading.repair import restore_protected_cells

FLAG_CELL_ID = "primer-integrity-flag"


class SubmissionRefused(Exception):
    """The submitted notebook cannot be graded as it is; the message says why."""


def course_directory(preprocessor) -> CourseDirectory:
    """The course directory of the converter running ``preprocessor``."""
    owner = preprocessor
    while owner is not None:
        coursedir = getattr(owner, "coursedir", None)
        if isinstance(coursedir, CourseDirectory):
            return coursedir
        owner = getattr(owner, "parent", None)
    return CourseDirectory(config=preprocessor.config)


class CheckSubmission(NbGraderPreprocessor):
    """Refuse links, remove what nbgrader copied through them, restore protected cells,
    flag answers that use the course's provided results."""

    def preprocess(self, nb, resources):
        coursedir = course_directory(self)
        ids = resources["nbgrader"]
        submitted = Path(resources["metadata"]["path"])
        name = f"{ids['notebook']}.ipynb"
        info = os.lstat(submitted / name)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRefused(f"{submitted / name} is a symbolic link or not a regular file: "
                                    "never followed, not graded")
        autograded = Path(coursedir.format_path(coursedir.autograded_directory, ids["student"],
                                                ids["assignment"]))
        removed = _remove_copies_of_special_files(submitted, autograded)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", ids["assignment"])) / name
        notes = [f"{path} is a symbolic link or special file: not copied for grading" for path in removed]
        uses = []
        if release.is_file():
            release_nb = nbformat.read(release, as_version=4)
            notes += [p.message for p in restore_protected_cells(nb, release_nb, name)]
            uses = uses_of_provided_results(nb, release_nb)
        # Only the grader writes metadata.primer: whatever the student put there goes.
        # "review": graded cells a person must check although no flag names them.
        nb.metadata["primer"] = {"repairs": notes, "flags": [use.flag for use in uses],
                                 "review": [test for use in uses for test in use.tests]}
        for note in notes + nb.metadata["primer"]["flags"]:
            self.log.warning("%s/%s: %s", ids["student"], ids["assignment"], note)
        return nb, resources


def _remove_copies_of_special_files(submitted: Path, autograded: Path) -> list[str]:
    """Delete from ``autograded`` each file that is a link or special file in ``submitted``.

    nbgrader copies a submission's other files with shutil.copy, which
    follows links: the copy must not reach the kernel or the feedback.
    """
    removed = []
    for folder, folders, files in os.walk(submitted):  # never descends into linked folders
        relative = Path(folder).relative_to(submitted)
        for entry in [*files, *folders]:
            path = Path(folder) / entry
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                continue
            copy = autograded / relative / entry
            if copy.is_symlink() or copy.is_file():
                copy.unlink()
            removed.append(str(relative / entry))
    return removed


class RecordIntegrity(NbGraderPreprocessor):
    """Record CheckSubmission's flags and the tamper checks' findings in the notebook and
    the gradebook."""

    def preprocess(self, nb, resources):
        findings = resources.get("primer_integrity", {})
        record = dict(nb.metadata.get("primer", {}))
        # The merge of a cluster result passes the notebook's own flags again: no doubles.
        flags = list(dict.fromkeys([*record.get("flags", []), *findings.get("flags", [])]))
        record.update(flags=flags, voided=list(findings.get("voided", [])),
                      events=sorted(set(findings.get("events", []))))
        nb.metadata["primer"] = record
        if flags:
            nb.cells.insert(0, _flag_cell(flags))
            self._ask_for_a_person(resources, [flag.split(":", 1)[0] for flag in flags]
                                   + list(record.get("review", [])), voided=record["voided"])
        return nb, resources

    def _ask_for_a_person(self, resources, grade_ids: list[str], voided: list[str]) -> None:
        """Mark tests for a person; a voided test pays 0 (gradebook, so export and feedback too)."""
        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gradebook:
            for grade_id in dict.fromkeys([*grade_ids, *voided]):
                try:
                    grade = gradebook.find_grade(grade_id, ids["notebook"], ids["assignment"], ids["student"])
                except MissingEntry:
                    continue
                grade.needs_manual_grade = True
                if grade_id in voided:
                    grade.auto_score = 0
            gradebook.db.commit()


def _flag_cell(flags: list[str]):
    lines = "\n".join(f"- {flag}" for flag in flags)
    cell = new_markdown_cell(
        "**Flagged for review by the course team.** While this notebook was graded, the grader "
        "found code that a person should check (it may have changed how the tests run or are "
        "judged, or used results the course provides). What the grader found:\n\n" + lines)
    cell.id = FLAG_CELL_ID
    return cell


def integrity_record(autograded_notebook: Path) -> dict:
    """``metadata.primer`` of an autograded notebook: repairs, flags, voided tests, events."""
    try:
        return dict(nbformat.read(autograded_notebook, as_version=4).metadata.get("primer", {}))
    except (OSError, ValueError):
        return {}
