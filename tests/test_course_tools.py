"""The `primer` command's building blocks and the errors they give."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO, source_notebook
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
