"""Check a submitted notebook against the release and put back what the student may not change.

Used by staging (``primer autograde``) and, as an nbgrader preprocessor, by
every autograde path (primer.grading.integrity).
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import nbformat
from nbformat.v4.nbbase import random_cell_id
from nbformat.validator import normalize

from primer.grading.problems import Problem, Skipped

# nbgrader metadata that decides how a cell is graded; a student must not change it.
GRADING_KEYS = ("grade", "solution", "locked", "task", "grade_id", "points")


def stage_notebook(data: bytes, name: str, release_path: Path,
                    problems: list[Problem]) -> str | None:
    """The submitted notebook repaired against the release, as JSON; None if it cannot be graded."""
    try:
        notebook = _parse_notebook(data, name, problems)
    except Skipped as skipped:
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
        raise Skipped("invalid-notebook", f"{name} is not UTF-8 text: {missing}") from None
    except json.JSONDecodeError as error:
        raise Skipped("invalid-notebook",
                       f"{name} is not valid JSON (line {error.lineno}): {missing}") from None
    except RecursionError:
        raise Skipped("invalid-notebook", f"{name} is nested too deeply to read: {missing}") from None
    version = raw.get("nbformat") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(version, int):
        raise Skipped("invalid-notebook", f"{name} is JSON but not a notebook: {missing}")
    try:
        with warnings.catch_warnings():  # nbformat warns about each duplicate cell id it renames
            warnings.simplefilter("ignore")
            notebook = _validated(nbformat.reads(text, as_version=4, capture_validation_error={}))
    except Exception as error:  # nbformat raises many types for many kinds of broken input
        raise Skipped("invalid-notebook",
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
    keep the student's answer but get their grading metadata back. Every
    matched cell's nbgrader metadata is the release's, whole (a changed
    ``schema_version`` alone makes nbgrader stop grading the class). Cells are
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
        problems += _release_metadata(notebook.cells[staged_index], release.cells[release_index], name)
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


def submitted_nbgrader_meta(cell) -> dict:
    """A submitted cell's nbgrader metadata, or {} when it is missing or not a mapping."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}  # a student may put anything there


def _grade_id(cell) -> str | None:
    grade_id = submitted_nbgrader_meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) and grade_id else None


def _content_key(cell):
    return (cell.get("cell_type"), cell.get("source")) if cell.get("source") else None


def _grading(cell) -> dict:
    meta = submitted_nbgrader_meta(cell)
    grading = {key: meta.get(key) for key in GRADING_KEYS}
    if grading["points"] is not None:
        try:
            grading["points"] = float(grading["points"])
        except (TypeError, ValueError):
            pass
    return grading | {"cell_type": cell.get("cell_type")}


def _role(cell) -> str:
    meta = submitted_nbgrader_meta(cell)
    if meta.get("solution"):
        return "answer"
    if cell.get("cell_type") == "code" and meta.get("grade"):
        return "test"
    return "locked"


def _repair_cell(cells, index: int, release_cell, name: str) -> list[Problem]:
    cell, grade_id, role = cells[index], _grade_id(release_cell), _role(release_cell)
    where = f"{name}#{grade_id}"
    if _grading(cell) != _grading(release_cell):
        change = "unmarked" if not submitted_nbgrader_meta(cell) else "altered"
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


def _release_metadata(cell, release_cell, name: str) -> list[Problem]:
    """Give ``cell`` the release's nbgrader metadata, whole; none if the release cell has none."""
    release_meta = release_cell.get("metadata", {}).get("nbgrader")
    metadata = cell.setdefault("metadata", {})
    if metadata.get("nbgrader") == release_meta:
        return []
    if release_meta is None:
        metadata.pop("nbgrader", None)
    else:
        metadata["nbgrader"] = copy.deepcopy(release_meta)
    where = _grade_id(release_cell) or str(release_cell.get("id", "(no id)"))
    return [Problem("nbgrader-metadata-altered", f"{name}#{where}",
                    f"{name}: the nbgrader metadata of cell {where} was changed by the student: "
                    "the release's was put back")]


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
