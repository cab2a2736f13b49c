"""`primer autograde`: grade a whole class in parallel, safely, and say what happened.

Each submission is first *staged*: copied from submitted/ into a private
staging folder without links, with unreadable notebooks set aside and deleted
or stripped test cells restored (primer.grading.staging); submitted/ itself is
never changed. Then up to N worker processes run nbgrader's own autograde through its
public API (``NbGraderAPI.autograde``, what the formgrader's button calls), one
student each, on the staged copy, with the course's own configuration
wherever the command is started from: the gradebook gets exactly what
`nbgrader autograde` would record, and every kernel runs in the sandbox, with
the tamper checks, that nbgrader_config.py configures. The workers are forked
from one process that has already imported nbgrader, so a student costs no
interpreter start-up.
A student whose grading fails never stops the others; the class summary says
in plain words what happened to each submission.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STAGING_FOLDER = ".primer-staging"


@dataclass
class SubmissionResult:
    student: str
    status: str = "graded"  # graded | failed | not graded | not submitted
    score: float | None = None
    max_score: float | None = None
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # tampering found: a person must look
    seconds: float = 0.0


_TIMED_OUT = "the notebook ran past its time limit and its kernel was stopped"
# What the sandbox recorded (metadata.primer.events), in words for the instructor.
_EVENTS = {
    "notebook-timeout": _TIMED_OUT,
    "output-cut": "a cell printed too much: the rest of its output was cut",
}
# What a failed grading's error and sandbox events say, in words for the instructor.
_ERRORS = [
    ("notebook-timeout", _TIMED_OUT),
    ("DeadKernelError", "the kernel died (the student's code crashed it, called os._exit(), "
                        "or ran out of memory)"),
    ("UnresponsiveKernelError", "the kernel stopped responding and could not be interrupted"),
    ("CellTimeoutError", "a cell ran past the per-cell time limit"),
]


def find_submissions(course: Path, assignment: str) -> list[str]:
    submitted = course / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir()
                  if not p.is_symlink() and (p / assignment).is_dir()
                  and not (p / assignment).is_symlink())


def stage(course: Path, assignment: str, student: str) -> list:
    """Copy one submission into the staging folder; return its problems."""
    from primer.grading.staging import stage_submission

    destination = course / STAGING_FOLDER / student / assignment
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    return stage_submission(course / "submitted" / student / assignment,
                            course / "release" / assignment, destination)


def _autograde_in_child(course: Path, assignment: str, student: str, log_path: Path,
                        result_path: Path, slot: int) -> None:
    """Body of a forked worker: nbgrader's autograde for one student, then exit."""
    code = 1
    try:
        os.environ["PRIMER_SANDBOX_SLOT"] = str(slot)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.setpgrp()  # its own process group: the parent can stop it and its kernel at once
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        config = course_config(course)
        config.CourseDirectory.submitted_directory = STAGING_FOLDER
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        from primer.grading.sandbox import GRADING_EVENTS

        outcome = api.autograde(assignment, student, force=True, create=True)
        print(outcome.get("log", ""))
        result_path.write_text(json.dumps({"success": bool(outcome.get("success")),
                                           "error": outcome.get("error") or "",
                                           "events": GRADING_EVENTS}))
        code = 0
    except BaseException:  # noqa: BLE001 - anything goes wrong: report it through the log
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def course_config(course: Path):
    """nbgrader's configuration for ``course``, as `nbgrader` started in it would read it:
    the Jupyter config folders (the course venv's etc/jupyter), then the course's
    own nbgrader_config.py, which wins; wherever this process was started."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course)]:
        if (Path(folder) / "nbgrader_config.py").is_file():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    config.CourseDirectory.root = str(course)
    return config


def gradebook_url(course: Path) -> str:
    """The gradebook nbgrader itself would use for ``course`` (its config may name PostgreSQL)."""
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=course_config(course)).db_url


def _read_scores(course: Path, assignment: str, student: str) -> tuple[float | None, float | None]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(course)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None, None
        grades = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
        if any(g.auto_score is None for g in grades):
            return None, sum(g.max_score for g in grades)
        return sum(g.auto_score for g in grades), sum(g.max_score for g in grades)


def autograde_class(course: Path, assignment: str, students: list[str] | None = None,
                    workers: int = 2, per_student_timeout: float = 1800,
                    log_folder: Path | None = None) -> list[SubmissionResult]:
    """Grade ``assignment`` for ``students`` (default: everyone who submitted)."""
    import nbgrader.apps  # noqa: F401 - imported once here, shared by every forked worker

    course = Path(course).resolve()
    if not (course / "release" / assignment).is_dir():
        raise ValueError(f"no release/{assignment} in {course}: run "
                         f"`nbgrader generate_assignment {assignment}` first")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    submitted = find_submissions(course, assignment)
    wanted = students or submitted
    results = {s: SubmissionResult(s) for s in wanted}
    for student in wanted:
        if student not in submitted:
            results[student].status = "not submitted"
            results[student].notes.append(f"no submitted/{student}/{assignment} folder")
    queue = [s for s in wanted if s in submitted]
    log_folder = Path(log_folder or course / "autograded" / ".logs" / assignment)
    log_folder.mkdir(parents=True, exist_ok=True)

    for student in list(queue):
        problems = stage(course, assignment, student)
        results[student].notes += [p.message for p in problems]
        if any(p.kind == "nothing-to-grade" for p in problems):
            # nbgrader would skip it: no notebook to grade, it counts as missing.
            results[student].status = "not graded"
            queue.remove(student)

    running: dict[int, tuple[str, float, int, int]] = {}  # pid -> student, start, attempt, slot
    attempts = {s: 0 for s in queue}
    while queue or running:
        while queue and len(running) < workers:
            student = queue.pop(0)
            attempts[student] += 1
            log_path = log_folder / f"{student}.log"
            result_path = log_folder / f"{student}.json"
            result_path.unlink(missing_ok=True)
            slot = min(set(range(workers)) - {entry[3] for entry in running.values()})
            pid = os.fork()
            if pid == 0:
                _autograde_in_child(course, assignment, student, log_path, result_path, slot)
            running[pid] = (student, time.monotonic(), attempts[student], slot)
        pid, status = _wait_any(running, per_student_timeout)
        student, started, attempt, _ = running.pop(pid)
        result = results[student]
        result.seconds += time.monotonic() - started
        outcome = _read_outcome(log_folder / f"{student}.json")
        if not outcome["success"] and "database is locked" in outcome["error"] and attempt < 3:
            queue.append(student)  # another worker held the gradebook: try again
            continue
        if status is None:
            result.status = "failed"
            result.notes.append(f"grading took longer than {per_student_timeout:.0f} s and was stopped")
        elif not outcome["success"]:
            result.status = "failed"
            events = outcome.get("events", [])
            if "notebook-timeout" in events:  # the kernel was killed for it: no second explanation
                events = [e for e in events if e != "DeadKernelError"]
            said = " ".join([outcome["error"], *events])
            result.notes += list(dict.fromkeys(
                meaning for key, meaning in _ERRORS if key in said)) or [
                f"nbgrader autograde failed; see {log_folder / student}.log"]
        record = _integrity_records(course, assignment, student)
        result.notes += [_EVENTS[e] for e in record.get("events", []) if e in _EVENTS]
        result.flags = record.get("flags", [])
    for student in results:
        if results[student].status == "graded":
            results[student].score, results[student].max_score = _read_scores(course, assignment, student)
        elif results[student].status == "failed":
            results[student].notes.append("no score recorded for this submission")
    shutil.rmtree(course / STAGING_FOLDER, ignore_errors=True)
    return [results[s] for s in wanted]


def _read_outcome(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"success": False, "error": "the grading worker ended without a result"}


def _integrity_records(course: Path, assignment: str, student: str) -> dict:
    """What the grader recorded in the student's autograded notebooks, merged."""
    from primer.grading.integrity import integrity_record

    merged: dict[str, list] = {"flags": [], "events": []}
    folder = course / "autograded" / student / assignment
    for notebook in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        record = integrity_record(notebook)
        merged["flags"] += [f"{notebook.name}: {flag}" for flag in record.get("flags", [])]
        merged["events"] += record.get("events", [])
    return merged


def _wait_any(running: dict, timeout: float) -> tuple[int, int | None]:
    """Wait for a worker to end; stop any that ran past ``timeout`` (status None)."""
    while True:
        now = time.monotonic()
        for pid, (_, started, *_) in running.items():
            # Our own workers only: other children of this process are not ours to reap.
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return pid, status
            if now - started > timeout:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return pid, None
        time.sleep(0.05)


def format_summary(assignment: str, results: list[SubmissionResult]) -> str:
    width = max([len("student")] + [len(r.student) for r in results])
    lines = [f"{assignment}: {len(results)} submissions",
             f"{'student':<{width}}  {'status':<13}  {'score':>11}  what happened"]
    for r in results:
        score = ("-" if r.score is None else f"{r.score:g}") + (
            "" if r.max_score is None else f" / {r.max_score:g}")
        notes = "; ".join(r.notes) or "ok"
        if r.flags:
            notes = "FLAGGED for review, its code changed how tests run or are judged; " + notes
        lines.append(f"{r.student:<{width}}  {r.status:<13}  {score:>11}  {notes}")
    counts = {s: sum(r.status == s for r in results)
              for s in ("graded", "failed", "not graded", "not submitted")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    flagged = [r for r in results if r.flags]
    if flagged:
        lines.append(f"{len(flagged)} flagged for review (check them in the formgrader, "
                     "where their tests are marked as needing a person):")
        lines += [f"  {r.student}: {flag}" for r in flagged for flag in r.flags]
    return "\n".join(lines)
