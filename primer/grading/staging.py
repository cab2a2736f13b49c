"""Make one student's submission safe to autograde, without touching ``submitted/``.

`stage_submission` copies ``submitted/<student>/<assignment>`` into a fresh
folder that nbgrader then grades (``--CourseDirectory.submitted_directory``
points at the staging root). The copy is `primer.safecopy.copy_tree`: no link,
FIFO, socket or device is followed or read, names that are not UTF-8 and files
over the limits are skipped. On the way each notebook of the release is
repaired by `primer.grading.repair.stage_notebook`:

* notebooks that are not JSON or not notebooks are refused (nbgrader then
  grades them as missing), nbformat 3 is upgraded to 4;
* every protected cell (tests, locked cells) that the student deleted,
  unmarked or edited is put back from the release notebook, with the metadata
  of answer cells -- the cases nbgrader's own OverwriteCells cannot see,
  because it finds cells only by their ``grade_id`` metadata.

Every finding is a `Problem` with a sentence for the instructor; nothing a
student puts in the folder makes it raise.
"""
from __future__ import annotations

from pathlib import Path

from primer.grading.problems import Problem
from primer.grading.repair import stage_notebook
from primer.safecopy import Limits, copy_tree

LIMITS = Limits()
MAX_DEPTH = LIMITS.max_depth
MAX_ENTRIES = LIMITS.max_entries
# The course's CourseDirectory.ignore: nbgrader would not copy these either.
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store", ".cache")
MISSING = ": graded as missing, 0 points"


def stage_submission(submitted: Path, release: Path, destination: Path, *,
                     max_file_bytes: int = LIMITS.max_file_bytes) -> list[Problem]:
    """Copy the submission folder ``submitted`` into ``destination``, made safe to grade.

    ``release`` is the instructor's ``release/<assignment>`` folder (the student
    version). ``destination`` must not exist yet or be empty. Returns the
    problems found, in the order met; an empty list means a clean submission.
    """
    submitted, release, destination = Path(submitted), Path(release), Path(destination)
    release_notebooks = _release_notebooks(release)
    problems: list[Problem] = []
    staged: set[str] = set()

    def repair(path: str, data: bytes) -> bytes | None:
        if path not in release_notebooks:
            return data
        text = stage_notebook(data, path, release_notebooks[path], problems)
        if text is None:
            return None
        staged.add(path)
        return text.encode("utf-8")

    if submitted.parent.is_symlink():  # submitted/<student>: O_NOFOLLOW guards only the last part
        destination.mkdir(parents=True, exist_ok=True)
        problems.append(Problem("unreadable-folder", ".",
                                "the student's folder is a symlink: not followed, nothing graded"))
    else:
        report = copy_tree(submitted, destination, limits=Limits(max_file_bytes=max_file_bytes),
                           transform=repair, first={*release_notebooks, "timestamp.txt"},
                           ignore=IGNORED)
        problems[:0] = [_as_graded(problem, release_notebooks) for problem in report.problems]
    problems += _notebook_folders(release_notebooks, destination, staged)
    problems += _missing_notebooks(release_notebooks, staged, problems)
    if not staged:
        problems.append(Problem(
            "nothing-to-grade", ".",
            "no notebook of this submission can be graded: nbgrader would skip it, "
            "so it counts as missing (0 points)"))
    return problems


def _release_notebooks(release: Path) -> dict[str, Path]:
    notebooks = {p.name: p for p in sorted(release.glob("*.ipynb")) if p.is_file()}
    if not notebooks:
        raise FileNotFoundError(
            f"no notebooks in the release folder {release}: pass release/<assignment> "
            "after `nbgrader generate_assignment <assignment>`")
    return notebooks


def _as_graded(problem: Problem, release_notebooks) -> Problem:
    """Say what a copy problem means for the grade."""
    if problem.path in release_notebooks:
        return Problem(problem.kind, problem.path, problem.message + MISSING)
    if problem.kind == "unreadable-folder" and problem.path == ".":
        return Problem(problem.kind, ".", problem.message.replace("the folder", "the submission "
                       "folder").replace("nothing copied", "nothing graded"))
    return problem


def _notebook_folders(release_notebooks, destination: Path, staged: set[str]) -> list[Problem]:
    """A folder named like a notebook is not one: removed from the staged copy."""
    problems = []
    for name in release_notebooks:
        folder = destination / name
        if name not in staged and folder.is_dir() and not folder.is_symlink():
            import shutil

            shutil.rmtree(folder)
            problems.append(Problem("invalid-notebook", name,
                                    f"{name} is a folder, not a notebook{MISSING}"))
    return problems


def _missing_notebooks(release_notebooks, staged: set[str], problems) -> list[Problem]:
    reported = {p.path for p in problems}
    return [Problem("missing-notebook", name, f"{name} was not submitted{MISSING}")
            for name in release_notebooks if name not in staged and name not in reported]
