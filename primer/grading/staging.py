"""Make one student's submission safe to autograde, without touching ``submitted/``.

`stage_submission` copies ``submitted/<student>/<assignment>`` into a fresh
folder that nbgrader then grades (``--CourseDirectory.submitted_directory``
points at the staging root). On the way it

* never follows or copies a symlink, FIFO, socket or device, at any depth;
* skips names that are not UTF-8, files over the size limit, folders nested
  too deep, and stops after too many files or bytes;
* refuses notebooks that are not JSON or not notebooks (nbgrader then grades
  them as missing), upgrades nbformat 3 to 4;
* puts back, from the release notebook, every protected cell (tests, locked
  cells) that the student deleted, unmarked or edited, and the metadata of
  answer cells -- the cases nbgrader's own OverwriteCells cannot see, because
  it finds cells only by their ``grade_id`` metadata.

Every finding is a `Problem` with a sentence for the instructor; nothing a
student puts in the folder makes it raise.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from primer.grading.problems import Problem, Skipped
from primer.grading.repair import stage_notebook

MAX_FILE_BYTES = 10_000 * 1024  # nbgrader_config.py: CourseDirectory.max_file_size = 10_000 kB
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_DEPTH = 16
MAX_ENTRIES = 5_000
# The course's CourseDirectory.ignore: nbgrader would not copy these either.
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store", ".cache")


@dataclass
class _Budget:
    """What is left of the limits for one submission (files and bytes)."""

    entries: int = MAX_ENTRIES
    total_bytes: int = MAX_TOTAL_BYTES


# --------------------------------------------------------------------------- entry point

def stage_submission(submitted: Path, release: Path, destination: Path, *,
                     max_file_bytes: int = MAX_FILE_BYTES) -> list[Problem]:
    """Copy the submission folder ``submitted`` into ``destination``, made safe to grade.

    ``release`` is the instructor's ``release/<assignment>`` folder (the student
    version). ``destination`` must not exist yet or be empty. Returns the
    problems found, in the order met; an empty list means a clean submission.
    """
    submitted, release, destination = Path(submitted), Path(release), Path(destination)
    release_notebooks = _release_notebooks(release)
    _prepare_destination(destination)
    problems: list[Problem] = []
    staged = _copy_tree(submitted, destination, release_notebooks, max_file_bytes, problems)
    problems += _missing_notebooks(release_notebooks, staged, problems)
    if release_notebooks and not staged:
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


def _prepare_destination(destination: Path) -> None:
    if destination.is_symlink() or (destination.exists() and any(destination.iterdir())):
        raise FileExistsError(
            f"staging folder {destination} already has content: stage into a fresh, empty folder")
    destination.mkdir(parents=True, exist_ok=True)


def _missing_notebooks(release_notebooks, staged: set[str], problems) -> list[Problem]:
    reported = {p.path for p in problems}
    return [Problem("missing-notebook", name,
                    f"{name} was not submitted: graded as missing, 0 points")
            for name in release_notebooks if name not in staged and name not in reported]


# --------------------------------------------------------------------------- walking the folder

def _copy_tree(submitted: Path, destination: Path, release_notebooks: dict[str, Path],
               max_file_bytes: int, problems: list[Problem]) -> set[str]:
    """Copy what is safe; return the names of the notebooks staged at the top level."""
    if submitted.parent.is_symlink():  # submitted/<student> itself: O_NOFOLLOW guards only the last part
        problems.append(Problem("unreadable-folder", ".",
                                "the student's folder is a symlink: not followed, nothing graded"))
        return set()
    try:
        root_fd = _open_directory(str(submitted))
    except OSError as error:
        problems.append(Problem("unreadable-folder", ".", _folder_error(submitted, error)))
        return set()
    staged: set[str] = set()
    budget = _Budget()
    # Depth first with an explicit stack: no recursion limit to hit, and at most
    # MAX_DEPTH folders open at once however wide the tree is.
    graded_first = frozenset(release_notebooks) | {"timestamp.txt"}
    stack = [_Folder(root_fd, _entries(root_fd, "", problems, graded_first), "", destination, 0)]
    try:
        while stack:
            folder = stack[-1]
            entry = next(folder.entries, None)
            if entry is None:
                os.close(stack.pop().fd)
                continue
            path = f"{folder.relative}{entry.name}"
            if not _within_budget(budget, path, problems):
                break
            child = _copy_entry(entry, folder, path, release_notebooks, max_file_bytes,
                                budget, problems, staged)
            if child is not None:
                stack.append(child)
    finally:
        for folder in stack:
            os.close(folder.fd)
    return staged


@dataclass
class _Folder:
    """A folder being copied: its open descriptor and the entries left to copy."""

    fd: int
    entries: Iterator[os.DirEntry]
    relative: str  # "" or "sub/folder/"
    target: Path
    depth: int


def _open_directory(name: str, dir_fd: int | None = None) -> int:
    # O_NOFOLLOW: a folder swapped for a symlink after we looked is refused, not followed.
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, dir_fd=dir_fd)


def _folder_error(submitted: Path, error: OSError) -> str:
    if submitted.is_symlink():
        return "the submission folder is a symlink: not followed, nothing graded"
    return f"the submission folder cannot be read ({error.strerror}): nothing graded"


def _entries(dir_fd: int, relative: str, problems: list[Problem],
             first: frozenset[str] = frozenset()) -> Iterator[os.DirEntry]:
    """The folder's entries to copy: ``first`` names, then files, then folders, by name.

    Lists at most the budget (a folder may hold millions of files) but always
    finds the ``first`` names: the notebooks and timestamp that get graded.
    """
    wanted, others = [], []
    try:
        with os.scandir(dir_fd) as scan:
            for entry in scan:
                if entry.name in first:
                    wanted.append(entry)
                elif len(others) <= MAX_ENTRIES:
                    others.append(entry)
                elif len(wanted) == len(first):
                    break
    except OSError as error:
        problems.append(Problem("unreadable-folder", relative or ".",
                                f"folder {relative or '.'} cannot be read ({error.strerror}): skipped"))
    wanted.sort(key=lambda entry: entry.name)
    others.sort(key=lambda entry: (_is_folder(entry), entry.name))
    return iter(wanted + others)


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _within_budget(budget: _Budget, path: str, problems: list[Problem]) -> bool:
    budget.entries -= 1
    if budget.entries == 0:
        problems.append(Problem("too-many-files", path,
                                f"more than {MAX_ENTRIES} files and folders: the rest was not copied"))
    return budget.entries > 0


def _copy_entry(entry: os.DirEntry, folder: _Folder, path: str, release_notebooks,
                max_file_bytes: int, budget: _Budget, problems: list[Problem],
                staged: set[str]) -> _Folder | None:
    """Copy one entry; return the folder to walk next if it is one."""
    shown = _printable(path)
    if not _is_utf8(entry.name):
        problems.append(Problem("bad-name", shown,
                                f"{shown!r}: the file name is not valid UTF-8, so it was skipped"))
        return None
    if any(fnmatch.fnmatch(entry.name, pattern) for pattern in IGNORED):
        return None
    missing = ": graded as missing, 0 points" if path in release_notebooks else ""
    try:
        if entry.is_symlink():
            problems.append(Problem("symlink", path, f"{path} is a symbolic link: "
                                                     f"never followed, not copied{missing}"))
        elif entry.is_dir(follow_symlinks=False):
            return _enter_folder(entry, folder, path, problems)
        elif entry.is_file(follow_symlinks=False):
            _copy_file(entry.name, folder, path, release_notebooks, max_file_bytes, budget,
                       problems, staged)
        else:
            problems.append(Problem("special-file", path,
                                    f"{path} is not a regular file (a pipe, socket or device): "
                                    f"not copied{missing}"))
    except Skipped as skipped:
        problems.append(Problem(skipped.kind, path, f"{skipped}{missing}"))
    except OSError as error:
        problems.append(Problem("unreadable-file", path,
                                f"{path} cannot be read ({error.strerror}): not copied{missing}"))
    return None


def _enter_folder(entry: os.DirEntry, folder: _Folder, path: str,
                  problems: list[Problem]) -> _Folder | None:
    if folder.depth == 0 and entry.name.endswith(".ipynb"):
        problems.append(Problem("invalid-notebook", entry.name,
                                f"{entry.name} is a folder, not a notebook: graded as missing, 0 points"))
        return None
    if folder.depth + 1 >= MAX_DEPTH:
        problems.append(Problem("too-deep", path,
                                f"{path} is nested more than {MAX_DEPTH} folders deep: not copied"))
        return None
    target = folder.target / entry.name
    target.mkdir()
    child_fd = _open_directory(entry.name, folder.fd)
    return _Folder(child_fd, _entries(child_fd, f"{path}/", problems), f"{path}/", target,
                   folder.depth + 1)


def _is_utf8(name: str) -> bool:
    # Python keeps undecodable bytes of file names as lone surrogates.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --------------------------------------------------------------------------- copying one file

def _copy_file(name: str, folder: _Folder, path: str, release_notebooks, max_file_bytes: int,
               budget: _Budget, problems: list[Problem], staged: set[str]) -> None:
    data = _read_regular_file(name, folder.fd, path, max_file_bytes, budget)
    if folder.depth == 0 and name in release_notebooks:
        text = stage_notebook(data, name, release_notebooks[name], problems)
        if text is None:
            return
        data = text.encode("utf-8")
        staged.add(name)
    with open(folder.target / name, "xb") as copy_:
        copy_.write(data)


def _read_regular_file(name: str, dir_fd: int, path: str, max_file_bytes: int,
                       budget: _Budget) -> bytes:
    # O_NOFOLLOW + O_NONBLOCK: a symlink or FIFO swapped in after scandir is refused, not waited on.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Skipped("special-file", f"{path} is not a regular file: not copied")
        limit = min(max_file_bytes, budget.total_bytes)
        if info.st_size > limit:
            raise _too_large(path, info.st_size, max_file_bytes, budget)
        data = _read_at_most(fd, limit + 1)  # the size on disk may grow while we read
        if len(data) > limit:
            raise _too_large(path, len(data), max_file_bytes, budget)
    finally:
        os.close(fd)
    budget.total_bytes -= len(data)
    return data


def _read_at_most(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _too_large(path: str, size: int, max_file_bytes: int, budget: _Budget) -> Skipped:
    what = ("over the size limit" if size > max_file_bytes
            else "over what is left of the submission's size limit")
    return Skipped("too-large", f"{path} is {_megabytes(size)}, {what} "
                                 f"({_megabytes(max_file_bytes)} per file): not copied")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


