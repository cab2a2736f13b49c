"""The course grades wherever it is cloned, /tmp included.

A clone under /tmp has its venv under /tmp (scripts/venv-path puts it in the
checkout). The sandbox mounts a tmpfs of its own on /tmp: mounted after the
course environment, it hid it, and every kernel died before replying to
kernel_info. Here the course environment is reached through a path under
/tmp (a link to this venv, so sys.prefix and the kernel's interpreter are
under /tmp, as in such a clone), the course folder is under /tmp too, and one
honest and one wrong student are graded through every path: `primer
autograde`, plain `nbgrader autograde`, the formgrader's Autograde call and
`primer grade-one` (the cluster unit).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from nbgrader_course import ScratchCourse
from grading_fixtures import FORMGRADER_BUTTON
from test_grading_integrity import ASSIGNMENT, FULL, NOTEBOOK, NOTHING, _answer, judge_source

pytestmark = pytest.mark.root  # kernels run as sandbox accounts
STUDENTS = {"honest": ("return x * x", "return x ** 3"), "wrong": ("return x + x", "return 3 * x")}


@pytest.fixture(scope="module")
def clone():
    """A folder under /tmp with the course environment at <folder>/.venv, as in a clone there."""
    folder = Path(tempfile.mkdtemp(prefix="primer-clone-", dir="/tmp"))
    (folder / ".venv").symlink_to(Path(sys.prefix).resolve())
    done = _run(folder, ["-c", "import sys; print(sys.prefix)"], cwd=folder)
    assert done.stdout.strip() == str(folder / ".venv"), "the interpreter must live under /tmp here"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run(clone: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    python = clone / ".venv" / "bin" / "python"
    env = {**os.environ, "PATH": f"{clone / '.venv' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def course(clone):
    course = ScratchCourse(clone / "course")
    (course.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(judge_source(), course.root / "source" / ASSIGNMENT / NOTEBOOK)
    course.generate(ASSIGNMENT)
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, (square, cube) in STUDENTS.items():
        folder = course.submit(student, ASSIGNMENT, _answer(release, square, cube))
        (folder / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    return course


def _scores(root: Path) -> dict:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        return {s.student.id: {g.name: (g.auto_score, g.max_score) for nb in s.notebooks for g in nb.grades}
                for s in gradebook.assignment_submissions(ASSIGNMENT)}


def _copy(course: ScratchCourse, root: Path) -> Path:
    shutil.copytree(course.root, root, symlinks=True)
    return root


@pytest.mark.parametrize("path", ["primer", "nbgrader", "formgrader"])
def test_a_course_under_tmp_grades_on_every_path(clone, course, path):
    root = _copy(course, clone / f"by-{path}")
    if path == "primer":
        done = _run(clone, ["-m", "primer.cli", "autograde", ASSIGNMENT, "-j", "2", "--course", str(root)], cwd=Path("/"))
    elif path == "nbgrader":
        done = _run(clone, ["-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], cwd=root)
    else:
        done = _run(clone, ["-c", FORMGRADER_BUTTON, ASSIGNMENT, *STUDENTS], cwd=root)
    log = done.stdout + done.stderr
    assert "Kernel died" not in log, log[-3000:]
    assert _scores(root) == {"honest": FULL, "wrong": NOTHING}, log[-3000:]


def test_a_course_under_tmp_grades_in_the_cluster_unit(clone, course):
    from primer.grading.unit import prepare_release

    release = prepare_release(course.root, ASSIGNMENT, clone / "grading-release")
    for student, scores in (("honest", FULL), ("wrong", NOTHING)):
        result = clone / "results" / student
        done = _run(clone, ["-m", "primer.cli", "grade-one", "--release", str(release),
                            "--submission", str(course.root / "submitted" / student / ASSIGNMENT),
                            "--scratch", str(clone / "scratch" / student), "--result", str(result)],
                    cwd=Path("/"))
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        record = json.loads((result / "result.json").read_text())
        assert record["success"], record.get("error", "")[-3000:] + record.get("log", "")[-3000:]
        assert record["notebooks"]["judge"]["scores"] == {k: list(v) for k, v in scores.items()}
