"""Real Unix accounts for the hub's users, and running commands as them."""
from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
from pathlib import Path

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
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
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


def processes_of(uid: int) -> list[int]:
    """PIDs of the processes running as ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                pass
    return pids
