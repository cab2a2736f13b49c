"""The unit of work (`primer grade-one`) and the trusted merge (primer.grading.merge).

One submission graded into a self-contained result; the merge records it in
the gradebook exactly as `nbgrader autograde` does (the local backend, built
on the unit, against plain nbgrader on the same class: same rows), and
rejects, with a plain message and without touching the gradebook, a result
that is missing, unfinished, corrupt, truncated, forged or from another
release.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from nbgrader_course import ScratchCourse
from primer.course import venv_path
from primer.grading.merge import ResultRejected, merge_result
from primer.grading.unit import prepare_release
from test_grading_integrity import ASSIGNMENT, CHEATS, FULL, NOTEBOOK, NOTHING, _answer, judge_source

# A small class: honest work right and wrong, two kinds of tampering, deleted tests.
CLASS = {"honest": ("return x * x", "return x ** 3", ""), "wrong": ("return x + x", "return 3 * x", ""),
         "numpy_helpers": ("return 0", "return 0", CHEATS["numpy_helpers"]),
         "custom_exception": ("return 0", "return 0", CHEATS["custom_exception"])}


def judge_course(root: Path, students: dict = CLASS, cube_test: str | None = None) -> ScratchCourse:
    """A course with the integrity tests' judge assignment and ``students``' submissions."""
    course = ScratchCourse(root)
    source = judge_source()
    if cube_test:
        source.cells[-1].source = cube_test
    (course.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(source, course.root / "source" / ASSIGNMENT / NOTEBOOK)
    course.generate(ASSIGNMENT)
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, (square, cube, before) in students.items():
        folder = course.submit(student, ASSIGNMENT, _answer(release, square, cube, before=before))
        (folder / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    return course


def copy_course(course: ScratchCourse, root: Path) -> ScratchCourse:
    shutil.copytree(course.root, root, symlinks=True)
    copy = ScratchCourse.__new__(ScratchCourse)
    copy.root = root
    return copy


def primer(*args: str, cwd: Path = Path("/"), env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "primer.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PATH": venv_path(), **(env or {})})


def gradebook_rows(root: Path) -> dict:
    """What nbgrader autograde records, per student: scores, flags for a person, comments, time."""
    rows = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            rows[submission.student.id] = {
                "timestamp": str(submission.timestamp),
                "grades": sorted((g.name, g.auto_score, g.max_score, g.needs_manual_grade)
                                 for nb in submission.notebooks for g in nb.grades),
                "comments": sorted((c.name, c.auto_comment) for nb in submission.notebooks
                                   for c in nb.comments)}
    return rows


def scores(root: Path) -> dict:
    return {student: {g[0]: (g[1], g[2]) for g in row["grades"]} for student, row in gradebook_rows(root).items()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded by plain nbgrader, and by `primer autograde` (the unit + the merge)."""
    base = tmp_path_factory.mktemp("unit")
    template = judge_course(base / "template")
    by_nbgrader = copy_course(template, base / "nbgrader")
    by_nbgrader.autograde(ASSIGNMENT)
    by_primer = copy_course(template, base / "primer")
    run = primer("autograde", ASSIGNMENT, "-j", "2", "--course", str(by_primer.root))
    # One unit run by hand, for the merge tests: the honest and the wrong student's results.
    release = prepare_release(template.root, ASSIGNMENT, base / "grading-release")
    units = {}
    for student in ("honest", "wrong"):
        units[student] = primer("grade-one", "--release", str(release),
                                "--submission", str(template.root / "submitted" / student / ASSIGNMENT),
                                "--scratch", str(base / "scratch" / student),
                                "--result", str(base / "results" / student))
    return dict(base=base, template=template, nbgrader=by_nbgrader, primer=by_primer, log=run.stdout + run.stderr,
                release=release, units=units)


def test_the_local_backend_records_exactly_what_nbgrader_autograde_records(graded):
    ours, theirs = gradebook_rows(graded["primer"].root), gradebook_rows(graded["nbgrader"].root)
    assert set(ours) == set(CLASS), graded["log"][-3000:]
    assert ours == theirs
    assert scores(graded["primer"].root)["honest"] == FULL
    assert scores(graded["primer"].root)["numpy_helpers"] == NOTHING
    for student in CLASS:  # feedback-ready notebooks where the formgrader looks for them
        assert (graded["primer"].root / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file()
    assert "2 flagged for review" in graded["log"]


def test_grade_one_writes_a_self_contained_result(graded):
    assert graded["units"]["honest"].returncode == 0, graded["units"]["honest"].stderr[-3000:]
    folder = graded["base"] / "results" / "honest"
    record = json.loads((folder / "result.json").read_text())
    assert (record["student"], record["assignment"], record["success"]) == ("honest", ASSIGNMENT, True)
    assert record["notebooks"]["judge"]["scores"] == {"test_square": [2.0, 2.0], "test_cube": [1.0, 1.0]}
    assert record["notebooks"]["judge"]["flags"] == []
    assert record["versions"]["nbgrader"]
    with Gradebook(f"sqlite:///{graded['template'].root / 'gradebook.db'}") as gradebook:
        source_cells = {c.name: c.checksum for c in gradebook.find_notebook("judge", ASSIGNMENT).source_cells}
    assert record["release"] == {"judge": source_cells}
    graded_nb = nbformat.read(folder / "autograded" / NOTEBOOK, as_version=4)
    assert "primer" in graded_nb.metadata
    # Nothing of the scratch course is left behind, and the grading release has no students.
    assert not any((graded["base"] / "scratch" / "honest").iterdir())
    with Gradebook(f"sqlite:///{graded['release'] / 'assignment.db'}") as definitions:
        assert definitions.students == []


def test_a_merged_unit_result_equals_nbgrader_autograde(graded, tmp_path):
    course = copy_course(graded["template"], tmp_path / "course")
    for student in ("honest", "wrong"):
        merged = merge_result(course.root, graded["base"] / "results" / student)
        assert merged.status == "graded"
    expected = gradebook_rows(graded["nbgrader"].root)
    assert gradebook_rows(course.root) == {s: expected[s] for s in ("honest", "wrong")}
    assert (course.root / "autograded" / "honest" / ASSIGNMENT / NOTEBOOK).is_file()
    course.nbgrader("generate_feedback", ASSIGNMENT, "--force")  # the formgrader's next step works
    assert (course.root / "feedback" / "honest" / ASSIGNMENT).is_dir()


# --------------------------------------------------------------------------- rejected results

def _edit_record(folder: Path, change) -> None:
    path = folder / "result.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def _set_score(grade_id: str, points: float):
    def change(record):
        record["notebooks"]["judge"]["scores"][grade_id][0] = points
    return change


def _add_grade(record):
    record["notebooks"]["judge"]["scores"]["test_extra_credit"] = [5.0, 5.0]


def _other_release(record):
    record["release"]["judge"]["test_cube"] = "0" * 32


def _truncate(path: Path):
    def change(folder: Path):
        data = (folder / path).read_bytes()
        (folder / path).write_bytes(data[: len(data) // 2])
    return change


REJECTED = {
    "missing result folder": (lambda folder: shutil.rmtree(folder), "is missing: the task never ran"),
    "unfinished task": (lambda folder: (folder / "result.json").unlink(), "the task did not finish"),
    "truncated result.json": (_truncate(Path("result.json")), "corrupt or truncated"),
    "garbage result.json": (lambda folder: (folder / "result.json").write_text("[1, 2"), "corrupt or truncated"),
    "result.json without scores": (lambda folder: _edit_record(folder, lambda r: r.pop("notebooks")),
                                   "incomplete or malformed"),
    "truncated notebook": (_truncate(Path("autograded") / NOTEBOOK), "corrupt or truncated"),
    "missing notebook": (lambda folder: (folder / "autograded" / NOTEBOOK).unlink(), "is missing"),
    "score above the maximum": (lambda folder: _edit_record(folder, _set_score("test_square", 20.0)),
                                "a score outside 0..maximum is forged"),
    "score the notebook did not earn": (lambda folder: _edit_record(folder, _set_score("test_square", 1.0)),
                                        "are not what its autograded notebook earns"),
    "grade cell not in the release": (lambda folder: _edit_record(folder, _add_grade),
                                      "no graded cell 'test_extra_credit' in the release"),
    "another release's checksums": (lambda folder: _edit_record(folder, _other_release),
                                    "graded against a different release"),
    "another student's name": (lambda folder: _edit_record(folder, lambda r: r.update(student="wrong")),
                               "results were mixed up"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_the_merge_rejects_a_bad_result_and_records_nothing(graded, tmp_path, case):
    course = copy_course(graded["template"], tmp_path / "course")
    folder = tmp_path / "result"
    shutil.copytree(graded["base"] / "results" / "honest", folder)
    spoil, message = REJECTED[case]
    spoil(folder)
    with pytest.raises(ResultRejected, match=message.replace("(", r"\(").replace(".", r"\.")):
        merge_result(course.root, folder, expect_student="honest", expect_assignment=ASSIGNMENT)
    assert gradebook_rows(course.root) == {}
    assert not (course.root / "autograded" / "honest").exists()


def test_a_result_graded_against_another_release_is_rejected(graded, tmp_path):
    """A real result of the same assignment whose tests were changed since: its checksums differ."""
    changed = judge_course(tmp_path / "changed", {"honest": CLASS["honest"]},
                           cube_test="assert cube(3) == 27")
    release = prepare_release(changed.root, ASSIGNMENT, tmp_path / "release")
    done = primer("grade-one", "--release", str(release), "--submission",
                  str(changed.root / "submitted" / "honest" / ASSIGNMENT),
                  "--scratch", str(tmp_path / "scratch"), "--result", str(tmp_path / "result"))
    assert done.returncode == 0, done.stderr[-3000:]
    course = copy_course(graded["template"], tmp_path / "course")
    with pytest.raises(ResultRejected, match="graded against a different release of judge"):
        merge_result(course.root, tmp_path / "result")
    assert gradebook_rows(course.root) == {}


def test_the_summary_says_why_a_rejected_result_was_not_recorded(graded, tmp_path):
    from primer.grading.parallel import SubmissionResult, record_merge

    folder = tmp_path / "result"
    shutil.copytree(graded["base"] / "results" / "wrong", folder)
    _edit_record(folder, _set_score("test_square", 2.0))  # wrong work claiming full marks
    course = copy_course(graded["template"], tmp_path / "course")
    result = SubmissionResult("wrong")
    assert not record_merge(course.root, ASSIGNMENT, result, folder, tmp_path / "wrong.log")
    assert result.status == "failed"
    assert "not what its autograded notebook earns" in result.notes[0]


GARBLED = "    ValueError: Invalid Signature: b'6db580fc2723'"


@pytest.mark.parametrize("log, explained", [
    (f"Traceback (most recent call last):\n{GARBLED}\n", "messages were garbled"),
    ("Traceback (most recent call last):\n  KeyError: 'timestamp'\n[ERROR] see the log",
     "nbgrader autograde failed (KeyError: 'timestamp'); see "),
])
def test_the_summary_says_why_a_grading_failed(graded, tmp_path, log, explained):
    """A failed grading is explained in words, or by its last error line: never only 'see the log'."""
    from primer.grading.parallel import SubmissionResult, record_merge

    folder = tmp_path / "result"
    shutil.copytree(graded["base"] / "results" / "honest", folder)
    _edit_record(folder, lambda r: r.update(success=False, error="autograde failed", log=log))
    course = copy_course(graded["template"], tmp_path / "course")
    result = SubmissionResult("honest")
    assert record_merge(course.root, ASSIGNMENT, result, folder, tmp_path / "honest.log")
    assert result.status == "failed" and explained in " ".join(result.notes), result.notes


def test_cluster_tasks_never_receive_the_gradebooks_address(graded, tmp_path):
    """The grading release goes to every cluster task, where student code runs: a gradebook URL
    (a PostgreSQL password) in the course's settings must not travel with it."""
    course = copy_course(graded["template"], tmp_path / "course")
    # The gradebook under an address that marks it (a PostgreSQL URL would carry a password).
    (course.root / "s3cret-gradebook.db").symlink_to(course.root / "gradebook.db")
    with open(course.root / "nbgrader_config.py", "a") as config:
        config.write(f'\nc.CourseDirectory.db_url = "sqlite:///{course.root}/s3cret-gradebook.db"\n')
    done = primer("autograde", ASSIGNMENT, "--backend", "kubernetes", "--dry-run", "--course", str(course.root))
    assert done.returncode == 0, done.stderr[-3000:]
    written = [p for p in (course.root / ".primer-cluster").rglob("*") if p.is_file()]
    assert any(p.name == "nbgrader_config.py" for p in written)
    assert not [p for p in written if b"s3cret" in p.read_bytes()], "the password reached the tasks"


def test_a_course_folder_without_settings_still_grades_in_the_sandbox(graded, tmp_path):
    """On the hub the course folder's nbgrader_config.py is empty: the course-wide settings come
    from the Jupyter config path. The grading release must carry them, and the unit must refuse
    a release that does not run kernels in the sandbox."""
    from primer.grading.unit import SANDBOX, prepare_release

    course = copy_course(graded["template"], tmp_path / "course")
    (course.root / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    assert SANDBOX in (release / "nbgrader_config.py").read_text()
    (release / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    done = primer("grade-one", "--release", str(release), "--submission",
                  str(course.root / "submitted" / "honest" / ASSIGNMENT), "--scratch",
                  str(tmp_path / "scratch"), "--result", str(tmp_path / "result"))
    assert done.returncode == 1 and "does not run kernels in the sandbox" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "result" / "result.json").exists()


def test_the_summary_says_a_submission_was_graded_without_the_memory_cgroup(graded, tmp_path):
    """A sandbox that got no memory cgroup (primer/grading/cgroups.py) is said, even when all went well."""
    from primer.grading.parallel import SubmissionResult, record_merge

    folder = tmp_path / "result"
    shutil.copytree(graded["base"] / "results" / "honest", folder)
    _edit_record(folder, lambda r: r.update(sandbox_events=["no-memory-cgroup"]))
    course = copy_course(graded["template"], tmp_path / "course")
    result = SubmissionResult("honest")
    assert record_merge(course.root, ASSIGNMENT, result, folder, tmp_path / "honest.log")
    assert result.status == "graded"
    assert any("WITHOUT the sandbox's memory cgroup" in note for note in result.notes), result.notes
