"""Unix accounts and their processes: creating and removing users, running commands as them.

A neutral module: the hub (accounts for every person), grading (the sandbox's
scratch copies) and the tests use it; it imports nothing of either.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import subprocess
from pathlib import Path

import psutil

from primer.course import venv_path

# What useradd accepts and JupyterHub keeps as is (lower case, no spaces).
VALID_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


class AccountError(RuntimeError):
    pass


class CommandError(subprocess.CalledProcessError):
    """A failed command whose message carries the end of its output."""

    def __str__(self) -> str:
        output = ((self.stdout or "") + (self.stderr or ""))[-3000:]
        return f"{super().__str__()}\n{output}"


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise AccountError(
            f"{what} needs root: the hub gives every person a real Unix account and starts their "
            "server as that user. Run it with sudo (e.g. `sudo make hub`).")


def ensure_user(name: str) -> pwd.struct_passwd:
    """Create ``name`` with a private home (mode 700) unless it exists; return its entry."""
    if not VALID_NAME.match(name):
        raise AccountError(
            f"{name!r} is not a usable account name: use lower-case letters, digits, '-' or '_' "
            "(at most 31 characters, starting with a letter).")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        require_root(f"creating the account {name!r}")
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name],
                       check=True, capture_output=True, text=True)
        entry = pwd.getpwnam(name)
    # Debian makes homes 755: others could read a student's work. Keep them private.
    home = Path(entry.pw_dir)
    if home.is_dir() and home.stat().st_mode & 0o077:
        home.chmod(0o700)
    return entry


def ensure_group(group: str, members: list[str] | tuple[str, ...]) -> grp.struct_group:
    """Create the Unix group ``group`` unless it exists and add ``members`` to it."""
    try:
        grp.getgrnam(group)
    except KeyError:
        require_root(f"creating the group {group!r}")
        subprocess.run(["groupadd", group], check=True, capture_output=True, text=True)
    entry = grp.getgrnam(group)
    for name in members:
        if name not in entry.gr_mem:
            subprocess.run(["usermod", "--append", "--groups", group, name],
                           check=True, capture_output=True, text=True)
    return grp.getgrnam(group)


def remove_group(group: str) -> None:
    try:
        grp.getgrnam(group)
    except KeyError:
        return
    subprocess.run(["groupdel", group], capture_output=True)


def remove_user(name: str) -> None:
    """Stop every process of ``name`` and delete the account and its home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for pid in processes_of(uid):
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give ``root`` and everything below it to uid:gid, never following a link."""
    os.chown(root, uid, gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def user_environment(entry: pwd.struct_passwd, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name,
        "PATH": venv_path("/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def run_as(name: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` as the Unix user ``name`` (the caller is root), capturing its output."""
    entry = pwd.getpwnam(name)
    result = subprocess.run(
        argv, cwd=cwd, user=entry.pw_uid, group=entry.pw_gid,
        extra_groups=os.getgrouplist(entry.pw_name, entry.pw_gid),
        env=user_environment(entry, env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise CommandError(result.returncode, argv, result.stdout, result.stderr)
    return result


# -- processes ---------------------------------------------------------------
def processes_of(uid: int) -> list[int]:
    """PIDs of the running (not zombie) processes whose effective user is ``uid``."""
    return [process.pid for process in psutil.process_iter(["uids", "status"])
            if process.info["uids"] is not None and process.info["uids"].effective == uid
            and process.info["status"] != psutil.STATUS_ZOMBIE]


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (none once it has gone)."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, every process below it and what is left in its process group.

    A sandboxed kernel runs in a session of its own (jupyter_client, bwrap --new-session),
    out of its starter's process group: killing the group alone would leave it running.
    Safe after ``pid`` ended: the group keeps its ID while any member lives.
    """
    for target in (pid, *descendants(pid)):  # listed before any is killed: none is re-parented
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def command_line(pid: int) -> str:
    """The command line of ``pid`` for a message, or '?' once it has gone."""
    try:
        return " ".join(psutil.Process(pid).cmdline())[:200]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for ``pids`` to end; return those still running."""
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [process.pid for process in alive if is_running(process.pid)]
