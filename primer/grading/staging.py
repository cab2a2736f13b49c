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

import copy
import fnmatch
import json
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import nbformat
from nbformat.v4.nbbase import random_cell_id
from nbformat.validator import normalize

MAX_FILE_BYTES = 10_000 * 1024  # nbgrader_config.py: CourseDirectory.max_file_size = 10_000 kB
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_DEPTH = 16
MAX_ENTRIES = 5_000
# The course's CourseDirectory.ignore: nbgrader would not copy these either.
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store", ".cache")
# nbgrader metadata that decides how a cell is graded; a student must not change it.
GRADING_KEYS = ("grade", "solution", "locked", "task", "grade_id", "points")


@dataclass(frozen=True)
class Problem:
    """Something wrong with a submission, in words for the instructor's class summary."""

    kind: str
    path: str
    message: str


@dataclass
class _Budget:
    """What is left of the limits for one submission (files and bytes)."""

    entries: int = MAX_ENTRIES
    total_bytes: int = MAX_TOTAL_BYTES


class _Skipped(Exception):
    """A file that is not staged; ``kind`` and the message become a Problem."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


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
    except _Skipped as skipped:
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
        text = _stage_notebook(data, name, release_notebooks[name], problems)
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
            raise _Skipped("special-file", f"{path} is not a regular file: not copied")
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


def _too_large(path: str, size: int, max_file_bytes: int, budget: _Budget) -> _Skipped:
    what = ("over the size limit" if size > max_file_bytes
            else "over what is left of the submission's size limit")
    return _Skipped("too-large", f"{path} is {_megabytes(size)}, {what} "
                                 f"({_megabytes(max_file_bytes)} per file): not copied")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


# --------------------------------------------------------------------------- notebooks

def _stage_notebook(data: bytes, name: str, release_path: Path,
                    problems: list[Problem]) -> str | None:
    """The submitted notebook repaired against the release, as JSON; None if it cannot be graded."""
    try:
        notebook = _parse_notebook(data, name, problems)
    except _Skipped as skipped:
        problems.append(Problem(skipped.kind, name, str(skipped)))
        return None
    release = nbformat.read(release_path, as_version=4)
    try:
        repairs = restore_protected_cells(notebook, release, name)
        text = nbformat.writes(_validated(notebook))
    except Exception as error:  # a notebook shaped in a way we did not foresee: never crash the class
        problems.append(Problem("unchecked-notebook", name,
                                f"{name} could not be checked against the release ({_short(error)}): "
                                "not graded automatically, grade it by hand"))
        return None
    problems += repairs
    return text


def _parse_notebook(data: bytes, name: str, problems: list[Problem]):
    missing = "graded as missing, 0 points"
    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except UnicodeDecodeError:
        raise _Skipped("invalid-notebook", f"{name} is not UTF-8 text: {missing}") from None
    except json.JSONDecodeError as error:
        raise _Skipped("invalid-notebook",
                       f"{name} is not valid JSON (line {error.lineno}): {missing}") from None
    except RecursionError:
        raise _Skipped("invalid-notebook", f"{name} is nested too deeply to read: {missing}") from None
    version = raw.get("nbformat") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(version, int):
        raise _Skipped("invalid-notebook", f"{name} is JSON but not a notebook: {missing}")
    try:
        with warnings.catch_warnings():  # nbformat warns about each duplicate cell id it renames
            warnings.simplefilter("ignore")
            notebook = _validated(nbformat.reads(text, as_version=4, capture_validation_error={}))
    except Exception as error:  # nbformat raises many types for many kinds of broken input
        raise _Skipped("invalid-notebook",
                       f"{name} is not a notebook nbformat can read ({_short(error)}): {missing}") from None
    if version < 4:
        problems.append(Problem("upgraded-notebook", name,
                                f"{name} was in notebook format {version}: upgraded to 4 for grading"))
    return notebook


def _validated(notebook):
    """The notebook, repaired where nbformat can (duplicate cell ids, stray keys); raises if not."""
    try:
        nbformat.validate(notebook)
        return notebook
    except nbformat.ValidationError:
        _, repaired = normalize(notebook, strip_invalid_metadata=True)
        repaired = nbformat.from_dict(repaired)
        nbformat.validate(repaired)
        return repaired


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0][:120] if text else type(error).__name__)


# --------------------------------------------------------------------------- protected cells

def restore_protected_cells(notebook, release, name: str) -> list[Problem]:
    """Put back, in place, the release's protected cells the student removed or changed.

    Test cells and locked cells come back whole from the release; answer cells
    keep the student's answer but get their grading metadata back. Cells are
    matched by grade_id, then by nbformat cell id, then by identical content,
    then by position between matched neighbours. A protected cell found only
    by position may be the student's own cell, so that cell is kept, as an
    ordinary cell, and the instructor's is put back right after it.
    """
    matches, by_position = match_cells(release.cells, notebook.cells)
    after_own_cell = {index: matches.pop(index) for index in by_position
                      if _grade_id(release.cells[index]) and _role(release.cells[index]) != "answer"}
    problems = _unmark_strays(notebook.cells, matches, name)
    for release_index, staged_index in matches.items():
        if _grade_id(release.cells[release_index]):
            problems += _repair_cell(notebook.cells, staged_index, release.cells[release_index], name)
    problems += _reinsert_missing(notebook, release.cells, matches, after_own_cell, name)
    return problems


def match_cells(release_cells, cells) -> tuple[dict[int, int], set[int]]:
    """Release cell index -> index of the same cell in ``cells`` (the submitted notebook),
    and the release indices matched by position only."""
    matches: dict[int, int] = {}
    _match_by(matches, release_cells, cells, _grade_id)
    _match_by(matches, release_cells, cells, lambda cell: cell.get("id"))
    _match_by(matches, release_cells, cells, _content_key, unique=True)
    by_position = _match_gaps(matches, release_cells, cells)
    return matches, by_position


def _match_by(matches, release_cells, cells, key, unique: bool = False) -> None:
    taken = set(matches.values())
    found: dict[object, list[int]] = {}
    for index, cell in enumerate(cells):
        if index not in taken and key(cell):
            found.setdefault(key(cell), []).append(index)
    wanted: dict[object, int] = {}
    for index, cell in enumerate(release_cells):
        if index not in matches and key(cell):
            wanted[key(cell)] = wanted.get(key(cell), 0) + 1
    for index, cell in enumerate(release_cells):
        candidates = found.get(key(cell)) if index not in matches and key(cell) else None
        if not candidates or (unique and (len(candidates) > 1 or wanted[key(cell)] > 1)):
            continue
        matches[index] = candidates.pop(0)  # the first one: later copies are strays


def _match_gaps(matches, release_cells, cells) -> set[int]:
    """Pair unmatched cells that sit in the same place between matched neighbours."""
    taken = set(matches.values())
    paired: set[int] = set()
    index = 0
    while index < len(release_cells):
        if index in matches:
            index += 1
            continue
        end = index
        while end < len(release_cells) and end not in matches:
            end += 1
        low = matches.get(index - 1, -1)
        high = matches.get(end, len(cells))
        candidates = [i for i in range(low + 1, high) if i not in taken]
        if len(candidates) == end - index:
            matches.update(zip(range(index, end), candidates))
            paired.update(range(index, end))
        index = end
    return paired


def _nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}  # a student may put anything there


def _grade_id(cell) -> str | None:
    grade_id = _nbgrader_meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) and grade_id else None


def _content_key(cell):
    return (cell.get("cell_type"), cell.get("source")) if cell.get("source") else None


def _grading(cell) -> dict:
    meta = _nbgrader_meta(cell)
    grading = {key: meta.get(key) for key in GRADING_KEYS}
    if grading["points"] is not None:
        try:
            grading["points"] = float(grading["points"])
        except (TypeError, ValueError):
            pass
    return grading | {"cell_type": cell.get("cell_type")}


def _role(cell) -> str:
    meta = _nbgrader_meta(cell)
    if meta.get("solution"):
        return "answer"
    if cell.get("cell_type") == "code" and meta.get("grade"):
        return "test"
    return "locked"


def _repair_cell(cells, index: int, release_cell, name: str) -> list[Problem]:
    cell, grade_id, role = cells[index], _grade_id(release_cell), _role(release_cell)
    where = f"{name}#{grade_id}"
    if _grading(cell) != _grading(release_cell):
        change = "unmarked" if not _nbgrader_meta(cell) else "altered"
        if role == "answer":
            cells[index] = _with_release_marking(cell, release_cell)
            return [Problem(f"answer-cell-{change}", where,
                            f"{name}: the grading metadata of answer cell {grade_id} was {change} "
                            "by the student: restored, the answer is kept")]
        cells[index] = _fresh_copy(release_cell)
        return [Problem(f"{role}-cell-{change}", where,
                        f"{name}: the grading metadata of {role} cell {grade_id} was {change} "
                        "by the student: the instructor's cell was put back")]
    if role != "answer" and cell.get("source") != release_cell.source:
        cells[index] = _fresh_copy(release_cell)
        return [Problem(f"{role}-cell-edited", where,
                        f"{name}: {role} cell {grade_id} was edited by the student: "
                        "the instructor's cell was put back")]
    return []


def _with_release_marking(cell, release_cell):
    repaired = _fresh_copy(release_cell)
    repaired.source = cell.get("source", "")
    return repaired


def _fresh_copy(release_cell):
    cell = copy.deepcopy(release_cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _unmark_strays(cells, matches, name: str) -> list[Problem]:
    """Remove grading metadata from cells that are not the instructor's protected cells.

    A copy of a test cell, or a made-up grade cell, would otherwise be graded
    instead of (or crash nbgrader next to) the real one.
    """
    owned = set(matches.values())
    problems = []
    for index, cell in enumerate(cells):
        if index in owned or "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = cell.metadata.pop("nbgrader")
        if not isinstance(meta, dict) or any(meta.get(key) for key in GRADING_KEYS):
            grade_id = _grade_id({"metadata": {"nbgrader": meta}}) or "(no id)"
            problems.append(Problem("stray-grading-metadata", f"{name}#{grade_id}",
                                    f"{name}: cell {index + 1} claims to be graded cell {grade_id} "
                                    "but is not the instructor's: graded as an ordinary cell"))
    return problems


def _reinsert_missing(notebook, release_cells, matches, after_own_cell, name: str) -> list[Problem]:
    """Put each missing protected cell back after the cell that preceded it in the release
    (or after the student's cell that took its place)."""
    after: dict[int, list] = {}  # submitted index (-1: the top) -> cells to insert after it
    problems = []
    used_ids = {cell.get("id") for cell in notebook.cells}
    anchor = -1
    for release_index, cell in enumerate(release_cells):
        if release_index in matches:
            anchor = matches[release_index]
            continue
        if not _grade_id(cell):
            continue
        place = after_own_cell.get(release_index, anchor)
        after.setdefault(place, []).append(_restored(cell, used_ids))
        problems.append(_missing_problem(cell, name, release_index in after_own_cell))
    if after:
        cells = list(after.get(-1, []))
        for index, cell in enumerate(notebook.cells):
            cells += [cell, *after.get(index, [])]
        notebook.cells = cells
    return problems


def _restored(release_cell, used_ids: set):
    cell = _fresh_copy(release_cell)
    if cell.get("id") in used_ids:  # cell ids must stay unique
        cell.id = random_cell_id()
    return cell


def _missing_problem(cell, name: str, replaced: bool) -> Problem:
    role, grade_id = _role(cell), _grade_id(cell)
    how = ("was replaced by a cell of the student's (kept, as an ordinary cell)" if replaced
           else "was deleted by the student")
    if role == "answer":
        return Problem("answer-cell-deleted", f"{name}#{grade_id}",
                       f"{name}: answer cell {grade_id} {how}: put back as in the release (no answer)")
    return Problem(f"{role}-cell-deleted", f"{name}#{grade_id}",
                   f"{name}: {role} cell {grade_id} {how}: the instructor's cell was put back")
