"""An nbgrader exchange whose submissions only their student and the course staff can open.

nbgrader 0.9.6 makes every submission folder in ``inbound/`` mode 777 with
world-readable files: it relies on nobody guessing the folder's name. Here the
course's ``inbound/`` belongs to the staff's Unix group and has the set-group-ID
and sticky bits (``course_setup.prepare_exchange``). This submit copies the
student's files so that every one of them is created in that group (nbgrader's
``copytree`` would drop the set-group-ID bit before it writes the timestamp and
the secret), skips symbolic links, and leaves the submission 770 with files
640. Another student can neither list, read, change, rename nor remove it, even
knowing its full name; the instructor collects it through the group.

Collecting, nbgrader trusts the student name in a folder's name and only warns
when the folder belongs to someone else: a student could slip a newer
"submission" in under another's name. ``VerifiedExchangeCollect`` skips every
folder whose Unix owner is not the student it names.

Servers use them through ``ExchangeFactory`` in the nbgrader config the hub
gives them (``course_setup.write_server_config``), the instructor's terminal
through their ``~/.jupyter/nbgrader_config.py``.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

SUBMISSION_DIR_MODE = 0o770
SUBMISSION_FILE_MODE = 0o640


class PrivateExchangeSubmit(ExchangeSubmit):
    def _into_inbound(self, dest: str) -> bool:
        return os.path.dirname(os.path.abspath(dest)) == os.path.abspath(self.inbound_path)

    def do_copy(self, src, dest, log=None):
        if not self._into_inbound(dest):
            return super().do_copy(src, dest, log=log)
        size = self.get_size(src)
        if size > 1000 * self.coursedir.max_dir_size:
            self.log.error("Directory size is too big")
            raise RuntimeError(f"Directory size is too big. Size is {size}, maximum size is "
                               f"{1000 * self.coursedir.max_dir_size}")
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)
        self._copy_tree(src, dest, ignore)

    def _copy_tree(self, src: str, dest: str, ignore) -> None:
        # mkdir in a set-group-ID folder: the new folder inherits its group and the bit.
        os.mkdir(dest, 0o700)
        names = os.listdir(src)
        skipped = ignore(src, names)
        for name in names:
            source, target = os.path.join(src, name), os.path.join(dest, name)
            if name in skipped:
                continue
            if os.path.islink(source):
                self.log.warning("Not submitting the symbolic link %s", source)
            elif os.path.isdir(source):
                self._copy_tree(source, target, ignore)
            elif os.path.isfile(source):
                shutil.copyfile(source, target)

    def copy_files(self):
        super().copy_files()
        submission = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, _, files in os.walk(submission):
            for name in files:
                os.chmod(os.path.join(folder, name), SUBMISSION_FILE_MODE)
            os.chmod(folder, SUBMISSION_DIR_MODE)


class VerifiedExchangeCollect(ExchangeCollect):
    def _owned_by_its_student(self, record: dict) -> bool:
        path = os.path.join(self.inbound_path, record["filename"])
        try:
            owner = pwd.getpwuid(os.lstat(path).st_uid).pw_name
        except KeyError:
            owner = "an unknown user"
        if owner != record["username"] or os.path.islink(path):
            self.log.warning("Skipping %s: it claims to be %s's submission but belongs to %s",
                             path, record["username"], owner)
            return False
        return True

    def init_src(self):
        super().init_src()  # checks and the due date; the records are chosen again below
        student_id = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student_id}+{self.coursedir.assignment_id}+*")
        by_student: dict[str, list[dict]] = {}
        for path in glob.glob(pattern):
            record = self._path_to_record(path)
            if self._owned_by_its_student(record):
                by_student.setdefault(record["username"], []).append(record)
        self.src_records = []
        for records in by_student.values():
            records = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in records if r["timestamp"] <= self.duedate]
                records = on_time or records
            self.src_records.append(records[0])
