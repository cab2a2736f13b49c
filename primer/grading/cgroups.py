"""A cgroup of its own for each grading kernel's sandbox, on cgroup v1 or v2.

The sandbox's rlimits bound each process; a cgroup bounds the whole sandbox,
its tmpfs files included (memory), and the number of its tasks (pids), and
lets the grader kill everything in it at the end.

* cgroup v2 (one hierarchy at /sys/fs/cgroup; Debian 12 with systemd): a
  group ``primer-sandbox/kernel-...`` with ``memory.max`` (and
  ``memory.swap.max`` 0, so swap does not stretch it) and ``pids.max``; the
  parent enables the memory and pids controllers for its children. Removal
  writes ``cgroup.kill`` (Linux 5.14+), else kills each process.
* cgroup v1 (one hierarchy per controller): ``memory/primer-sandbox/kernel-...``
  with ``memory.limit_in_bytes`` and ``pids/primer-sandbox/kernel-...`` with
  ``pids.max``.

Only root can do this. Where no memory limit can be had, ``create`` says why,
and the sandbox records it for the class summary (primer/grading/parallel.py).
"""
from __future__ import annotations

import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "primer-sandbox"


@dataclass
class KernelCgroup:
    version: int
    groups: list[Path]  # v2: one; v1: one per controller hierarchy
    limited: list[str] = field(default_factory=list)  # "memory", "pids"

    def join_prefix(self) -> list[str]:
        """A command prefix that moves the sandbox into the group(s), then runs the rest."""
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        return ["sh", "-c", script, "sh", *[str(g / "cgroup.procs") for g in self.groups], "--"]

    def remove(self) -> None:
        """Kill whatever is left in the group(s), then remove them."""
        for group in self.groups:
            _kill_and_remove(group)


def version(root: Path = CGROUP_ROOT) -> int | None:
    """2 for the unified hierarchy, 1 for v1's per-controller ones, None for neither."""
    if (root / "cgroup.controllers").is_file():
        return 2
    if (root / "memory" / "memory.limit_in_bytes").is_file():
        return 1
    return None


def create(memory_bytes: int, max_pids: int, root: Path | None = None,
           ) -> tuple[KernelCgroup | None, str]:
    """A new group for one kernel, or (None, why there is no memory limit)."""
    root = root or CGROUP_ROOT
    if os.geteuid() != 0:
        return None, "grading does not run as root"
    found = version(root)
    name = f"kernel-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        if found == 2:
            return _create_v2(root, name, memory_bytes, max_pids)
        if found == 1:
            return _create_v1(root, name, memory_bytes, max_pids)
    except OSError as error:  # a container may not let us: the tmpfs sizes and rlimits still hold
        return None, f"the cgroup could not be made ({error})"
    return None, f"no cgroup v1 memory controller nor cgroup v2 hierarchy at {root}"


def _create_v2(root: Path, name: str, memory_bytes: int, max_pids: int) -> tuple[KernelCgroup | None, str]:
    available = (root / "cgroup.controllers").read_text().split()
    if "memory" not in available:
        return None, (f"the cgroup v2 hierarchy at {root} has no memory controller "
                      "(another hierarchy, cgroup v1, holds it)")
    wanted = [c for c in ("memory", "pids") if c in available]
    _enable(root, wanted)
    parent = root / PARENT
    parent.mkdir(exist_ok=True)
    _enable(parent, wanted)
    group = parent / name
    group.mkdir()
    cgroup = KernelCgroup(2, [group])
    try:
        (group / "memory.max").write_text(str(memory_bytes))
        if (group / "memory.swap.max").is_file():
            (group / "memory.swap.max").write_text("0")
        cgroup.limited.append("memory")
        if (group / "pids.max").is_file():
            (group / "pids.max").write_text(str(max_pids))
            cgroup.limited.append("pids")
    except OSError:
        cgroup.remove()
        raise
    return cgroup, ""


def _enable(group: Path, controllers: list[str]) -> None:
    enabled = (group / "cgroup.subtree_control").read_text().split()
    missing = [c for c in controllers if c not in enabled]
    if missing:
        (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))


def _create_v1(root: Path, name: str, memory_bytes: int, max_pids: int) -> tuple[KernelCgroup | None, str]:
    memory = root / "memory" / PARENT / name
    memory.mkdir(parents=True)
    cgroup = KernelCgroup(1, [memory], ["memory"])
    try:
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        if (root / "pids" / "pids.max").is_file() or (root / "pids" / "cgroup.procs").is_file():
            pids = root / "pids" / PARENT / name
            pids.mkdir(parents=True)
            cgroup.groups.append(pids)
            (pids / "pids.max").write_text(str(max_pids))
            cgroup.limited.append("pids")
    except OSError:
        cgroup.remove()
        raise
    return cgroup, ""


def _kill_and_remove(group: Path) -> None:
    if (group / "cgroup.kill").is_file():
        try:
            (group / "cgroup.kill").write_text("1")
        except OSError:
            pass
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return  # gone already
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)
