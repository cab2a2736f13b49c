"""`primer queue`: turn grading on submit on or off for an assignment, and see the queue (as root).

    sudo primer queue enable 01_prerequisites [--hide-scores]
    sudo primer queue disable 01_prerequisites
    sudo primer queue status

The switch is kept in the queue's journal ($PRIMER_RUNTIME/queue, root's),
which the running hub's queue service reads every second: no restart needed.
Submissions made before an assignment is enabled are left to the instructor.
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from primer.queue.journal import Journal
from primer.queue.settings import queue_folder


def _journal() -> Journal:
    if os.geteuid() != 0:
        # Root's: the switch decides what the hub's service runs on students' code.
        primer = Path(sys.executable).parent / "primer"
        raise ValueError("`primer queue` needs root: the queue's journal is root's (in "
                         f"$PRIMER_RUNTIME/queue). Run it on the hub's machine as "
                         f"`sudo {primer} {shlex.join(sys.argv[1:]) or 'queue status'}`")
    root = _runtime_root()
    if not (root / "hub").is_dir():
        raise ValueError(f"no course hub has run in {root}: start it with `make hub`, or set "
                         "PRIMER_RUNTIME to the hub's runtime folder")
    folder = queue_folder(root)
    folder.mkdir(mode=0o711, exist_ok=True)
    return Journal(folder)


def _runtime_root() -> Path:
    return Path(os.environ.get("PRIMER_RUNTIME", "/srv/primer"))


def course_assignments(root: Path) -> list[str]:
    """What the queue can grade: the assignments released on the hub (its exchange's outbound/),
    else, before any release, those in this repository's source/."""
    from primer.course import COURSE_ID, CourseError, assignment_names, find_repo

    outbound = root / "exchange" / COURSE_ID / "outbound"
    released = sorted(p.name for p in outbound.iterdir() if p.is_dir()) if outbound.is_dir() else []
    if released:
        return released
    try:
        return assignment_names(find_repo())
    except CourseError:
        raise ValueError(f"no assignment is released in {outbound} and this is not the course "
                         "repository: release one first, or run this in the course repository") from None


def _check_assignment(root: Path, name: str) -> None:
    from primer.grading.unit import check_name

    check_name("assignment", name)
    known = course_assignments(root)
    if name not in known:
        raise ValueError(f"the course has no assignment {name!r}; its assignments are: "
                         f"{', '.join(known)}")


def main(args) -> int:
    if args.queue_verb in ("enable", "disable"):
        _check_assignment(_runtime_root(), args.assignment)  # a typo changes nothing
    journal = _journal()
    try:
        if args.queue_verb in ("enable", "disable"):
            show = None if args.queue_verb == "disable" else args.show_scores
            journal.set_enabled(args.assignment, args.queue_verb == "enable", show)
            state = "on" if args.queue_verb == "enable" else "off"
            print(f"grading on submit is {state} for {args.assignment}"
                  + ("" if show is None else f" (scores {'shown' if show else 'hidden'} in the feedback)"))
            return 0
        print(format_status(journal))
        return 0
    finally:
        journal.close()


def format_status(journal: Journal) -> str:
    enabled = journal.enabled()
    lines = [f"grading on submit: {', '.join(enabled) or 'no assignment'}"]
    items = journal.all()
    counts: dict[str, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    lines.append("submissions: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for item in items[-30:]:
        score = "" if item.score is None else f"{item.score:g}/{item.max_score:g}"
        seen = time.strftime("%H:%M:%S", time.gmtime(item.seen_at))
        flagged = " FLAGGED" if item.flags else ""
        lines.append(f"  #{item.id} {seen} {item.student} {item.assignment} {item.state} {score}"
                     f"{flagged} {'; '.join(item.notes)[:200]}")
    return "\n".join(lines)


def add_parser(verbs) -> None:
    queue = verbs.add_parser("queue", help="grading on submit: enable/disable an assignment, "
                             "status (as root, on the hub's machine)")
    queue_verbs = queue.add_subparsers(dest="queue_verb", required=True)
    enable = queue_verbs.add_parser("enable", help="grade this assignment's submissions as they arrive")
    enable.add_argument("assignment")
    shown = enable.add_mutually_exclusive_group()
    shown.add_argument("--hide-scores", dest="show_scores", action="store_false", default=None,
                       help="feedback says which tests passed, without points")
    shown.add_argument("--show-scores", dest="show_scores", action="store_true",
                       help="feedback shows the provisional score (default: PRIMER_QUEUE_SHOW_SCORES)")
    disable = queue_verbs.add_parser("disable", help="stop grading this assignment on submit")
    disable.add_argument("assignment")
    queue_verbs.add_parser("status", help="what the queue holds")
    queue.set_defaults(run=main)
