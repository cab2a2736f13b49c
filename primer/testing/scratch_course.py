"""A scratch nbgrader course directory: generate, submit, autograde, read grades."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from primer.course import nbgrader_meta, venv_path


class ScratchCourse:
    """A course directory at ``root`` with a copy of ``repo``'s source/ and nbgrader_config.py."""

    def __init__(self, root: Path, repo: Path):
        self.root = Path(root)
        shutil.copytree(repo / "source", self.root / "source")
        shutil.copy2(repo / "nbgrader_config.py", self.root / "nbgrader_config.py")

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args,
                                 f"--CourseDirectory.root={self.root}"],
                                cwd=self.root, capture_output=True, text=True,
                                env={**os.environ, "PATH": venv_path()})
        assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result

    def generate(self, assignment: str) -> Path:
        self.nbgrader("generate_assignment", assignment, "--force")
        (notebook,) = (self.root / "release" / assignment).glob("*.ipynb")
        return notebook

    def submit(self, student: str, assignment: str, notebook) -> Path:
        """Place ``notebook`` as ``student``'s submission, as `nbgrader collect` would."""
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (release_nb,) = (self.root / "release" / assignment).glob("*.ipynb")
        nbformat.write(notebook, folder / release_nb.name)
        return folder

    def autograde(self, assignment: str) -> None:
        self.nbgrader("autograde", assignment, "--force")

    def grades(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        """grade_id -> (auto score, max score) for the autograded test cells."""
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return {grade.name: (grade.auto_score, grade.max_score)
                    for notebook in submission.notebooks for grade in notebook.grades
                    if grade.cell.cell_type == "code"}


def solved_release(release_path: Path, source_path: Path):
    """The student version with every answer cell filled in from the instructor's solution."""
    released = nbformat.read(release_path, as_version=4)
    solutions = {nbgrader_meta(c)["grade_id"]: c.source
                 for c in nbformat.read(source_path, as_version=4).cells
                 if nbgrader_meta(c).get("solution")}
    for cell in released.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in solutions:
            cell.source = solutions[grade_id]
    return released


def load_wrong_answers(repo: Path, assignment: str) -> list[dict]:
    """The plausible wrong answers of ``assignment`` (tests/wrong_answers/<assignment>.py)."""
    path = repo / "tests" / "wrong_answers" / f"{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS
