"""The queue's durable memory: one SQLite file, root's alone (mode 600 in a folder students cannot list).

Every inbound entry the queue takes is a row, keyed by its folder name, so a
rescan after a restart never adds it twice. A row moves

    waiting -> grading -> graded | failed        (deferred: over the student's limit, waits)
    refused                                      (the entry failed collect's checks)

and only the service changes it. A grading cut short by a clean stop goes
back to ``waiting`` at once (``put_back``); a row left in ``grading`` by a
crash goes back to ``waiting`` when the service starts (``recover``): either
way it is graded again from the start and recorded once. Which
assignments the queue grades is kept here too (``primer queue enable``), so
the switch works on a running hub.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

JOURNAL_FILE = "journal.sqlite"
PENDING = ("waiting", "deferred")
FINISHED = ("graded", "failed", "refused")
MAX_ATTEMPTS = 3  # a submission that stops the service this often is reported as failed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    name TEXT PRIMARY KEY, enabled INTEGER NOT NULL, enabled_at REAL NOT NULL,
    show_scores INTEGER);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT UNIQUE NOT NULL, student TEXT NOT NULL, assignment TEXT NOT NULL,
    submitted_at TEXT NOT NULL, seen_at REAL NOT NULL, state TEXT NOT NULL,
    started_at REAL, finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    recorded INTEGER NOT NULL DEFAULT 0,
    score REAL, max_score REAL, notes TEXT NOT NULL DEFAULT '[]', flags TEXT NOT NULL DEFAULT '[]');
"""


@dataclass
class Submission:
    id: int
    entry: str
    student: str
    assignment: str
    submitted_at: str
    seen_at: float
    state: str
    started_at: float | None
    finished_at: float | None
    attempts: int
    recorded: int
    score: float | None
    max_score: float | None
    notes: list[str]
    flags: list[str]

    @property
    def waited(self) -> float | None:
        """Seconds from being seen to being graded (the last attempt's start)."""
        return None if self.started_at is None else self.started_at - self.seen_at

    def as_dict(self) -> dict:
        return {**self.__dict__, "waited": self.waited}


def _private_file(path: Path) -> None:
    """Create ``path`` for its owner only; refuse a journal anyone else could write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
    info = os.lstat(path)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise PermissionError(f"{path} belongs to another account or others may write it: "
                              "the queue's journal must be root's with mode 600")


class Journal:
    def __init__(self, folder: Path):
        self.path = Path(folder) / JOURNAL_FILE
        _private_file(self.path)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -------------------------------------------------------------- which assignments

    def set_enabled(self, assignment: str, enabled: bool, show_scores: bool | None = None) -> None:
        now = time.time()
        row = self.db.execute("SELECT enabled FROM assignments WHERE name=?", (assignment,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO assignments VALUES (?, ?, ?, ?)",
                            (assignment, int(enabled), now, show_scores))
        else:
            # enabled_at is when grading on submit began: earlier submissions are the instructor's
            self.db.execute("UPDATE assignments SET enabled=?, enabled_at=CASE WHEN enabled THEN "
                            "enabled_at ELSE ? END, show_scores=COALESCE(?, show_scores) WHERE name=?",
                            (int(enabled), now, show_scores, assignment))

    def enable_configured(self, assignments: tuple[str, ...]) -> None:
        """The course configuration's assignments, unless a command has set them since."""
        for name in assignments:
            self.db.execute("INSERT OR IGNORE INTO assignments VALUES (?, 1, ?, NULL)",
                            (name, time.time()))

    def enabled(self) -> dict[str, dict]:
        """name -> {enabled_at, show_scores (None: the hub's setting)} of the enabled assignments."""
        return {row["name"]: {"enabled_at": row["enabled_at"], "show_scores": row["show_scores"]}
                for row in self.db.execute("SELECT * FROM assignments WHERE enabled=1")}

    # -------------------------------------------------------------- submissions

    def add(self, entry: str, student: str, assignment: str, submitted_at: str,
            state: str = "waiting", notes: list[str] | None = None) -> bool:
        """Record a newly seen inbound entry; False if it is known already."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO submissions (entry, student, assignment, submitted_at, seen_at, "
            "state, notes) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry, student, assignment, submitted_at, time.time(), state, json.dumps(notes or [])))
        return cursor.rowcount == 1

    def known(self, entry: str) -> bool:
        return self.db.execute("SELECT 1 FROM submissions WHERE entry=?", (entry,)).fetchone() is not None

    def get(self, submission_id: int) -> Submission:
        return self._submission(self.db.execute("SELECT * FROM submissions WHERE id=?",
                                                (submission_id,)).fetchone())

    def all(self) -> list[Submission]:
        return [self._submission(r) for r in self.db.execute("SELECT * FROM submissions ORDER BY id")]

    def pending(self) -> list[Submission]:
        return [self._submission(r) for r in self.db.execute(
            "SELECT * FROM submissions WHERE state IN ('waiting', 'deferred') ORDER BY id")]

    def fair_order(self, items: list[Submission]) -> list[Submission]:
        """``items`` in the order to grade them: fewest gradings so far of that student's work on
        that assignment first, then by arrival; one student's resubmissions never delay another
        student's first submission (a student's own submissions keep their order)."""
        had = {(row[0], row[1]): row[2] for row in self.db.execute(
            "SELECT student, assignment, COUNT(*) FROM submissions "
            "WHERE state IN ('grading', 'graded', 'failed') GROUP BY student, assignment")}
        return sorted(items, key=lambda item: (had.get((item.student, item.assignment), 0), item.id))

    def started_since(self, student: str, since: float) -> list[float]:
        """When each of ``student``'s gradings began after ``since`` (their first attempt counts)."""
        return [r[0] for r in self.db.execute(
            "SELECT started_at FROM submissions WHERE student=? AND started_at IS NOT NULL "
            "AND started_at > ? AND state != 'refused'", (student, since))]

    def set_state(self, submission_id: int, state: str, note: str | None = None) -> None:
        self.db.execute("UPDATE submissions SET state=? WHERE id=?", (state, submission_id))
        if note:
            self.add_note(submission_id, note)

    def add_note(self, submission_id: int, note: str) -> None:
        notes = self.get(submission_id).notes
        if note not in notes:
            self.db.execute("UPDATE submissions SET notes=? WHERE id=?",
                            (json.dumps(notes + [note]), submission_id))

    def start(self, submission_id: int) -> int:
        """Mark a grading as begun; the attempt's number."""
        self.db.execute("UPDATE submissions SET state='grading', attempts=attempts+1, "
                        "started_at=COALESCE(started_at, ?) WHERE id=?", (time.time(), submission_id))
        return self.get(submission_id).attempts

    def finish(self, submission_id: int, state: str, *, recorded: bool = False,
               score: float | None = None, max_score: float | None = None,
               notes: list[str] = (), flags: list[str] = ()) -> None:
        old = self.get(submission_id)
        self.db.execute(
            "UPDATE submissions SET state=?, finished_at=?, recorded=recorded+?, score=?, "
            "max_score=?, notes=?, flags=? WHERE id=?",
            (state, time.time(), int(recorded), score, max_score,
             json.dumps(list(dict.fromkeys(old.notes + list(notes)))), json.dumps(list(flags)),
             submission_id))

    def put_back(self, submission_id: int, note: str) -> None:
        """A grading the service cut short on a clean stop: waiting again, and the attempt not
        counted (the stop was not the submission's doing; ``recover`` counts crashes)."""
        self.db.execute("UPDATE submissions SET state='waiting', attempts=MAX(attempts-1, 0) "
                        "WHERE id=? AND state='grading'", (submission_id,))
        self.add_note(submission_id, note)

    def recover(self) -> list[Submission]:
        """Gradings a stopped service left unfinished: back to waiting (or failed, if they keep
        stopping it). Returns them."""
        interrupted = [self._submission(r) for r in self.db.execute(
            "SELECT * FROM submissions WHERE state='grading'")]
        for item in interrupted:
            if item.attempts >= MAX_ATTEMPTS:
                self.finish(item.id, "failed", notes=[
                    f"grading was interrupted {item.attempts} times (the service stopped while "
                    "grading it); grade it by hand"])
            else:
                self.set_state(item.id, "waiting",
                               "the hub stopped while this was being graded; graded again after")
        return interrupted

    @staticmethod
    def _submission(row) -> Submission:
        if row is None:
            raise KeyError("no such submission in the queue's journal")
        values = dict(row)
        values["notes"] = json.loads(values["notes"])
        values["flags"] = json.loads(values["flags"])
        return Submission(**values)
