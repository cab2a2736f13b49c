"""The spawner: each person's server as their own Unix user, with their role's settings and limits.

``CourseServer`` is what every course server gets, whichever spawner starts it
(``CourseSpawner`` here, on this machine; ``CourseSlurmSpawner`` in
slurm_spawner.py, as a Slurm job):

* The Unix account is created (home 700) when a server first starts, so users an
  admin adds to the hub later (roster, OAuth, LTI) work without a manual step.
* Students' servers read the student settings (no formgrader, no Create
  Assignment), the staff's the staff settings: JUPYTER_CONFIG_PATH points at the
  role's folder written by ``course_setup.write_server_config``.

``CourseSpawner`` runs the server on this machine:

* Servers listen on ports below the range kernels take theirs from
  (server_ports.py says why).
* At most ``start_limit`` servers start at once; the others wait their turn
  (start_queue.py says why: 100 start-ups sharing 2 cores all missed the
  hub's timeout). The wait counts towards ``start_timeout``.
* ``mem_limit`` and ``cpu_limit`` are enforced with a cgroup per user (v1 or
  v2, whichever the machine has) holding the server and every kernel it starts.
  Where cgroups cannot be written (some containers) the hub logs a warning
  and runs without limits.
"""
from __future__ import annotations

import os
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Dict, Integer, Unicode
from traitlets.config import Configurable

from primer.accounts import ensure_group, ensure_user
from primer.hub.server_ports import give_back, take_port
from primer.hub.start_queue import StartQueue, wait_until_answering

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "primer-hub"
CPU_PERIOD_US = 100_000


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


class CourseServer(Configurable):
    """Mixed into a spawner (before it): the course's account, role and role settings."""

    config_paths = Dict(help="Role (student, staff) -> JUPYTER_CONFIG_PATH.").tag(config=True)
    staff_group = Unicode("formgrade-primer").tag(config=True)

    @property
    def role(self) -> str:
        groups = {group.name for group in self.user.groups}
        return "staff" if self.user.admin or self.staff_group in groups else "student"

    def get_env(self):
        env = super().get_env()
        if self.role in self.config_paths:
            env["JUPYTER_CONFIG_PATH"] = self.config_paths[self.role]
        return env

    def prepare_account(self) -> None:
        """The person's Unix account (home 700) and, for staff, the staff group: before each start."""
        ensure_user(self.user.name)
        if self.role == "staff":  # staff added while the hub runs (roster, admin page)
            ensure_group(self.staff_group, [self.user.name])


_start_queues: dict[int, StartQueue] = {}  # one line per hub process (one per limit)


class CourseSpawner(CourseServer, LocalProcessSpawner):
    start_limit = Integer(
        0, help="At most this many servers start at once on this machine; 0: no limit.").tag(config=True)

    @property
    def start_queue(self) -> StartQueue:
        return _start_queues.setdefault(self.start_limit, StartQueue(self.start_limit))

    async def start(self):
        self.prepare_account()
        queue = self.start_queue
        if queue.limit and queue.starting >= queue.limit:
            self.log.info("%s waits to start: %d starting, %d waiting", self.user.name,
                          queue.starting, queue.waiting)
        async with queue.turn():
            self.port = take_port()  # not from the kernels' range (server_ports.py says why)
            ip, port = await super().start()
            try:
                self.apply_limits(self.pid)
            except OSError as error:
                self.log.warning("no memory/CPU limits for %s: %s", self.user.name, error)
            if queue.limit:  # keep the place in line until the start-up's work is done
                await wait_until_answering(f"http://{ip}:{port}{self.server.base_url}api",
                                           exited=lambda: self.proc.poll() is not None,
                                           timeout=self.http_timeout)
        return ip, port

    # -- cgroups ---------------------------------------------------------
    def cgroup_folders(self) -> list[Path]:
        """The user's cgroup folders (two for cgroup v1: memory and cpu; one for v2)."""
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            return [CGROUP_ROOT / CGROUP_NAME / self.user.name]
        return [CGROUP_ROOT / controller / CGROUP_NAME / self.user.name
                for controller in ("memory", "cpu")]

    def apply_limits(self, pid: int) -> None:
        if not (self.mem_limit or self.cpu_limit):
            return
        v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
        for folder in self.cgroup_folders():
            folder.mkdir(parents=True, exist_ok=True)
            if v2:
                for parent in (CGROUP_ROOT, folder.parent):
                    _write(parent / "cgroup.subtree_control", "+memory +cpu")
                if self.mem_limit:
                    _write(folder / "memory.max", int(self.mem_limit))
                    _write(folder / "memory.swap.max", 0)
                if self.cpu_limit:
                    _write(folder / "cpu.max", f"{int(self.cpu_limit * CPU_PERIOD_US)} {CPU_PERIOD_US}")
            elif folder.parts[-3] == "memory" and self.mem_limit:
                _write(folder / "memory.limit_in_bytes", int(self.mem_limit))
            elif folder.parts[-3] == "cpu" and self.cpu_limit:
                _write(folder / "cpu.cfs_period_us", CPU_PERIOD_US)
                _write(folder / "cpu.cfs_quota_us", int(self.cpu_limit * CPU_PERIOD_US))
            _write(folder / "cgroup.procs", pid)
        self.log.info("limits for %s: memory %s bytes, %s CPU", self.user.name,
                      self.mem_limit or "unlimited", self.cpu_limit or "unlimited")

    async def stop(self, now=False):
        await super().stop(now=now)
        give_back(self.port)
        for folder in self.cgroup_folders():
            try:
                folder.rmdir()  # only succeeds once every process in it has ended
            except OSError:
                pass
