"""The `primer` command's building blocks and the errors they give."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, source_notebook
from nbgrader_course import ScratchCourse
from primer.course import CourseError, cells_with_outputs, find_repo, strip_outputs
from primer.hub.runtime import HubRuntime
from primer.accounts import AccountError, ensure_user


def primer(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "primer.cli", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_find_repo_outside_the_course_says_where_to_go(tmp_path):
    with pytest.raises(CourseError, match="not inside the course repository"):
        find_repo(tmp_path)
    result = primer("check", cwd=tmp_path)
    assert result.returncode == 1 and "error: " in result.stderr and "Traceback" not in result.stderr


def test_strip_outputs_clears_outputs_and_counts(tmp_path, assignment):
    notebook = nbformat.read(source_notebook(assignment), as_version=4)
    code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells[code].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    notebook.cells[code].execution_count = 3
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    assert cells_with_outputs(path) == [code]
    assert strip_outputs(path) is True
    assert cells_with_outputs(path) == []
    assert strip_outputs(path) is False


@pytest.mark.slow  # generates every assignment with nbgrader
def test_check_reports_a_drifted_release(tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", "node_modules", ".git"))
    (released,) = (copy / "release" / "01_prerequisites").glob("*.ipynb")
    released.write_text(released.read_text() + "\n")
    result = primer("check", cwd=copy)
    assert result.returncode == 1
    assert "out of date: 01_prerequisites/" in result.stdout and "make release" in result.stdout


@pytest.mark.parametrize("variable, value, message", [
    ("PRIMER_HUB_PORT", "eighty", "not a port number"),
    ("PRIMER_STUDENTS", " , ", "at least one account"),
])
def test_hub_settings_are_checked(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        HubRuntime.from_environment()


@pytest.mark.parametrize("variable, value", [
    ("PRIMER_STUDENT_PASSWORD", "short"),
    ("PRIMER_INSTRUCTOR_PASSWORD", "only-twenty-chars-ok"),
])
def test_weak_passwords_are_refused(monkeypatch, tmp_path, variable, value):
    monkeypatch.setenv("PRIMER_RUNTIME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match="at least"):
        HubRuntime.from_environment().passwords(REPO)


def test_generated_passwords_persist_and_stay_private(monkeypatch, tmp_path):
    monkeypatch.setenv("PRIMER_RUNTIME", str(tmp_path))
    monkeypatch.delenv("PRIMER_STUDENT_PASSWORD", raising=False)
    monkeypatch.delenv("PRIMER_INSTRUCTOR_PASSWORD", raising=False)
    runtime = HubRuntime.from_environment()
    runtime.make_folders()
    first = runtime.passwords(REPO)
    assert first == runtime.passwords(REPO)
    assert (tmp_path / "hub" / "passwords.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "hub").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name", ["Alice", "a b", "../etc", "x" * 40, "-rf"])
def test_unusable_account_names_are_refused(name):
    with pytest.raises(AccountError, match="not a usable account name"):
        ensure_user(name)


# -- every `primer` command works without the environment on PATH, and fails clearly ------------

VENV_PRIMER = Path(sys.executable).parent / "primer"
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def run_primer(*args, cwd=REPO, env=None):
    """`.venv/bin/primer ...` as a person runs it: with a bare PATH unless ``env`` says otherwise."""
    return subprocess.run([str(VENV_PRIMER), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PATH": BARE_PATH, **(env or {})})


@pytest.fixture
def small_course(tmp_path):
    """A course folder with 00_setup released (from the repository's release/) and no gradebook."""
    course = ScratchCourse(tmp_path / "course")
    shutil.copytree(REPO / "release" / "00_setup", course.root / "release" / "00_setup")
    return course


def test_primer_works_without_the_environment_on_path(small_course):
    course, small_course = small_course, small_course.root
    """Without a gradebook: a plain error that leaves none behind (not nbgrader's FileNotFoundError
    'alembic'); once the assignment is generated, grading works with a bare PATH, twice."""
    done = run_primer("autograde", "00_setup", "--course", str(small_course))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "no gradebook" in done.stderr and "nbgrader generate_assignment 00_setup" in done.stderr
    assert not (small_course / "gradebook.db").exists(), "a failed run left a gradebook behind"
    assert not (small_course / ".primer-staging").exists()
    course.generate("00_setup")
    for attempt in (1, 2):
        done = run_primer("autograde", "00_setup", "--course", str(small_course))
        assert done.returncode == 0, (attempt, done.stdout[-2000:] + done.stderr[-3000:])
        assert "00_setup: 0 submissions" in done.stdout
    assert not (small_course / ".primer-staging").exists()


def test_primer_survey_works_in_the_course_folder_as_the_readme_writes_it():
    done = run_primer("survey", cwd=REPO / "source")
    assert done.returncode == 0, done.stderr
    assert "07_feedback" in done.stdout and str(REPO) in done.stdout
    for verb in ("survey", "export"):
        usage = run_primer(verb, "--help")
        assert usage.stdout.startswith(f"usage: primer {verb}"), usage.stdout[:200]
        assert "python -m" not in usage.stdout


@pytest.mark.parametrize("options, refused", [
    (["--dry-run"], "--dry-run applies to --backend kubernetes only"),
    (["--sbatch-option=--qos=short"], "--sbatch-option applies to --backend slurm only"),
    (["--backend", "slurm", "--dry-run"], "--dry-run applies to --backend kubernetes only"),
    (["--backend", "kubernetes", "--dry-run", "-j", "4"], "-j/--jobs applies to --backend local only"),
])
def test_an_option_that_does_not_apply_to_the_backend_is_refused(small_course, options, refused):
    small_course = small_course.root
    done = run_primer("autograde", "00_setup", "--course", str(small_course), *options)
    assert done.returncode == 1 and refused in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    # Nothing was graded or prepared.
    assert not (small_course / "gradebook.db").exists()
    assert not (small_course / ".primer-staging").exists() and not (small_course / ".primer-cluster").exists()


def test_an_unknown_assignment_lists_the_real_ones(small_course):
    small_course = small_course.root
    done = run_primer("autograde", "00_setu", "--course", str(small_course))
    assert done.returncode == 1, done.stderr
    assert "no assignment '00_setu'" in done.stderr and "00_setup" in done.stderr
    assert "generate_assignment 00_setu" not in done.stderr
    # Written but not generated yet: then generating it is the advice.
    done = run_primer("autograde", "01_prerequisites", "--course", str(small_course))
    assert "nbgrader generate_assignment 01_prerequisites" in done.stderr, done.stderr
    assert not (small_course / "gradebook.db").exists()


@pytest.fixture
def hub_runtime(tmp_path):
    """A hub runtime folder as `primer hub` leaves it, with 01_prerequisites released."""
    runtime = tmp_path / "runtime"
    (runtime / "hub").mkdir(parents=True)
    (runtime / "exchange" / "primer" / "outbound" / "01_prerequisites").mkdir(parents=True)
    return runtime


@pytest.mark.root
def test_the_queue_refuses_an_assignment_the_hub_has_not_released(hub_runtime, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the queue's switch is root's: run this test as root")
    done = run_primer("queue", "enable", "01_prerequisite", cwd=tmp_path,
                      env={"PRIMER_RUNTIME": str(hub_runtime)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no assignment '01_prerequisite'" in done.stderr and "01_prerequisites" in done.stderr
    assert not (hub_runtime / "queue").exists(), "a refused switch wrote the queue's journal"
    done = run_primer("queue", "enable", "01_prerequisites", cwd=tmp_path,
                      env={"PRIMER_RUNTIME": str(hub_runtime)})
    assert done.returncode == 0 and "grading on submit is on for 01_prerequisites" in done.stdout, done.stderr


@pytest.mark.root
def test_the_queue_without_root_says_how_to_run_it(hub_runtime):
    if os.geteuid() != 0:
        pytest.fail("this test runs the command as `nobody`: run it as root")
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           str(VENV_PRIMER), "queue", "status"], cwd="/", capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PATH": BARE_PATH,
                                            "PRIMER_RUNTIME": str(hub_runtime)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"sudo {VENV_PRIMER} queue status" in done.stderr, done.stderr
    assert "make hub" not in done.stderr and "Traceback" not in done.stderr


def test_08s_worked_example_files_are_never_released_nor_committed(tmp_path):
    """An author runs 08's solution where it lives: what it writes there stays out of the release and git."""
    course = ScratchCourse(tmp_path / "course")
    folder = course.root / "source" / "08_your_own_data"
    (folder / "example_images").mkdir()
    (folder / "example_images" / "sub-00.nii.gz").write_bytes(b"not a real image")
    (folder / "oasis_example.csv").write_text("subject_id,age\nOAS1,70\n")
    course.generate("08_your_own_data")
    released = {p.name for p in (course.root / "release" / "08_your_own_data").iterdir()}
    assert released == {"your_own_data.ipynb"}, released
    for leftover in ("example_images/sub-00.nii.gz", "oasis_example.csv"):
        ignored = subprocess.run(["git", "check-ignore", "-q", f"source/08_your_own_data/{leftover}"],
                                 cwd=REPO)
        assert ignored.returncode == 0, f"git would commit source/08_your_own_data/{leftover}"


@pytest.mark.parametrize("path", [".primer-cluster/runs/00_setup-1/tasks/0/00_setup/setup.ipynb",
                                  "some-course/.primer-cluster/runs/x/results/0/result.json",
                                  "some-course/.primer-staging/00_setup/scratch/alice/setup.ipynb"])
def test_grading_run_folders_never_reach_git(path):
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
    assert ignored.returncode == 0, f"git would commit {path} (a copy of a submission)"
