"""Put the course on the hub: accounts, groups, the course directory, the exchange, the release.

The first instructor owns the course directory ``~/primer-course`` (a copy of
the repository's ``source/``); every nbgrader command runs as that instructor,
never as root. Notebooks already in the course directory are never overwritten,
so restarting the hub loses no instructor's work.

Where each nbgrader setting lives (one source each, rewritten at every start,
so a change reaches everyone at the next start of the hub):

* course-wide settings: the repository's ``nbgrader_config.py``, copied to
  ``$PRIMER_RUNTIME/etc/course/``; every server and the formgrader read it
  (JUPYTER_CONFIG_PATH), the instructor's own nbgrader loads it from their
  ``~/.jupyter/nbgrader_config.py``;
* the hub's exchange classes: ``$PRIMER_RUNTIME/etc/{student,staff}/``;
* where the course and the gradebook are (``CourseDirectory.root``,
  ``db_url``): the course owner's ``~/.jupyter/nbgrader_config.py``.

The staff's JupyterLab terminals start with the course tools (nbgrader,
primer) first on PATH, after what a login shell reads (``staff_terminal_settings``);
students' terminals stay plain login shells: what they may do is decided by
Unix permissions and the exchange, not by PATH, and their kernels run the
course's Python anyway (tests/test_hub_terminal.py).

The course directory's own ``nbgrader_config.py``, which nbgrader reads last
and so above all others, holds no setting: an older hub's copy of the
repository's file there is moved aside to ``nbgrader_config.py.stale``.

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
import shlex
import shutil
import sys
from pathlib import Path

from primer.course import COURSE_ID, assignment_names
from primer.hub.runtime import HubRuntime
from primer.accounts import chown_tree, ensure_group, ensure_user, run_as

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


COURSE_DIRECTORY_CONFIG = f'''{PERSONAL_CONFIG_HEADER}: no settings here, on purpose.
# nbgrader reads this file last, so a setting here would hide the course-wide
# ones. Those live in the course repository's nbgrader_config.py (the hub copies
# it to $PRIMER_RUNTIME/etc/course/ at every start); this instructor's own are in
# ~/.jupyter/nbgrader_config.py.
'''


def _write_course_directory_config(course: Path, log=print) -> None:
    """Replace an older hub's stale copy of the course-wide settings with a file that has none."""
    config_file = course / "nbgrader_config.py"
    if config_file.exists() and not config_file.read_text().startswith(PERSONAL_CONFIG_HEADER):
        config_file.replace(course / "nbgrader_config.py.stale")
        log(f"moved {config_file} aside to nbgrader_config.py.stale: it would override the "
            "course-wide settings; put course-wide changes in the repository's nbgrader_config.py")
    config_file.write_text(COURSE_DIRECTORY_CONFIG)


def _write_personal_config(entry: pwd.struct_passwd, course: Path, runtime: HubRuntime) -> None:
    """The instructor's nbgrader (formgrader, terminal) finds the course and gradebook from anywhere.

    It loads the course-wide settings first, from the copy the hub made at start.

    The file is rewritten while it still starts with our header; an instructor
    who edits it should remove that line.
    """
    config_dir = Path(entry.pw_dir) / ".jupyter"
    config_file = config_dir / "nbgrader_config.py"
    if config_file.exists() and not config_file.read_text().startswith(PERSONAL_CONFIG_HEADER):
        return
    config_dir.mkdir(exist_ok=True)
    text = (f"{PERSONAL_CONFIG_HEADER}: where this instructor's course lives.\n"
            "c = get_config()  # noqa: F821\n"
            "# the course-wide settings (the repository's nbgrader_config.py)\n"
            f"load_subconfig({str(course_config_file(runtime))!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(course)!r}\n"
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


def course_config_file(runtime: HubRuntime) -> Path:
    """The hub's copy of the repository's nbgrader_config.py, made at every start."""
    return runtime.jupyter_config / "course" / "nbgrader_config.py"


def server_config_path(runtime: HubRuntime, role: str) -> str:
    """JUPYTER_CONFIG_PATH of a server of ``role``: its role's settings, then the course-wide ones."""
    return os.pathsep.join([str(runtime.jupyter_config / role),
                            str(course_config_file(runtime).parent)])


# The staff's JupyterLab terminal: what a login shell reads, then the course tools
# (nbgrader, primer) first on PATH, which /etc/profile would otherwise reset.
STAFF_TERMINAL_RC = """# Written by the course hub set-up: the staff's JupyterLab terminal (primer/hub/course_setup.py)
[ -r /etc/profile ] && . /etc/profile
for startup in "$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile"; do
  [ -r "$startup" ] && {{ . "$startup"; break; }}
done
PATH={venv_bin}:$PATH
export PATH
"""


def staff_terminal_settings(folder: Path) -> dict:
    """ServerApp settings that start the staff's terminals with the course tools on PATH."""
    rc = folder / "terminal_bashrc"
    _write(rc, STAFF_TERMINAL_RC.format(venv_bin=shlex.quote(str(Path(sys.prefix) / "bin"))))
    return {"ServerApp": {"terminado_settings": {
        "shell_command": ["/bin/bash", "--rcfile", str(rc), "-i"]}}}


def write_server_config(runtime: HubRuntime, repo: Path) -> dict[str, Path]:
    """Jupyter settings for the students' and the staff's servers (root-owned, world-readable).

    The hub points each server at its role's folder and the course-wide settings
    with JUPYTER_CONFIG_PATH (``server_config_path``).
    """
    folders = {"student": runtime.jupyter_config / "student",
               "staff": runtime.jupyter_config / "staff"}
    runtime.jupyter_config.mkdir(parents=True, exist_ok=True)
    runtime.jupyter_config.chmod(0o755)
    _write(course_config_file(runtime), (repo / "nbgrader_config.py").read_text())
    for role, folder in folders.items():
        _write(folder / "nbgrader_config.py", SERVER_NBGRADER_CONFIG)
        if role == "student":
            _write(folder / "jupyter_server_config.json", json.dumps(
                {"ServerApp": {"jpserver_extensions": STUDENT_DISABLED_SERVER_EXTENSIONS}}, indent=1))
            _write(folder / "labconfig" / "page_config.json", json.dumps(
                {"disabledExtensions": STUDENT_DISABLED_LAB_PLUGINS}, indent=1))
        else:  # students' terminals stay a plain login shell: no course tools on PATH
            _write(folder / "jupyter_server_config.json",
                   json.dumps(staff_terminal_settings(folder), indent=1))
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
    _write_course_directory_config(course, log)
    chown_tree(course, owner.pw_uid, owner.pw_gid)
    course.chmod(0o700)
    write_server_config(runtime, repo)
    _write_personal_config(owner, course, runtime)

    course_exchange = prepare_exchange(runtime, owner)
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
