"""Put the course on the hub: accounts, groups, the course directory, the exchange, the release.

The first instructor owns the course directory ``~/primer-course`` (a copy of
the repository's ``source/`` and ``nbgrader_config.py``); every nbgrader command
runs as that instructor, never as root. Files already in the course directory
are never overwritten, so restarting the hub loses no instructor's work.

Who can reach what (tests/test_hub_isolation.py checks each line with real users):

* every home is 700: nobody reads another person's files, the course directory
  (``source/`` with the solutions, the gradebook) is inside the owner's home;
* the staff (instructors and graders) share the Unix group ``formgrade-<course>``;
  the course's ``inbound/`` belongs to it, is not listable by others, and has the
  set-group-ID and sticky bits: a submission is readable by its student and the
  staff only, and no student can rename or remove another's
  (``primer.exchange``);
* the hub's own state (database, cookie secret, passwords) is root's only;
* the shared data folder is readable by everyone and writable by root only.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import sys
from pathlib import Path

from primer.course import COURSE_ID, assignment_names
from primer.hub.runtime import HubRuntime
from primer.hub.unix import chown_tree, ensure_group, ensure_user, run_as

COURSE_FOLDER = "primer-course"
STAFF_GROUP = f"formgrade-{COURSE_ID}"
STUDENT_GROUP = f"nbgrader-{COURSE_ID}"
PERSONAL_CONFIG_HEADER = "# Written by the course hub set-up"

# JupyterLab plugins and server extensions students must not see or reach.
STUDENT_DISABLED_LAB_PLUGINS = {
    "@jupyter/nbgrader:formgrader": True,
    "@jupyter/nbgrader:create-assignment": True,
    "@jupyter/nbgrader:course-list": True,
}
STUDENT_DISABLED_SERVER_EXTENSIONS = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    # no language servers are installed: the extension only costs start-up time
    "jupyter_lsp": False,
}
SERVER_NBGRADER_CONFIG = f'''{PERSONAL_CONFIG_HEADER}: nbgrader settings of every server on the hub.
c = get_config()  # noqa: F821
# Submissions readable by their student and the course staff only; collect and
# feedback release trust no file, name or timestamp a student wrote (primer/exchange.py).
c.ExchangeFactory.submit = "primer.exchange.PrivateExchangeSubmit"
c.ExchangeFactory.collect = "primer.exchange.SafeExchangeCollect"
c.ExchangeFactory.release_feedback = "primer.exchange.SafeExchangeReleaseFeedback"
'''


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


def _write_personal_config(entry: pwd.struct_passwd, course: Path, runtime: HubRuntime) -> None:
    """The instructor's nbgrader (formgrader, terminal) finds the course and gradebook from anywhere.

    The file is rewritten while it still starts with our header; an instructor
    who edits it should remove that line.
    """
    config_dir = Path(entry.pw_dir) / ".jupyter"
    config_file = config_dir / "nbgrader_config.py"
    if config_file.exists() and not config_file.read_text().startswith(PERSONAL_CONFIG_HEADER):
        return
    config_dir.mkdir(exist_ok=True)
    text = (f"{PERSONAL_CONFIG_HEADER}: where this instructor's course lives.\n"
            f"c = get_config()  # noqa: F821\nc.CourseDirectory.root = {str(course)!r}\n"
            "# trust no file, name or timestamp a student wrote (primer/exchange.py)\n"
            "c.ExchangeFactory.collect = 'primer.exchange.SafeExchangeCollect'\n"
            "c.ExchangeFactory.release_feedback = 'primer.exchange.SafeExchangeReleaseFeedback'\n")
    if runtime.gradebook_url:
        text += f"c.CourseDirectory.db_url = {runtime.gradebook_url!r}\n"
    config_file.touch(mode=0o600)
    config_file.write_text(text)
    config_file.chmod(0o600)
    chown_tree(config_dir, entry.pw_uid, entry.pw_gid)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text)
    path.chmod(0o644)


# jsonschema imports rfc3987_syntax when it is installed (jupyter-events pulls it in);
# that import compiles a grammar and costs ~0.8 s of CPU in every server's start,
# a third of it. The servers' PYTHONPATH finds this stub first; jsonschema then
# skips only its "iri" format check (it catches the ImportError).
SLOW_IMPORT_STUB = (f"{PERSONAL_CONFIG_HEADER}: hides a slow optional import from jsonschema.\n"
                    "raise ImportError('rfc3987_syntax is not loaded in the hub servers')\n")


def python_stubs(runtime: HubRuntime) -> Path:
    return runtime.jupyter_config / "python"


def write_server_config(runtime: HubRuntime) -> dict[str, Path]:
    """Jupyter settings for the students' and the staff's servers (root-owned, world-readable).

    The hub points each server at its role's folder with JUPYTER_CONFIG_PATH.
    """
    folders = {"student": runtime.jupyter_config / "student",
               "staff": runtime.jupyter_config / "staff"}
    runtime.jupyter_config.mkdir(parents=True, exist_ok=True)
    runtime.jupyter_config.chmod(0o755)
    _write(python_stubs(runtime) / "rfc3987_syntax.py", SLOW_IMPORT_STUB)
    for role, folder in folders.items():
        _write(folder / "nbgrader_config.py", SERVER_NBGRADER_CONFIG)
        if role == "student":
            _write(folder / "jupyter_server_config.json", json.dumps(
                {"ServerApp": {"jpserver_extensions": STUDENT_DISABLED_SERVER_EXTENSIONS}}, indent=1))
            _write(folder / "labconfig" / "page_config.json", json.dumps(
                {"disabledExtensions": STUDENT_DISABLED_LAB_PLUGINS}, indent=1))
    return folders


def prepare_exchange(runtime: HubRuntime, owner: pwd.struct_passwd) -> Path:
    """The course's exchange folders, with inbound/ private to each student and the staff."""
    staff_gid = grp.getgrnam(STAFF_GROUP).gr_gid
    course_exchange = runtime.exchange / COURSE_ID
    course_exchange.mkdir(exist_ok=True)
    os.chown(course_exchange, owner.pw_uid, owner.pw_gid)
    course_exchange.chmod(0o755)
    inbound = course_exchange / "inbound"
    inbound.mkdir(exist_ok=True)
    os.chown(inbound, owner.pw_uid, staff_gid)
    # rwx for the owner and staff; students may only create entries (-wx, unlistable).
    # set-group-ID: submissions belong to the staff group; sticky: nobody but its
    # owner (and the course owner) renames or removes an entry.
    inbound.chmod(0o3773)
    return course_exchange


def prepare_shared_data(runtime: HubRuntime) -> Path:
    """A folder every user reads and only root writes (nilearn's NILEARN_SHARED_DATA)."""
    folder = runtime.shared_data
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, 0, 0)
    folder.chmod(0o755)
    readme = folder / "README.txt"
    if not readme.exists():
        readme.write_text(
            "Read-only data shared by every user of the course hub (NILEARN_SHARED_DATA).\n"
            "Administrators put data sets here as root, e.g. nilearn's downloads.\n")
        readme.chmod(0o644)
    return folder


def install_course(repo: Path, runtime: HubRuntime, log=print) -> Path:
    """Create the accounts and groups, and release the assignments PRIMER_RELEASE names."""
    runtime.make_folders()
    for student in runtime.students:
        ensure_user(student)
    owner = ensure_user(runtime.instructors[0])
    for name in runtime.staff[1:]:
        ensure_user(name)
    ensure_group(STAFF_GROUP, runtime.staff)

    course = course_directory(owner.pw_name)
    course.mkdir(exist_ok=True)
    _copy_missing(repo / "source", course / "source")
    if not (course / "nbgrader_config.py").exists():
        shutil.copy2(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    chown_tree(course, owner.pw_uid, owner.pw_gid)
    course.chmod(0o700)
    _write_personal_config(owner, course, runtime)

    course_exchange = prepare_exchange(runtime, owner)
    write_server_config(runtime)
    prepare_shared_data(runtime)

    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = {"PRIMER_EXCHANGE_ROOT": str(runtime.exchange)}
    for name in runtime.assignments_to_release(assignment_names(course)):
        if not (course / "release" / name).exists():
            log(f"generating the student version of {name}")
            run_as(owner.pw_name, nbgrader + ["generate_assignment", name], cwd=course, env=env)
        if not (course_exchange / "outbound" / name).exists():
            log(f"releasing {name} to the students")
            run_as(owner.pw_name, nbgrader + ["release_assignment", name], cwd=course, env=env)
    return course
