"""`primer autograde`: grade a whole class in parallel, safely, and say what happened.

Every backend runs the same unit of work (primer.grading.unit): grade one
submission in a scratch nbgrader course, against a *grading release* the
trusted side prepared, and write a self-contained result; the trusted side
then checks the result and records it in the gradebook (primer.grading.merge),
exactly as `nbgrader autograde` would. This module is the local backend: up
to N worker processes on this machine, forked from one process that has
already imported nbgrader (a student costs no interpreter start-up), each
result merged as soon as its worker ends. The unit stages the submission
(primer.grading.staging: no links, unreadable notebooks set aside, deleted
test cells restored; submitted/ itself is never changed) and runs nbgrader's
own autograde with the course's nbgrader_config.py: every kernel in the
sandbox, with the tamper checks. Slurm and Kubernetes: primer.grading.backends.
A student whose grading fails never stops the others; the class summary says
in plain words what happened to each submission.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from primer.accounts import kill_tree
from primer.grading.course_settings import gradebook_url
from primer.progress import Progress

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
    "no-memory-cgroup": "graded WITHOUT the sandbox's memory cgroup (no cgroup v1 memory controller "
                        "or cgroup v2 memory controller here; the grader's log says why): only "
                        "the per-process limits held",
}
# What a failed grading's error and sandbox events say, in words for the instructor.
_ERRORS = [
    ("notebook-timeout", _TIMED_OUT),
    ("DeadKernelError", "the kernel died (the student's code crashed it, called os._exit(), "
                        "or ran out of memory)"),
    ("UnresponsiveKernelError", "the kernel stopped responding and could not be interrupted"),
    ("Timeout waiting for IOPub output", "a cell's output did not all arrive (a message larger than the "
                                         "grader accepts, or more messages than it drains in time)"),
    ("CellTimeoutError", "a cell ran past the per-cell time limit"),
    # A forked copy of the kernel writes on the kernel's own sockets: the grader gets
    # messages it cannot verify, and trusts none of the notebook's results.
    ("Invalid Signature", "the kernel's messages were garbled, so none of its results could be "
                          "trusted (the student's code forked processes or tampered with the kernel)"),
]
# The last line of a Python traceback: what went wrong, when no known case matches.
_LAST_ERROR = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)\b.*)$", re.MULTILINE)


def find_submissions(course: Path, assignment: str) -> list[str]:
    submitted = course / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir()
                  if not p.is_symlink() and (p / assignment).is_dir()
                  and not (p / assignment).is_symlink())


def _grade_in_child(release: Path, submission: Path, scratch: Path, result: Path,
                    log_path: Path, slot: int) -> None:
    """Body of a forked worker: the unit of work for one student (primer.grading.unit), then exit."""
    code = 1
    try:
        os.environ["PRIMER_SANDBOX_SLOT"] = str(slot)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.setpgrp()  # its own process group: the parent can stop it and its kernel at once
        from primer.grading.unit import grade_one

        record = grade_one(release, submission, scratch, result)
        print(record.get("log", ""))
        code = 0
    except BaseException:  # noqa: BLE001 - anything goes wrong: report it through the log
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


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
        # after any late penalty, as the export and the feedback show it; never below 0
        penalty = sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks)
        return max(0.0, sum(g.auto_score for g in grades) - penalty), sum(g.max_score for g in grades)


def autograde_class(course: Path, assignment: str, students: list[str] | None = None,
                    workers: int = 2, per_student_timeout: float = 1800,
                    log_folder: Path | None = None) -> list[SubmissionResult]:
    """Grade ``assignment`` for ``students`` (default: everyone who submitted), on this machine:
    up to ``workers`` units of work (primer.grading.unit) at once, each result merged into the
    gradebook by this process as soon as it is there (primer.grading.merge)."""
    import nbgrader.apps  # noqa: F401 - imported once here, shared by every forked worker

    course = Path(course).resolve()
    if workers < 1:
        raise ValueError("workers must be at least 1")
    results, queue = _class_results(course, assignment, students)
    log_folder = Path(log_folder or course / "autograded" / ".logs" / assignment)
    log_folder.mkdir(parents=True, exist_ok=True)
    try:  # the staging folder holds copies of submissions: never left behind
        return _grade_locally(course, assignment, results, queue, workers, per_student_timeout,
                              log_folder)
    finally:
        shutil.rmtree(course / STAGING_FOLDER, ignore_errors=True)


def _grade_locally(course: Path, assignment: str, results: dict[str, SubmissionResult],
                   queue: list[str], workers: int, per_student_timeout: float,
                   log_folder: Path) -> list[SubmissionResult]:
    from primer.grading.judge_zygote import warm_judges
    from primer.grading.unit import judge_plans, prepare_release

    work = course / STAGING_FOLDER / assignment
    release = prepare_release(course, assignment, work / "release")

    running: dict[int, tuple[str, float, int]] = {}  # pid -> student, start, slot
    # One warm judge per notebook for the whole class: its imports and data loads run once.
    with warm_judges(judge_plans(release)), Progress(len(queue), f"{assignment}: autograde") as progress:
        while queue or running:
            _start_workers(release, course, assignment, work, log_folder, queue, running, workers)
            pid, status = _wait_any(running, per_student_timeout)
            student, started, _ = running.pop(pid)
            results[student].seconds += time.monotonic() - started
            if status is None:
                results[student].status = "failed"
                results[student].notes.append(
                    f"grading took longer than {per_student_timeout:.0f} s and was stopped")
            else:
                record_merge(course, assignment, results[student], work / "results" / student,
                             log_folder / f"{student}.log")
            progress.step(step_note(results[student]))
    finish(course, assignment, results)
    return [results[s] for s in results]


def step_note(result: SubmissionResult) -> str:
    """One finished submission in the progress output: who, and how it went."""
    return f"{result.student} {result.status}" + (" FLAGGED" if result.flags else "")


def _start_workers(release: Path, course: Path, assignment: str, work: Path, log_folder: Path,
                   queue: list[str], running: dict, workers: int) -> None:
    while queue and len(running) < workers:
        student = queue.pop(0)
        slot = min(set(range(workers)) - {entry[2] for entry in running.values()})
        pid = os.fork()
        if pid == 0:
            _grade_in_child(release, course / "submitted" / student / assignment,
                            work / "scratch" / student, work / "results" / student,
                            log_folder / f"{student}.log", slot)
        running[pid] = (student, time.monotonic(), slot)


def _class_results(course: Path, assignment: str, students: list[str] | None
                   ) -> tuple[dict[str, SubmissionResult], list[str]]:
    """Every wanted student's result so far, and those with a submission to grade."""
    if not (course / "release" / assignment).is_dir():
        raise ValueError(unknown_assignment(course, assignment))
    submitted = find_submissions(course, assignment)
    wanted = students or submitted
    results = {s: SubmissionResult(s) for s in wanted}
    for student in wanted:
        if student not in submitted:
            results[student].status = "not submitted"
            results[student].notes.append(f"no submitted/{student}/{assignment} folder")
    return results, [s for s in wanted if s in submitted]


def unknown_assignment(course: Path, assignment: str) -> str:
    """What to say when ``assignment`` has no release/ folder: a typo, or not generated yet."""
    def names(folder: str) -> list[str]:
        path = course / folder
        return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if path.is_dir() else []

    released, written = names("release"), names("source")
    if assignment in written:
        return (f"{assignment} has no student version in {course / 'release'} yet: run "
                f"`nbgrader generate_assignment {assignment}` first")
    return (f"the course in {course} has no assignment {assignment!r}; its assignments are: "
            f"{', '.join(released or written) or '(none: write one in source/)'}")


def record_merge(course: Path, assignment: str, result: SubmissionResult, result_dir: Path,
                 log_path: Path) -> bool:
    """Merge one unit's result into the gradebook and note what happened; False: no usable result."""
    from primer.grading.merge import ResultRejected, merge_result

    try:
        merged = merge_result(course, result_dir, expect_student=result.student,
                              expect_assignment=assignment)
    except ResultRejected as error:
        result.status = "failed"
        result.notes.append(f"{error} (log: {log_path})")
        return False
    result.status = merged.status
    result.notes += merged.notes
    if merged.status == "failed":
        events = merged.sandbox_events
        if "notebook-timeout" in events:  # the kernel was killed for it: no second explanation
            events = [e for e in events if e != "DeadKernelError"]
        said = " ".join([merged.error, *events])
        result.notes += list(dict.fromkeys(meaning for key, meaning in _ERRORS if key in said)) or [
            _unexplained_failure(said, log_path)]
    # The grading's own events (not the notebook's) that matter even when it went well.
    said = [*merged.events, *(e for e in merged.sandbox_events if e == "no-memory-cgroup")]
    result.notes += [_EVENTS[e] for e in dict.fromkeys(said) if e in _EVENTS]
    result.flags = merged.flags
    return True


def _unexplained_failure(said: str, log_path: Path) -> str:
    """A failure no known case explains: its last error line, and where the whole log is."""
    errors = _LAST_ERROR.findall(said)
    what = f" ({errors[-1].strip()[:200]})" if errors else ""
    return f"nbgrader autograde failed{what}; see {log_path}"


def finish(course: Path, assignment: str, results: dict[str, SubmissionResult]) -> None:
    """Scores from the gradebook, once every result is merged."""
    for student, result in results.items():
        if result.status == "graded":
            result.score, result.max_score = _read_scores(course, assignment, student)
        elif result.status == "failed":
            result.notes.append("no score recorded for this submission")


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
                kill_tree(pid)  # the worker, its group and its kernel's own session
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
            notes = "FLAGGED for review (what the grader found: below); " + notes
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
