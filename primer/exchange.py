"""nbgrader's file exchange, for a course where students may be hostile.

Students write into the course's ``inbound/`` (nbgrader's design): it belongs
to the staff's Unix group, students may create entries but not list it, and it
has the set-group-ID and sticky bits (``primer.hub.course_setup.prepare_exchange``).
Whatever a student puts there is untrusted: a hand-made folder may hold links
to the instructor's files, FIFOs, millions of files, a name that does not
parse, another student's name, a back-dated timestamp, or be half written.
docs/security-exchange.md gives the threat model and tests/test_exchange_attacks.py
tries each attack with real Unix users.

* `PrivateExchangeSubmit` (students' servers): a submission readable by its
  student and the staff only (770, files 640, in the staff group), copied with
  `primer.safecopy.copy_tree`, so links are not submitted.
* `SafeExchangeCollect` (instructor: ``nbgrader collect``, the formgrader's
  Collect button): takes an entry only if its name parses, it is a real folder
  owned by the Unix account it names and it is complete (``timestamp.txt``);
  copies it with `copy_tree`, taking only files and folders owned by that
  account (links, FIFOs, devices, other accounts' and oversized files refused); counts it at the time the kernel saw it written
  when its name claims an earlier one; and warns in words for the instructor
  about everything it skips, collecting the rest of the class.
* `SafeExchangeReleaseFeedback` (instructor): releases feedback through the
  same reader, never following a link out of ``feedback/``.

Which submission counts is nbgrader's rule (the latest; with
``--before-duedate`` the latest before the due date); tests pin it against
stock nbgrader on an honest exchange.
"""
from __future__ import annotations

import datetime
import fnmatch
import os
import pwd
import re
import stat
from dataclasses import dataclass

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import check_mode, notebook_hash, parse_utc
from traitlets import Float

from primer.grading.deadlines import student_due_dates
from primer.grading.problems import Skipped
from primer.safecopy import Limits, account_name, copy_tree, read_regular_file

SUBMISSION_DIR_MODE = 0o770
SUBMISSION_FILE_MODE = 0o640
TIMESTAMP = "timestamp.txt"
SECRET = "submission_secret.txt"
SMALL_FILE = 4096  # timestamps and secrets are a few dozen bytes


def _limits(coursedir) -> Limits:
    # nbgrader's own settings, in kB: max_file_size per file, max_dir_size per submission.
    return Limits(max_file_bytes=1000 * coursedir.max_file_size,
                  max_total_bytes=1000 * coursedir.max_dir_size)


class PrivateExchangeSubmit(ExchangeSubmit):
    """Submit into inbound/ with files in the staff group, 770/640, links left out."""

    def do_copy(self, src, dest, log=None):
        if os.path.dirname(os.path.abspath(dest)) != os.path.abspath(self.inbound_path):
            return super().do_copy(src, dest, log=log)  # the student's own cache
        # mkdir in the set-group-ID inbound/: every folder and file inherits the staff group
        # (nbgrader's copytree would drop the bit before it writes the timestamp and secret).
        report = copy_tree(src, dest, limits=_limits(self.coursedir), ignore=self.coursedir.ignore)
        for problem in report.problems:
            self.log.warning("Not submitted: %s", problem.message)

    def copy_files(self):
        super().copy_files()
        submission = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, _, files in os.walk(submission):
            for name in files:
                os.chmod(os.path.join(folder, name), SUBMISSION_FILE_MODE)
            os.chmod(folder, SUBMISSION_DIR_MODE)


@dataclass
class _Entry:
    """A folder in inbound/ that passed every check: a candidate submission."""

    username: str
    filename: str
    timestamp: datetime.datetime  # UTC, naive (nbgrader's parse_utc)
    uid: int
    change_ns: int  # the folder's ctime when listed

    def record(self) -> dict:
        """The shape nbgrader's ExchangeCollect.copy_files reads."""
        return {"username": self.username, "filename": self.filename,
                "timestamp": self.timestamp, "entry": self}


class SafeExchangeCollect(ExchangeCollect):
    """``nbgrader collect`` that trusts no file, name or timestamp a student wrote."""

    clock_tolerance = Float(600.0, config=True, help=(
        "Seconds a submission's name may claim before the time its folder was last "
        "changed. Submit names it when it starts and finishes it a moment later; an "
        "older claim is a back-dated submission and counts at its real time."))

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                self.duedate = gradebook.find_assignment(self.coursedir.assignment_id).duedate
                # a student's own due date, with the extension `primer extend` gave them
                self.student_duedates = student_due_dates(gradebook, self.coursedir.assignment_id)
            except MissingEntry:
                self.duedate, self.student_duedates = None, {}
        by_student: dict[str, list[dict]] = {}
        for entry in self._entries():
            by_student.setdefault(entry.username, []).append(entry.record())
        self.src_records = [self._counted(records) for records in by_student.values()]

    def _counted(self, records: list[dict]) -> dict:
        """nbgrader's rule: the latest, or with --before-duedate the latest on time (the
        student's own due date, extension included) if any."""
        records = self._sort_by_timestamp(records)
        if self.duedate is not None and self.before_duedate:
            due = self.student_duedates.get(records[0]["username"], self.duedate)
            on_time = [record for record in records if record["timestamp"] <= due]
            return (on_time or records)[0]
        return records[0]

    # ----------------------------------------------------------------------- vetting inbound/

    def _entries(self) -> list[_Entry]:
        # --student may be a glob, as in nbgrader's own listing; "*" (the default) is everyone.
        assignment, wanted = self.coursedir.assignment_id, self.coursedir.student_id or "*"
        marker = f"+{assignment}+"
        entries = []
        with os.scandir(self.inbound_path) as scan:
            for item in scan:
                name = item.name
                # nbgrader's own glob: another assignment's, another student's, or hidden
                if name.startswith(".") or not fnmatch.fnmatchcase(name, f"{wanted}{marker}*"):
                    continue
                entry = self._vetted(name, assignment)
                if entry is not None:
                    entries.append(entry)
        return entries

    def _skip(self, name: str, why: str) -> None:
        self.log.warning("Not collected: %r in %s %s", name, self.inbound_path, why)

    def _vetted(self, name: str, assignment: str) -> _Entry | None:
        """The entry if its name, owner and contents make it a submission; else warn, None."""
        parts = name.rsplit("+", 3)  # as nbgrader: student+assignment+timestamp[+random]
        if len(parts) < 3 or parts[1] != assignment:
            self._skip(name, "has a name Submit does not make (student+assignment+time+code)")
            return None
        username = parts[0]
        try:
            timestamp = parse_utc(parts[2])
        except (ValueError, OverflowError):
            self._skip(name, f"has no valid time in its name ({parts[2]!r})")
            return None
        try:
            uid = pwd.getpwnam(username).pw_uid
        except KeyError:
            self._skip(name, f"names {username!r}, who has no account here")
            return None
        path = os.path.join(self.inbound_path, name)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            self._skip(name, "is not a folder (a link, file or pipe): a hand-made entry")
            return None
        if info.st_uid != uid:
            self._skip(name, f"claims to be {username}'s submission but belongs to "
                             f"{account_name(info.st_uid)}: a forged submission")
            return None
        try:
            stamp = os.lstat(os.path.join(path, TIMESTAMP))
            complete = stat.S_ISREG(stamp.st_mode) and stamp.st_uid == uid
        except OSError:
            complete = False
        if not complete:
            self._skip(name, f"has no {TIMESTAMP} of its own: it is still being written or was "
                             "not made by Submit; collect again later")
            return None
        entry = _Entry(username, name, timestamp, uid, info.st_ctime_ns)
        entry.timestamp = self._trusted_time(entry, info.st_ctime_ns)
        return entry

    def _trusted_time(self, entry: _Entry, change_ns: int) -> datetime.datetime:
        """The claimed time, unless the kernel saw the folder written later than that allows."""
        written = _utc(change_ns)
        if (written - entry.timestamp).total_seconds() > self.clock_tolerance:
            self.log.warning("%s's submission %r claims the time %s but was written at %s UTC: "
                             "counted at %s (a back-dated submission)", entry.username,
                             entry.filename, entry.timestamp, written, written)
            return written
        return entry.timestamp

    # ----------------------------------------------------------------------- copying

    def do_copy(self, src, dest, log=None):
        entry: _Entry = next(r["entry"] for r in self.src_records
                             if os.path.join(self.inbound_path, r["filename"]) == src)
        stamp = entry.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC")

        def trusted_timestamp(path: str, data: bytes) -> bytes | None:
            return stamp.encode() if path == TIMESTAMP else data

        first = {TIMESTAMP, SECRET, *self._release_notebooks()}
        try:
            report = copy_tree(src, dest, limits=_limits(self.coursedir), owner_uid=entry.uid,
                               transform=trusted_timestamp, first=first,
                               ignore=self.coursedir.ignore)
        except OSError as error:
            self.log.error("Could not collect %s's submission %r: %s", entry.username,
                           entry.filename, error)
            return
        for problem in report.problems:
            self.log.warning("Collecting %s's submission %r: %s", entry.username,
                             entry.filename, problem.message)
        edited = _utc(report.newest_change_ns)
        if (edited - entry.timestamp).total_seconds() > self.clock_tolerance:
            self.log.warning("%s's submission %r was changed at %s UTC, after its time %s: "
                             "counted at %s", entry.username, entry.filename, edited,
                             entry.timestamp, edited)
            with open(os.path.join(dest, TIMESTAMP), "w") as file:
                file.write(edited.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))

    def _release_notebooks(self) -> list[str]:
        release = self.coursedir.format_path(self.coursedir.release_directory, ".",
                                             self.coursedir.assignment_id)
        try:
            return [name for name in os.listdir(release) if name.endswith(".ipynb")]
        except OSError:
            return []


class SafeExchangeReleaseFeedback(ExchangeReleaseFeedback):
    """``nbgrader release_feedback`` that reads feedback/ with `read_regular_file`.

    feedback/<student>/<assignment>/ holds the student's ``timestamp.txt`` and
    ``submission_secret.txt``: a link there must not publish another file.
    """

    def copy_files(self):
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        pattern = re.compile(re.escape(os.path.sep).join([
            self.coursedir.format_path(self.coursedir.feedback_directory, "(?P<student_id>[^/]+)",
                                       self.coursedir.assignment_id, escape=True),
            r"(?P<notebook_id>[^/]+)\.html"]) + "$")
        limit = 1000 * self.coursedir.max_file_size
        for folder in sorted(_glob_folders(self.src_path)):
            for name in sorted(os.listdir(folder)):
                match = pattern.match(os.path.join(folder, name))
                if match is None or match["student_id"] in excluded:
                    continue
                try:
                    secret = read_regular_file(os.path.join(folder, SECRET), max_bytes=SMALL_FILE)
                    html = read_regular_file(os.path.join(folder, name), max_bytes=limit)
                except Skipped as skipped:
                    self.log.warning("Feedback not released for %s: %s", match["student_id"],
                                     skipped)
                    continue
                checksum = notebook_hash(secret=secret.decode("utf-8", "replace"),
                                         notebook_id=match["notebook_id"])
                temporary = os.path.join(self.dest_path, f"{checksum}-tmp.html")
                with open(temporary, "wb") as file:
                    file.write(html)
                os.chmod(temporary, 0o644)  # as nbgrader's: every student reads their own by hash
                os.replace(temporary, os.path.join(self.dest_path, f"{checksum}.html"))
                self.log.info("Released feedback for student '%s' on '%s/%s'",
                              match["student_id"], self.coursedir.assignment_id,
                              match["notebook_id"])


def _utc(time_ns: int) -> datetime.datetime:
    """A file time as nbgrader's timestamps are: UTC without a time zone."""
    return datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.timezone.utc).replace(tzinfo=None)


def _glob_folders(pattern: str) -> list[str]:
    import glob

    return [path for path in glob.glob(pattern) if os.path.isdir(path) and not os.path.islink(path)]
