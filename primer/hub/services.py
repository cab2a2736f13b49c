"""Services the hub manages (the formgrader, the idle culler) left behind by a crashed hub.

A hub killed at once (SIGKILL, out of memory) leaves the processes of its
managed services running: they hold the formgrader's port, so the next hub
could not start its own. When the hub starts, these are stopped, by PID, after
checking from their environment that they are this hub's (same service name,
same hub API).
"""
from __future__ import annotations

import os

import psutil

from primer.accounts import wait_until_gone


def stale_services(names: list[str], hub_api_url: str) -> list[int]:
    """PIDs of running service processes named ``names`` started by a hub at ``hub_api_url``."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            env = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if (env.get("JUPYTERHUB_SERVICE_NAME") in names
                and env.get("JUPYTERHUB_API_URL", "").startswith(hub_api_url)):
            found.append(process.pid)
    return found


def stop_stale_services(names: list[str], hub_api_url: str, log=print) -> list[int]:
    pids = stale_services(names, hub_api_url)
    for pid in pids:
        log(f"stopping service process {pid} left by a previous hub")
        _signal(pid, "terminate")
    for pid in wait_until_gone(pids, timeout=10):
        _signal(pid, "kill")
    return pids


def _signal(pid: int, how: str) -> None:
    try:
        getattr(psutil.Process(pid), how)()
    except psutil.NoSuchProcess:
        pass
