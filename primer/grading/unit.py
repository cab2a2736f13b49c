"""The unit of work of every grading backend: grade exactly one submission, write a self-contained result.

``grade_one`` needs nothing but

* a *grading release* (``prepare_release``, made by the trusted side): the
  assignment's release/ folder, the other files nbgrader copies from source/,
  the course's nbgrader_config.py and ``assignment.db``, a gradebook holding
  only the assignment's definitions (cells, points, checksums, the hidden
  tests' source that autograding puts back): no students, no credentials;
* the submission folder (read only: it is staged into the scratch folder);
* a scratch folder, where it builds a throw-away nbgrader course.

It runs the course's own nbgrader autograde there (sandboxed kernels, tamper
checks, CheckSubmission/RecordIntegrity: nbgrader_config.py) and writes

    RESULT/result.json    student, assignment, success/error, per-cell scores and
                          maximum, flags, events, repairs, the release's checksums
                          it was graded against, versions
    RESULT/autograded/    the autograded notebook(s) and files, feedback-ready

result.json is written last and atomically: a result folder without it is an
unfinished task. primer.grading.merge checks a result and records it in the
course's gradebook; the local pool, Slurm and Kubernetes all run this unit.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

from primer.grading.sandbox import SandboxedExecute
from primer.safecopy import Limits, copy_tree

RESULT_FILE = "result.json"
RESULT_FORMAT = 1
DEFINITIONS = "assignment.db"
CONFIG = "nbgrader_config.py"
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")  # Kubernetes, Slurm
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$")
MAX_COPIED_FILE = 100 * 1024 ** 2
# Release files and autograded notebooks: the course's own, or the grader's output of one submission.
COPY_LIMITS = Limits(max_file_bytes=MAX_COPIED_FILE, max_total_bytes=20 * MAX_COPIED_FILE,
                     max_entries=50_000)


def check_name(kind: str, name: str) -> str:
    """A student, assignment or notebook name that is safe as one path component."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise ValueError(f"{kind} {name!r} is not a plain name (letters, digits, _ . @ + -)")
    return name


# --------------------------------------------------------------------------- trusted side

def prepare_release(course: Path, assignment: str, destination: Path) -> Path:
    """Write the grading release of ``assignment`` into ``destination`` (trusted side)."""
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    from primer.grading.course_settings import course_config

    check_name("assignment", assignment)
    course = Path(course).resolve()
    if not (course / "release" / assignment).is_dir():
        raise ValueError(f"no release/{assignment} in {course}: run "
                         f"`nbgrader generate_assignment {assignment}` first")
    if destination.exists():
        shutil.rmtree(destination)
    copy_tree(course / "release" / assignment, destination / "release" / assignment,
              limits=COPY_LIMITS)
    # The non-notebook files nbgrader's autograde copies over the student's (data, helpers).
    config = course_config(course)
    coursedir = CourseDirectory(config=config)
    source = course / "source" / assignment
    for path in find_all_files(str(source), coursedir.ignore + ["*.ipynb"]) if source.is_dir() else []:
        target = destination / "source" / assignment / Path(path).relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
    (destination / "source" / assignment).mkdir(parents=True, exist_ok=True)
    write_release_config(config, destination / CONFIG)
    if coursedir.db_url.startswith("sqlite:///") and not Path(coursedir.db_url[10:]).is_file():
        # Opening it would create an empty gradebook that then stands in the way.
        raise ValueError(f"no gradebook at {coursedir.db_url[10:]}: run "
                         f"`nbgrader generate_assignment {assignment}` in {course} first (it records "
                         "the assignment's tests there)")
    with Gradebook(coursedir.db_url) as gradebook:
        _copy_definitions(gradebook, assignment, destination / DEFINITIONS, coursedir.course_id)
    return destination


# Never carried to a grading task: the gradebook's address (a PostgreSQL password) and the
# trusted side's own course folder.
_LEFT_OUT = {("CourseDirectory", "db_url"), ("CourseDirectory", "root")}
SANDBOX = "primer.grading.sandbox.SandboxedExecute"


def write_release_config(config, target: Path) -> None:
    """``config``, the settings nbgrader started in the course would use (the course-wide file,
    wherever the Jupyter config path puts it, then the course's own), written out as plain values.

    On the hub the course folder's nbgrader_config.py is empty on purpose: copying it would
    grade without the sandbox. The gradebook's address never reaches a task, where student
    code runs (on Kubernetes in the same pod).
    """
    import ast

    lines = ['"""Written by primer.grading.unit.prepare_release: the course\'s nbgrader settings."""',
             "c = get_config()  # noqa: F821"]
    for section, values in sorted(config.items()):
        for key, value in sorted(values.items()) if hasattr(values, "items") else []:
            if (section, key) in _LEFT_OUT:
                continue
            text = repr(value)
            try:
                ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ValueError(f"the nbgrader setting {section}.{key} = {text[:80]} cannot be "
                                 "carried to a grading task: set it to a plain value (a string, "
                                 "number, list, set or dict) in nbgrader_config.py") from None
            lines.append(f"c.{section}.{key} = {text}")
    target.write_text("\n".join(lines) + "\n")


def _copy_definitions(gradebook, assignment: str, target: Path, course_id: str) -> None:
    """The assignment's cells, points and checksums, into a gradebook of their own."""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        defined = gradebook.find_assignment(assignment)
    except MissingEntry:
        raise ValueError(f"{assignment} is not in the course's gradebook: run "
                         f"`nbgrader generate_assignment {assignment}` first") from None
    target.unlink(missing_ok=True)
    # nbgrader stamps a new gradebook by running `alembic` from PATH: the venv's own, wherever
    # this was started from (a venv's bin/ is often not on PATH).
    venv_bin = str(Path(sys.executable).parent)
    if shutil.which("alembic") is None and venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([venv_bin, os.environ.get("PATH", "")])
    with Gradebook(f"sqlite:///{target}", course_id) as copy:
        copy.update_or_create_assignment(assignment, duedate=defined.duedate, course_id=course_id)
        for notebook in defined.notebooks:
            copy.update_or_create_notebook(notebook.name, assignment)
            for cell in notebook.grade_cells:
                copy.update_or_create_grade_cell(cell.name, notebook.name, assignment,
                                                 max_score=cell.max_score, cell_type=cell.cell_type)
            for cell in notebook.task_cells:
                copy.update_or_create_task_cell(cell.name, notebook.name, assignment,
                                                max_score=cell.max_score, cell_type=cell.cell_type)
            for cell in notebook.solution_cells:
                copy.update_or_create_solution_cell(cell.name, notebook.name, assignment)
            for cell in notebook.source_cells:
                copy.update_or_create_source_cell(cell.name, notebook.name, assignment,
                                                  source=cell.source, cell_type=cell.cell_type,
                                                  locked=cell.locked, checksum=cell.checksum)


def release_checksums(gradebook, assignment: str) -> dict[str, dict[str, str]]:
    """notebook -> source cell -> checksum: what identifies the release a result was graded against."""
    defined = gradebook.find_assignment(assignment)
    return {nb.name: {cell.name: cell.checksum or "" for cell in nb.source_cells}
            for nb in defined.notebooks}


# --------------------------------------------------------------------------- the unit

class PodExecute(SandboxedExecute):
    """SandboxedExecute where the container is the sandbox (Kubernetes: bubblewrap cannot run
    in a default pod): the same time limit, output cap and tamper checks, a plain kernel."""

    def __init__(self, *args, **kwargs):
        from jupyter_client.manager import AsyncKernelManager

        super().__init__(*args, **kwargs)
        self.kernel_manager_class = AsyncKernelManager


def unit_config(release: Path, scratch_course: Path, pod: bool):
    """The course's nbgrader configuration, pointed at the scratch course and its own gradebook."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    # Only the course's file: never a personal ~/.jupyter config, which may name the real gradebook.
    config.merge(PyFileConfigLoader(CONFIG, path=str(release)).load_config())
    steps = list(config.get("Autograde", {}).get("autograde_preprocessors", []))
    if SANDBOX not in steps:  # never run student code on a path that is not hardened
        raise ValueError(f"{release / CONFIG} does not run kernels in the sandbox ({SANDBOX} is not "
                         "in Autograde.autograde_preprocessors): make the grading release again from "
                         "a course whose nbgrader settings are the course-wide ones")
    config.CourseDirectory.root = str(scratch_course)
    config.CourseDirectory.db_url = f"sqlite:///{scratch_course / 'gradebook.db'}"
    if pod:
        config.Autograde.autograde_preprocessors = [
            "primer.grading.unit.PodExecute" if step == SANDBOX else step
            for step in steps]
    return config


def judge_plans(release: Path) -> list[dict]:
    """The judge plan of every notebook of a grading release, for warm judges
    (primer.grading.judge_zygote); none when the course runs tests in the kernel."""
    from traitlets.config.loader import PyFileConfigLoader

    from primer.grading.judge_client import judge_plan, read_release

    config = PyFileConfigLoader(CONFIG, path=str(release)).load_config()
    if not config.get("SandboxedExecute", {}).get("judge_tests", True):
        return []
    return [judge_plan(read_release(path)) for path in sorted((release / "release").glob("*/*.ipynb"))]


def substitute_index(path: str, index: str | None) -> Path:
    """``{index}`` in a path: this task's index (Kubernetes' JOB_COMPLETION_INDEX, Slurm's
    SLURM_ARRAY_TASK_ID) when the path names one."""
    if "{index}" in path:
        if index is None:
            index = next((os.environ[v] for v in INDEX_VARIABLES if v in os.environ), None)
        if index is None:
            raise ValueError(f"{path} names {{index}} but neither --index nor "
                             f"{' / '.join(INDEX_VARIABLES)} is set")
        path = path.replace("{index}", str(int(index)))
    return Path(path)


def student_of(submission: Path) -> str:
    """The student a submission folder belongs to: student.txt beside it (the backends'
    task folders), else the folder above it (submitted/<student>/<assignment>)."""
    named = submission.parent / "student.txt"
    return named.read_text().strip() if named.is_file() else submission.parent.name


def grade_one(release: Path, submission: Path, scratch: Path, result: Path, *,
              student: str | None = None, pod: bool = False) -> dict:
    """Grade ``submission`` against the grading release; write and return result.json's content."""
    started = time.monotonic()
    release, submission, scratch, result = (Path(p).resolve() for p in (release, submission, scratch, result))
    (assignment,) = [p.name for p in (release / "release").iterdir() if p.is_dir()]
    student = check_name("student", student or student_of(submission))
    check_name("assignment", assignment)
    if (result / RESULT_FILE).exists():
        (result / RESULT_FILE).unlink()
    course = scratch / "course"
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)
    try:
        record = _grade_in(course, release, assignment, student, submission, pod)
        record["seconds"] = round(time.monotonic() - started, 3)
        _write_result(result, record, course / "autograded" / student / assignment)
        return record
    finally:
        shutil.rmtree(course, ignore_errors=True)


def _grade_in(course: Path, release: Path, assignment: str, student: str, submission: Path,
              pod: bool) -> dict:
    import nbgrader
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from primer.grading.staging import stage_submission

    for folder in ("release", "source"):
        copy_tree(release / folder / assignment, course / folder / assignment, limits=COPY_LIMITS)
    shutil.copyfile(release / DEFINITIONS, course / "gradebook.db")
    staged = course / "submitted" / student / assignment
    staged.parent.mkdir(parents=True)
    problems = stage_submission(submission, release / "release" / assignment, staged)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        checksums = release_checksums(gradebook, assignment)
    record = {"format": RESULT_FORMAT, "student": student, "assignment": assignment,
              "graded": True, "success": False, "error": "", "log": "",
              "problems": [p.message for p in problems], "timestamp": None, "notebooks": {},
              "release": checksums,
              "versions": {"nbgrader": nbgrader.__version__, "primer": _primer_version(),
                           "python": platform.python_version()}}
    if any(p.kind == "nothing-to-grade" for p in problems):
        record["graded"] = False  # nbgrader would skip it: nothing to grade, it counts as missing
        return record
    config = unit_config(release, course, pod)
    coursedir = CourseDirectory(config=config)
    record["timestamp"] = coursedir.get_existing_timestamp(str(staged))
    record["timestamp"] = record["timestamp"] and record["timestamp"].isoformat()
    api = NbGraderAPI(coursedir, config=config)
    from primer.grading.sandbox import GRADING_EVENTS

    seen = len(GRADING_EVENTS)
    outcome = api.autograde(assignment, student, force=True, create=True)
    record.update(success=bool(outcome.get("success")), error=outcome.get("error") or "",
                  log=(outcome.get("log") or "")[-20_000:],
                  # what the sandbox saw even when no notebook was written (a killed kernel)
                  sandbox_events=GRADING_EVENTS[seen:])
    record["notebooks"] = _read_notebooks(course, assignment, student, staged)
    return record


def _read_notebooks(course: Path, assignment: str, student: str, staged: Path) -> dict:
    """Per notebook: submitted?, scores (grade_id -> [auto, max]), and what the grader recorded."""
    from nbgrader.api import Gradebook, MissingEntry

    from primer.grading.integrity import integrity_record

    notebooks = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return {}
        for notebook in submission.notebooks:
            autograded = course / "autograded" / student / assignment / f"{notebook.name}.ipynb"
            record = integrity_record(autograded) if autograded.is_file() else {}
            notebooks[notebook.name] = {
                "submitted": (staged / f"{notebook.name}.ipynb").is_file(),
                "autograded": autograded.is_file(),
                "scores": {g.name: [g.auto_score, g.max_score] for g in notebook.grades},
                "needs_manual_grade": sorted(g.name for g in notebook.grades if g.needs_manual_grade),
                "flags": record.get("flags", []), "voided": record.get("voided", []),
                "events": record.get("events", []), "repairs": record.get("repairs", [])}
    return notebooks


def _write_result(result: Path, record: dict, autograded: Path) -> None:
    if (result / "autograded").exists():
        shutil.rmtree(result / "autograded")
    (result / "autograded").mkdir(parents=True)
    if autograded.is_dir():
        copy_tree(autograded, result / "autograded", limits=COPY_LIMITS)
    partial = result / f".{RESULT_FILE}.partial"
    partial.write_text(json.dumps(record, indent=1, default=str))
    os.replace(partial, result / RESULT_FILE)  # last: a result folder without it is unfinished


def _primer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("primer-course")
    except PackageNotFoundError:
        return "unknown"


def main(args) -> int:
    """`primer grade-one`: the unit, for one submission (or one task index of a cluster job)."""
    if args.slot is not None:
        os.environ["PRIMER_SANDBOX_SLOT"] = str(args.slot)
    paths = {name: substitute_index(getattr(args, name), args.index)
             for name in ("release", "submission", "scratch", "result")}
    if not (paths["release"] / DEFINITIONS).is_file():
        raise ValueError(f"{paths['release']} is not a grading release (no {DEFINITIONS}): the "
                         "trusted side makes one with primer.grading.unit.prepare_release")
    if not paths["submission"].is_dir():
        raise ValueError(f"no submission folder {paths['submission']}")
    record = grade_one(paths["release"], paths["submission"], paths["scratch"], paths["result"],
                       student=args.student, pod=args.pod)
    scores = {nb: {g: s[0] for g, s in info["scores"].items()} for nb, info in record["notebooks"].items()}
    print(json.dumps({"student": record["student"], "success": record["success"],
                      "graded": record["graded"], "scores": scores}), flush=True)
    sys.stdout.flush()
    return 0
