"""The trusted end of one queued grading, run as the course owner (as the formgrader is).

    python -m primer.queue.record --course C --assignment A --student S \
        --submission <collected copy> --result <the unit's result> --log <the unit's log> [--hide-scores]

1. the collected copy becomes submitted/<student>/<assignment>, as
   ``nbgrader collect`` would make it, unless a later submission is there already;
2. the unit's result is checked and recorded in the gradebook by the trusted
   merge (primer.grading.merge: exactly what ``nbgrader autograde`` records);
3. the student's provisional feedback is generated (primer.queue.feedback) and
   released to that student only (the course's SafeExchangeReleaseFeedback).

Prints one JSON line: status, score, max_score, notes, flags, feedback.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from primer.exchange import TIMESTAMP


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc((folder / TIMESTAMP).read_text().strip())
    except (OSError, ValueError):
        return None


def place_submission(course: Path, assignment: str, student: str, collected: Path) -> bool:
    """submitted/<student>/<assignment> := ``collected``, if it is not older than what is there."""
    from primer.safecopy import copy_tree

    target = course / "submitted" / student / assignment
    there, ours = _timestamp(target), _timestamp(collected)
    if there is not None and ours is not None and there > ours:
        return False  # nbgrader's rule: the latest submission is the one that counts
    staging = target.parent / f".{assignment}.queue-new"
    if staging.exists():
        shutil.rmtree(staging)
    copy_tree(collected, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return True


def record(course: Path, assignment: str, student: str, collected: Path, result: Path,
           show_scores: bool, log: Path) -> dict:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from primer.grading.course_settings import course_config
    from primer.grading.parallel import SubmissionResult, finish, record_merge
    from primer.queue.feedback import generate_queue_feedback

    course = course.resolve()
    (course / "submitted" / student).mkdir(parents=True, exist_ok=True)
    latest = place_submission(course, assignment, student, collected)
    outcome = SubmissionResult(student)
    merged = record_merge(course, assignment, outcome, result, log)
    finish(course, assignment, {student: outcome})
    if not latest:
        outcome.notes.append("a later submission of this student was collected already: the "
                             "gradebook keeps the latest")
    released = False
    autograded = course / "autograded" / student / assignment
    # Only this grading's notebook: with no result, autograded/ still holds an earlier one's.
    if merged and outcome.status in ("graded", "failed") and any(autograded.glob("*.ipynb")):
        generate_queue_feedback(course, assignment, student, show_scores)
        config = course_config(course)
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        answer = api.release_feedback(assignment, student)
        released = bool(answer.get("success"))
        if not released:
            outcome.notes.append(f"feedback not released: {answer.get('error', '')[-500:]}")
    return {"status": outcome.status, "score": outcome.score, "max_score": outcome.max_score,
            "notes": outcome.notes, "flags": outcome.flags, "feedback": released}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primer.queue.record", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("course", "assignment", "student", "submission", "result", "log"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--hide-scores", action="store_true")
    args = parser.parse_args(argv)
    answer = record(Path(args.course), args.assignment, args.student, Path(args.submission),
                    Path(args.result), show_scores=not args.hide_scores, log=Path(args.log))
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
