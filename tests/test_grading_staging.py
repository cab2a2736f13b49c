"""stage_submission: a bad or malicious submission folder becomes a safe, gradable copy.

Every case is a real folder on disk; the last tests run the real
`nbgrader autograde` on the staged copies.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import pytest

from conftest import nbgrader_meta
from grading_fixtures import (ASSIGNMENT, NOTEBOOK, answered, cell_by_grade_id, tiny_course,
                              write_submission)
from primer.grading.staging import MAX_DEPTH, MAX_ENTRIES, Problem, stage_submission
from primer.safecopy import copy_tree


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return tiny_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def release(course) -> Path:
    return course.root / "release" / ASSIGNMENT


@pytest.fixture(scope="module")
def release_nb(release):
    return nbformat.read(release / NOTEBOOK, as_version=4)


def stage(submitted: Path, release: Path, tmp_path: Path) -> tuple[Path, list[Problem]]:
    destination = tmp_path / "staged" / "student" / ASSIGNMENT
    return destination, stage_submission(submitted, release, destination)


def kinds(problems: list[Problem]) -> list[str]:
    return sorted(problem.kind for problem in problems)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (never followed): type, size, mtime and content hash."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path) and info.st_size < 1 << 20:
                digest = hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()
            state[path] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return state


def staged_cells(destination: Path) -> list[tuple[str, str | None]]:
    notebook = nbformat.read(destination / NOTEBOOK, as_version=4)
    return [(cell.cell_type, nbgrader_meta(cell).get("grade_id")) for cell in notebook.cells]


# --------------------------------------------------------------------------- files and folders

def test_clean_submission_is_copied_with_no_problem(release, release_nb, tmp_path):
    submitted = write_submission(tmp_path / "submitted", answered(release_nb))
    (submitted / "helper.py").write_text("X = 1\n")
    destination, problems = stage(submitted, release, tmp_path)
    assert problems == []
    assert sorted(p.name for p in destination.iterdir()) == ["helper.py", "timestamp.txt", NOTEBOOK]
    assert (destination / "timestamp.txt").read_text() == (submitted / "timestamp.txt").read_text()
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert [c.source for c in staged.cells] == [c.source for c in answered(release_nb).cells]


def test_symlinks_are_never_followed_nor_copied(release, release_nb, tmp_path):
    submitted = write_submission(tmp_path / "submitted", answered(release_nb))
    (submitted / "secret.txt").symlink_to("/etc/shadow")
    (submitted / "etc").symlink_to("/etc", target_is_directory=True)
    (submitted / "data").mkdir()
    (submitted / "data" / "deep").mkdir()
    (submitted / "data" / "deep" / "passwd").symlink_to("/etc/passwd")
    (submitted / "data" / "deep" / "ok.csv").write_text("a,b\n1,2\n")
    (submitted / "dangling").symlink_to(tmp_path / "nowhere")
    before = snapshot(tmp_path / "submitted")

    destination, problems = stage(submitted, release, tmp_path)

    assert kinds(problems) == ["symlink"] * 4
    assert {p.path for p in problems} == {"secret.txt", "etc", "data/deep/passwd", "dangling"}
    assert all("symbolic link" in p.message for p in problems)
    copied = sorted(str(p.relative_to(destination)) for p in destination.rglob("*"))
    assert copied == ["data", "data/deep", "data/deep/ok.csv", "timestamp.txt", NOTEBOOK]
    assert not any(p.is_symlink() for p in destination.rglob("*"))
    assert snapshot(tmp_path / "submitted") == before


def test_a_symlinked_notebook_counts_as_missing(release, tmp_path):
    secret = tmp_path / "secret.ipynb"
    secret.write_text('{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / NOTEBOOK).symlink_to(secret)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["nothing-to-grade", "symlink"]
    assert not (destination / NOTEBOOK).exists()
    assert problems[0].message == (f"{NOTEBOOK} is a symbolic link: never followed, not copied: "
                                   "graded as missing, 0 points")


def test_a_notebook_not_submitted_is_reported_missing(release, tmp_path):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "notes.txt").write_text("I forgot the notebook")
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["missing-notebook", "nothing-to-grade"]
    assert problems[0].message == f"{NOTEBOOK} was not submitted: graded as missing, 0 points"


def test_a_symlinked_submission_folder_is_not_entered(release, release_nb, tmp_path):
    real = write_submission(tmp_path / "elsewhere", answered(release_nb))
    submitted = tmp_path / "submitted"
    submitted.symlink_to(real, target_is_directory=True)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["missing-notebook", "nothing-to-grade", "unreadable-folder"]
    assert "symlink" in next(p for p in problems if p.kind == "unreadable-folder").message
    assert list(destination.iterdir()) == []

    student_link = tmp_path / "student-link"
    student_link.symlink_to(tmp_path, target_is_directory=True)  # submitted/<student> -> elsewhere
    destination, problems = stage(student_link / "elsewhere", release, tmp_path / "second")
    assert kinds(problems) == ["missing-notebook", "nothing-to-grade", "unreadable-folder"]
    assert list(destination.iterdir()) == []


@pytest.mark.timeout(30)
def test_hostile_files_are_skipped_quickly_and_reported(release, release_nb, tmp_path):
    submitted = write_submission(tmp_path / "submitted", answered(release_nb))
    with open(os.path.join(os.fsencode(submitted), b"caf\xe9-latin1.txt"), "wb") as file:
        file.write(b"not utf-8 name")
    os.mkfifo(submitted / "pipe")  # opening it for reading would block forever
    with open(submitted / "huge.bin", "wb") as sparse:  # 2 GB that take no disk space
        sparse.truncate(2 * 1024 ** 3)
    (submitted / "small.csv").write_text("x\n1\n")
    deep = submitted.joinpath(*["d"] * (MAX_DEPTH + 10))
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep")
    before = snapshot(submitted)

    destination, problems = stage(submitted, release, tmp_path)

    assert kinds(problems) == ["bad-name", "special-file", "too-deep", "too-large"]
    by_kind = {p.kind: p for p in problems}
    assert by_kind["bad-name"].path == "caf\ufffd-latin1.txt"
    assert "2048.0 MB" in by_kind["too-large"].message
    assert (destination / "small.csv").read_text() == "x\n1\n"
    assert not (destination / "huge.bin").exists() and not (destination / "pipe").exists()
    assert not any(b"latin1" in name for name in os.listdir(os.fsencode(destination)))
    deepest = max(len(p.relative_to(destination).parts) for p in destination.rglob("*"))
    assert deepest <= MAX_DEPTH
    assert snapshot(submitted) == before


def test_a_huge_tree_is_cut_at_the_budget_without_leaking_descriptors(release, release_nb,
                                                                      tmp_path):
    submitted = write_submission(tmp_path / "submitted", answered(release_nb))
    for index in range(MAX_ENTRIES // 2 + 10):  # wide: one folder with one file, many times
        folder = submitted / f"f{index:05d}"
        folder.mkdir()
        (folder / "x.txt").write_text("x")
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["too-many-files"]
    assert len(list(destination.rglob("*"))) < MAX_ENTRIES
    assert (destination / NOTEBOOK).is_file()  # what is graded is copied first
    # Descriptors still open on the submission or the copy (not a count of all of this
    # process's: earlier tests' objects may close theirs meanwhile, when collected).
    assert _open_under(tmp_path) == []


def _open_under(folder) -> list[str]:
    """What this process still has open under ``folder``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (or the listing's own descriptor)
            continue
        if target == str(folder) or target.startswith(f"{folder}/"):
            found.append(target)
    return found


def test_a_fresh_destination_is_required(release, release_nb, tmp_path):
    submitted = write_submission(tmp_path / "submitted", answered(release_nb))
    destination = tmp_path / "staged"
    (destination / "old").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="fresh, empty folder"):
        stage_submission(submitted, release, destination)


# --------------------------------------------------------------------------- notebooks

@pytest.mark.parametrize("content, says", [
    ('{"cells": [\n  {"cell_type": "code",\n  oops}', "not valid JSON (line 3)"),
    ('["a", "list"]', "JSON but not a notebook"),
    ('{"some": "dict"}', "JSON but not a notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "cells": "nope", "metadata": {}}',
     "not a notebook nbformat can read"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
])
def test_an_unreadable_notebook_is_not_staged(release, tmp_path, content, says):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    data = content.encode() if isinstance(content, str) else content
    (submitted / NOTEBOOK).write_bytes(data)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["invalid-notebook", "nothing-to-grade"]
    assert says in problems[0].message
    assert problems[0].message.endswith("graded as missing, 0 points")
    assert not (destination / NOTEBOOK).exists()


def test_a_notebook_folder_is_not_a_notebook(release, tmp_path):
    submitted = tmp_path / "submitted"
    (submitted / NOTEBOOK).mkdir(parents=True)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["invalid-notebook", "nothing-to-grade"]


def test_duplicate_cell_ids_are_repaired_not_refused(release, release_nb, tmp_path):
    notebook = json.loads(nbformat.writes(answered(release_nb)))
    for cell in notebook["cells"]:
        cell["id"] = "same"
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / NOTEBOOK).write_text(json.dumps(notebook))
    destination, problems = stage(submitted, release, tmp_path)
    assert problems == []
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert len({cell.id for cell in staged.cells}) == len(staged.cells)


def test_an_nbformat_3_notebook_is_upgraded(release, release_nb, tmp_path):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    old = nbformat.convert(answered(release_nb), 3)
    (submitted / NOTEBOOK).write_text(nbformat.writes(old, version=3))
    destination, problems = stage(submitted, release, tmp_path)
    assert [p.kind for p in problems] == ["upgraded-notebook"]
    assert "format 3" in problems[0].message
    staged = json.loads((destination / NOTEBOOK).read_text())
    assert staged["nbformat"] == 4
    assert staged_cells(destination) == staged_cells_of(release_nb)


def staged_cells_of(notebook) -> list[tuple[str, str | None]]:
    return [(cell.cell_type, nbgrader_meta(cell).get("grade_id")) for cell in notebook.cells]


# --------------------------------------------------------------------------- protected cells

def without(notebook, grade_id: str):
    notebook.cells = [c for c in notebook.cells if nbgrader_meta(c).get("grade_id") != grade_id]
    return notebook


def test_a_deleted_test_cell_is_put_back_where_it_was(release, release_nb, tmp_path):
    submitted = write_submission(tmp_path / "submitted", without(answered(release_nb), "test_square"))
    destination, problems = stage(submitted, release, tmp_path)
    assert [p.kind for p in problems] == ["test-cell-deleted"]
    assert problems[0].path == f"{NOTEBOOK}#test_square"
    assert staged_cells(destination) == staged_cells_of(release_nb)
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert cell_by_grade_id(staged, "test_square") == cell_by_grade_id(release_nb, "test_square")


def test_stripped_or_edited_test_metadata_is_restored(release, release_nb, tmp_path):
    notebook = answered(release_nb)
    del cell_by_grade_id(notebook, "test_cube").metadata["nbgrader"]  # stripped
    square_test = cell_by_grade_id(notebook, "test_square")
    square_test.metadata["nbgrader"].update(grade=False, points=50)  # edited
    submitted = write_submission(tmp_path / "submitted", notebook)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["test-cell-altered", "test-cell-unmarked"]
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    for grade_id in ("test_square", "test_cube"):
        assert cell_by_grade_id(staged, grade_id).metadata == \
            cell_by_grade_id(release_nb, grade_id).metadata


def test_a_test_cell_found_only_by_position_is_put_back_next_to_it(release, release_nb,
                                                                    tmp_path):
    # Pasted into a fresh notebook: new cell ids, and the test cell lost its metadata and was edited.
    # That cell may as well be the student's own: it is kept, and the real test follows it.
    notebook = answered(release_nb)
    for cell in notebook.cells:
        cell.id = "x" + cell.id
    test = cell_by_grade_id(notebook, "test_cube")
    test.source, test.metadata = "pass", {}
    submitted = write_submission(tmp_path / "submitted", notebook)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["test-cell-deleted"]
    assert "replaced by a cell of the student's" in problems[0].message
    expected = staged_cells_of(release_nb)
    expected.insert(4, ("code", None))
    assert staged_cells(destination) == expected
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert staged.cells[4].source == "pass"
    assert cell_by_grade_id(staged, "test_cube").source == \
        cell_by_grade_id(release_nb, "test_cube").source


def test_a_test_cell_unmarked_but_still_recognisable_is_restored_in_place(release, release_nb,
                                                                          tmp_path):
    notebook = answered(release_nb)
    for cell in notebook.cells:
        cell.id = "x" + cell.id
    cell_by_grade_id(notebook, "test_cube").metadata = {}  # same source: matched by content
    submitted = write_submission(tmp_path / "submitted", notebook)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["test-cell-unmarked"]
    assert staged_cells(destination) == staged_cells_of(release_nb)


def test_edited_locked_cells_and_answers_without_metadata(release, release_nb, tmp_path):
    notebook = answered(release_nb)
    cell_by_grade_id(notebook, "intro").source = "# My own title"
    cell_by_grade_id(notebook, "test_square").source = "pass"
    del cell_by_grade_id(notebook, "why").metadata["nbgrader"]
    submitted = write_submission(tmp_path / "submitted", notebook)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["answer-cell-unmarked", "locked-cell-edited", "test-cell-edited"]
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert cell_by_grade_id(staged, "intro").source == cell_by_grade_id(release_nb, "intro").source
    why = cell_by_grade_id(staged, "why")
    assert why.source == "Because minus times minus is plus."  # the answer is kept
    assert why.metadata["nbgrader"] == cell_by_grade_id(release_nb, "why").metadata["nbgrader"]


def test_copies_and_made_up_grade_cells_lose_their_grading_metadata(release, release_nb, tmp_path):
    notebook = answered(release_nb)
    fake = nbformat.from_dict(json.loads(json.dumps(cell_by_grade_id(notebook, "test_square"))))
    fake.id, fake.source = "fake-copy", "assert True"
    made_up = nbformat.v4.new_code_cell("print('free points')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "points": 100, "solution": False, "locked": False}})
    weird = nbformat.v4.new_code_cell("1", metadata={"nbgrader": "not a dict"})
    notebook.cells += [fake, made_up, weird]
    submitted = write_submission(tmp_path / "submitted", notebook)
    destination, problems = stage(submitted, release, tmp_path)
    assert kinds(problems) == ["stray-grading-metadata"] * 3
    staged = nbformat.read(destination / NOTEBOOK, as_version=4)
    assert [nbgrader_meta(c).get("grade_id") for c in staged.cells[-3:]] == [None] * 3
    assert cell_by_grade_id(staged, "test_square").source == \
        cell_by_grade_id(release_nb, "test_square").source


# --------------------------------------------------------------------------- with nbgrader autograde

def test_autograde_of_staged_submissions_grades_restored_tests(course, release, release_nb):
    """Real `nbgrader autograde` reading the staging folder instead of submitted/."""
    wrong_square = "return x * abs(x)"  # passes the visible test, fails the hidden one
    pass_test = answered(release_nb, square=wrong_square)
    cell_by_grade_id(pass_test, "test_square").source = "pass"
    cell_by_grade_id(pass_test, "test_square").metadata["nbgrader"]["locked"] = False
    stripped = answered(release_nb, square=wrong_square)
    cell_by_grade_id(stripped, "test_square").metadata = {}
    submissions = {
        "deleted_wrong": without(answered(release_nb, square=wrong_square), "test_square"),
        "deleted_right": without(answered(release_nb), "test_square"),
        "edited_to_pass": pass_test,
        "stripped": stripped,
    }
    for student, notebook in submissions.items():
        submitted = write_submission(course.root / "submitted" / student / ASSIGNMENT, notebook)
        stage_submission(submitted, release, course.root / "staged" / student / ASSIGNMENT)

    course.nbgrader("autograde", ASSIGNMENT, "--force", "--CourseDirectory.submitted_directory=staged")

    grades = {student: course.grades(ASSIGNMENT, student) for student in submissions}
    assert grades["deleted_wrong"]["test_square"] == (0.0, 2.0)  # a zero, not a missing grade
    assert grades["deleted_right"]["test_square"] == (2.0, 2.0)  # the restored test really ran
    assert grades["edited_to_pass"]["test_square"] == (0.0, 2.0)
    assert grades["stripped"]["test_square"] == (0.0, 2.0)
    assert all(g["test_cube"] == (1.0, 1.0) for g in grades.values())
    graded = nbformat.read(course.root / "autograded" / "edited_to_pass" / ASSIGNMENT / NOTEBOOK,
                           as_version=4)
    assert "BEGIN HIDDEN TESTS" in cell_by_grade_id(graded, "test_square").source


# --------------------------------------------------------------------------- the copier itself

def test_a_symlink_swapped_in_after_the_listing_is_not_followed(tmp_path):
    """A student swaps a file and a folder for links between the listing and the copy."""
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("first")
    (source / "z.txt").write_text("harmless")
    (source / "sub" / "inner.txt").write_text("inner")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")

    def swap(path: str, data: bytes) -> bytes:
        if path == "a.txt":  # copied first: the rest is already listed
            (source / "z.txt").unlink()
            (source / "z.txt").symlink_to(secret)
            (source / "sub").rename(tmp_path / "moved")
            (source / "sub").symlink_to(tmp_path / "moved", target_is_directory=True)
        return data

    report = copy_tree(source, tmp_path / "copy", transform=swap, first={"a.txt"})
    assert sorted(p.kind for p in report.problems) == ["symlink", "symlink"]
    assert {p.path for p in report.problems} == {"z.txt", "sub"}
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["a.txt"]
    assert report.copied == ["a.txt"]


def test_the_owner_check_refuses_every_entry_of_another_account(tmp_path):
    source = tmp_path / "source"
    (source / "theirs").mkdir(parents=True)
    (source / "mine.txt").write_text("mine")
    (source / "planted.txt").write_text("planted")
    os.chown(source / "planted.txt", 65534, 65534)  # nobody
    os.chown(source / "theirs", 65534, 65534)
    report = copy_tree(source, tmp_path / "copy", owner_uid=os.getuid())
    assert sorted((p.kind, p.path) for p in report.problems) == [
        ("foreign-owner", "planted.txt"), ("foreign-owner", "theirs")]
    assert "belongs to user nobody, not to user root" in report.problems[0].message
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["mine.txt"]
    report = copy_tree(source, tmp_path / "copy2", owner_uid=65534)
    assert [(p.kind, p.path) for p in report.problems] == [("foreign-owner", ".")]
    assert list((tmp_path / "copy2").iterdir()) == []
