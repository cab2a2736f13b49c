"""Copy a folder someone else wrote, trusting nothing in it: the one copier of the course.

Every place where staff-side code copies student-written files goes through
`copy_tree`: collecting from the exchange (``primer.exchange``), staging a
submission for grading (``primer.grading.staging``), the sandbox's scratch
copy, and releasing feedback. It

* never follows a symbolic link, at any depth, even one swapped in after the
  folder was listed (``O_NOFOLLOW`` on every open, folders walked by descriptor);
* never opens a FIFO, socket or device for reading (``O_NONBLOCK``, then
  ``fstat``): nothing it meets can make it wait;
* with ``owner_uid``, takes only entries owned by that Unix user: a hard link
  to someone else's file, or a file planted by another account, is refused;
* skips names that are not UTF-8 and the ``ignore`` patterns, and keeps to the
  `Limits` (file size, total bytes, number of entries, depth), listing at most
  what the budget allows even in a folder of millions of files;
* reports each finding as a `Problem` with a sentence for a person, and raises
  only when the destination is not a fresh folder.

``transform(relative_path, data)`` sees every regular file before it is
written and returns the bytes to write, or None to leave the file out (it
reports why itself); staging repairs notebooks through it, collect normalises
``timestamp.txt``.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterator

from primer.grading.problems import Problem, Skipped

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much of a folder is copied. The defaults suit one student's submission."""

    max_file_bytes: int = 10_000 * 1024  # nbgrader_config.py: CourseDirectory.max_file_size
    max_total_bytes: int = 200 * MIB
    max_entries: int = 5_000  # files and folders, counted as met
    max_depth: int = 16


@dataclass
class CopyReport:
    """What `copy_tree` did: the problems met, the files written, the newest change seen."""

    problems: list[Problem] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # relative paths of the files written
    # Latest inode change (ctime, ns) of any entry copied: set by the kernel, so
    # unlike mtime or a timestamp.txt its owner cannot date it back.
    newest_change_ns: int = 0


Transform = Callable[[str, bytes], "bytes | None"]


def copy_tree(source: str | Path, destination: str | Path, *, limits: Limits = Limits(),
              owner_uid: int | None = None, transform: Transform | None = None,
              first: Collection[str] = (), ignore: Collection[str] = ()) -> CopyReport:
    """Copy the regular files and folders of ``source`` into ``destination``; see the module doc.

    ``destination`` is created if missing and must otherwise be empty.
    ``first``: top-level names copied before anything else, so that the
    budget never cuts them (the notebooks and timestamp of a submission).
    ``ignore``: glob patterns of names neither copied nor reported
    (nbgrader's ``CourseDirectory.ignore``).
    """
    destination = Path(destination)
    if destination.is_symlink() or (destination.exists() and any(destination.iterdir())):
        raise FileExistsError(
            f"destination {destination} already has content: copy into a fresh, empty folder")
    destination.mkdir(parents=True, exist_ok=True)
    walk = _Walk(limits, owner_uid, transform, tuple(ignore), CopyReport())
    walk.run(os.fspath(source), destination, frozenset(first))
    return walk.report


def read_regular_file(path: str | Path, *, max_bytes: int, owner_uid: int | None = None) -> bytes:
    """The bytes of one file, refusing what `copy_tree` refuses; raises `Skipped` with the reason.

    For single files that staff code reads from a student-written place
    (a submission's ``timestamp.txt``, feedback being released).
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    fd = _open_directory(directory or ".")
    try:
        walk = _Walk(Limits(max_file_bytes=max_bytes, max_total_bytes=max_bytes), owner_uid,
                     None, (), CopyReport())
        try:
            return walk.read_file(name, fd, path)
        except OSError as error:
            raise Skipped(*_file_error(path, error)[::2]) from None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the walk

@dataclass
class _Folder:
    """A folder being copied: its open descriptor and the entries left to copy."""

    fd: int
    entries: Iterator[os.DirEntry]
    relative: str  # "" or "sub/folder/"
    target: Path
    depth: int


class _Walk:
    def __init__(self, limits: Limits, owner_uid: int | None, transform: Transform | None,
                 ignore: tuple[str, ...], report: CopyReport):
        self.limits, self.owner_uid, self.transform = limits, owner_uid, transform
        self.ignore, self.report = ignore, report
        self.entries_left = limits.max_entries
        self.bytes_left = limits.max_total_bytes

    def problem(self, kind: str, path: str, message: str) -> None:
        self.report.problems.append(Problem(kind, path, message))

    def run(self, source: str, destination: Path, first: frozenset[str]) -> None:
        try:
            root_fd = _open_directory(source)
        except OSError as error:
            self.problem("unreadable-folder", ".", _folder_error(source, error))
            return
        stack: list[_Folder] = []
        try:
            try:
                self._check_owner(os.fstat(root_fd), ".")
            except Skipped as skipped:
                self.problem(skipped.kind, ".", f"{skipped}: nothing copied")
                os.close(root_fd)
                return
            # Depth first with an explicit stack: no recursion limit to hit, and at
            # most max_depth folders open at once however wide the tree is.
            stack.append(_Folder(root_fd, self._entries(root_fd, "", first), "", destination, 0))
            while stack:
                folder = stack[-1]
                entry = next(folder.entries, None)
                if entry is None:
                    os.close(stack.pop().fd)
                    continue
                path = f"{folder.relative}{entry.name}"
                self.entries_left -= 1
                if self.entries_left == 0:
                    self.problem("too-many-files", path, f"more than {self.limits.max_entries} "
                                                         "files and folders: the rest was not copied")
                    break
                child = self._copy_entry(entry, folder, path)
                if child is not None:
                    stack.append(child)
        finally:
            for folder in stack:
                os.close(folder.fd)

    def _entries(self, dir_fd: int, relative: str,
                 first: frozenset[str] = frozenset()) -> Iterator[os.DirEntry]:
        """The folder's entries: ``first`` names, then files, then folders, each by name.

        Lists at most the budget (a folder may hold millions of files) but
        always finds the ``first`` names.
        """
        wanted, others = [], []
        try:
            with os.scandir(dir_fd) as scan:
                for entry in scan:
                    if entry.name in first:
                        wanted.append(entry)
                    elif len(others) <= self.limits.max_entries:
                        others.append(entry)
                    elif len(wanted) == len(first):
                        break
        except OSError as error:
            shown = relative or "."
            self.problem("unreadable-folder", shown,
                         f"folder {shown} cannot be read ({error.strerror}): skipped")
        wanted.sort(key=lambda entry: entry.name)
        others.sort(key=lambda entry: (_is_folder(entry), entry.name))
        return iter(wanted + others)

    def _check_owner(self, info: os.stat_result, path: str) -> None:
        """Raise `Skipped` unless owned by the expected account; note the newest change seen."""
        if self.owner_uid is not None and info.st_uid != self.owner_uid:
            raise Skipped("foreign-owner", f"{path} belongs to {account_name(info.st_uid)}, not to "
                                           f"{account_name(self.owner_uid)}: not copied")
        self.report.newest_change_ns = max(self.report.newest_change_ns, info.st_ctime_ns)

    def _copy_entry(self, entry: os.DirEntry, folder: _Folder, path: str) -> _Folder | None:
        """Copy one entry; return the folder to walk next if it is one."""
        if not _is_utf8(entry.name):
            shown = _printable(path)
            self.problem("bad-name", shown,
                         f"{shown!r}: the file name is not valid UTF-8, so it was skipped")
            return None
        if any(fnmatch.fnmatch(entry.name, pattern) for pattern in self.ignore):
            return None
        try:
            if entry.is_symlink():
                self.problem("symlink", path,
                             f"{path} is a symbolic link: never followed, not copied")
            elif entry.is_dir(follow_symlinks=False):
                return self._enter_folder(entry, folder, path)
            elif entry.is_file(follow_symlinks=False):
                self._copy_file(entry.name, folder, path)
            else:
                self.problem("special-file", path, f"{path} is not a regular file "
                                                   "(a pipe, socket or device): not copied")
        except Skipped as skipped:
            self.problem(skipped.kind, path, str(skipped))
        except OSError as error:
            if _now_a_link(entry.name, folder.fd):  # swapped for a link after the listing
                error = OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            self.problem(*_file_error(path, error))
        return None

    def _enter_folder(self, entry: os.DirEntry, folder: _Folder, path: str) -> _Folder | None:
        if folder.depth + 1 >= self.limits.max_depth:
            self.problem("too-deep", path, f"{path} is nested more than "
                                           f"{self.limits.max_depth} folders deep: not copied")
            return None
        child_fd = _open_directory(entry.name, folder.fd)
        try:
            self._check_owner(os.fstat(child_fd), path)
        except Skipped:
            os.close(child_fd)
            raise
        target = folder.target / entry.name
        target.mkdir()
        return _Folder(child_fd, self._entries(child_fd, f"{path}/"), f"{path}/", target,
                       folder.depth + 1)

    def _copy_file(self, name: str, folder: _Folder, path: str) -> None:
        data = self.read_file(name, folder.fd, path)
        if self.transform is not None:
            data = self.transform(path, data)
            if data is None:
                return
        with open(folder.target / name, "xb") as copy_:
            copy_.write(data)
        self.report.copied.append(path)

    def read_file(self, name: str, dir_fd: int, path: str) -> bytes:
        # O_NOFOLLOW + O_NONBLOCK: a symlink or FIFO swapped in after the listing is
        # refused, not followed or waited on.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(name, flags, dir_fd=dir_fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Skipped("special-file", f"{path} is not a regular file: not copied")
            self._check_owner(info, path)
            limit = min(self.limits.max_file_bytes, self.bytes_left)
            if info.st_size > limit:
                raise self._too_large(path, info.st_size)
            data = _read_at_most(fd, limit + 1)  # the file may grow while we read
            if len(data) > limit:
                raise self._too_large(path, len(data))
        finally:
            os.close(fd)
        self.bytes_left -= len(data)
        return data

    def _too_large(self, path: str, size: int) -> Skipped:
        cap = self.limits.max_file_bytes
        what = "over the size limit" if size > cap else "over what is left of the size limit"
        return Skipped("too-large", f"{path} is {_megabytes(size)}, {what} "
                                    f"({_megabytes(cap)} per file): not copied")


# --------------------------------------------------------------------------- small helpers

def _open_directory(name: str, dir_fd: int | None = None) -> int:
    # O_NOFOLLOW: a folder swapped for a symlink after we looked is refused, not followed.
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, dir_fd=dir_fd)


def _folder_error(source: str, error: OSError) -> str:
    if os.path.islink(source):
        return "the folder is a symlink: not followed, nothing copied"
    return f"the folder cannot be read ({error.strerror}): nothing copied"


def _file_error(path: str, error: OSError) -> tuple[str, str, str]:
    if error.errno == errno.ELOOP:
        return "symlink", path, f"{path} is a symbolic link: never followed, not copied"
    return "unreadable-file", path, f"{path} cannot be read ({error.strerror}): not copied"


def _now_a_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def account_name(uid: int) -> str:
    """'user NAME', or 'user id N' for a uid with no account."""
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"user id {uid}"


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_utf8(name: str) -> bool:
    # Python keeps undecodable bytes of file names as lone surrogates.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_at_most(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"
