"""Put the course on the hub: accounts, the instructor's course directory, the release.

The first instructor owns the course directory ``~/primer-course`` (a copy of
the repository's ``source/`` and ``nbgrader_config.py``); every nbgrader command
runs as that instructor, never as root. Files already in the course directory
are never overwritten, so restarting the hub loses no instructor's work.
"""
from __future__ import annotations

import os
import pwd
import shutil
import sys
from pathlib import Path

from primer.course import COURSE_ID, assignment_names
from primer.hub.runtime import HubRuntime
from primer.hub.unix import ensure_user, run_as

COURSE_FOLDER = "primer-course"


def course_directory(instructor: str) -> Path:
    return Path(pwd.getpwnam(instructor).pw_dir) / COURSE_FOLDER


def _copy_missing(source: Path, target: Path) -> None:
    """Copy files from ``source`` that ``target`` does not have yet."""
    for path in sorted(source.rglob("*")):
        if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
            continue
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def _write_personal_config(entry: pwd.struct_passwd, course: Path) -> None:
    """The instructor's nbgrader (formgrader, terminal) finds the course from anywhere."""
    config_dir = Path(entry.pw_dir) / ".jupyter"
    config_file = config_dir / "nbgrader_config.py"
    if config_file.exists():
        return
    config_dir.mkdir(exist_ok=True)
    config_file.write_text(
        "# Written by the course hub set-up: where this instructor's course lives.\n"
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n")
    _chown_tree(config_dir, entry.pw_uid, entry.pw_gid)


def install_course(repo: Path, runtime: HubRuntime, log=print) -> Path:
    """Create the accounts and release every assignment not yet released."""
    runtime.make_folders()
    for student in runtime.students:
        ensure_user(student)
    owner = ensure_user(runtime.instructors[0])
    for instructor in runtime.instructors[1:]:
        ensure_user(instructor)

    course = course_directory(owner.pw_name)
    course.mkdir(exist_ok=True)
    _copy_missing(repo / "source", course / "source")
    if not (course / "nbgrader_config.py").exists():
        shutil.copy2(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    _chown_tree(course, owner.pw_uid, owner.pw_gid)
    course.chmod(0o700)
    _write_personal_config(owner, course)

    course_exchange = runtime.exchange / COURSE_ID
    course_exchange.mkdir(exist_ok=True)
    os.chown(course_exchange, owner.pw_uid, owner.pw_gid)
    course_exchange.chmod(0o755)

    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = {"PRIMER_EXCHANGE_ROOT": str(runtime.exchange)}
    for name in assignment_names(course):
        if not (course / "release" / name).exists():
            log(f"generating the student version of {name}")
            run_as(owner.pw_name, nbgrader + ["generate_assignment", name], cwd=course, env=env)
        if not (course_exchange / "outbound" / name).exists():
            log(f"releasing {name} to the students")
            run_as(owner.pw_name, nbgrader + ["release_assignment", name], cwd=course, env=env)
    return course
