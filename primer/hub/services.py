"""Services the hub manages: the entry of one run as the course owner, and those a crashed hub left behind.

A hub killed at once (SIGKILL, out of memory) leaves the processes of its
managed services running: they hold the formgrader's port, so the next hub
could not start its own. When the hub starts, these are stopped, by PID, after
checking from their environment that they are this hub's (same service name,
same hub API).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil

from primer.accounts import wait_until_gone


def owner_service(runtime, course: Path, owner: str, *, name: str, port: int,
                  command: list[str]) -> dict:
    """The hub's entry for a service run as the course owner in the course folder, on 127.0.0.1:
    the owner may read the gradebook; the staff's Jupyter settings and the course's exchange."""
    from primer.hub.course_setup import server_config_path

    venv_bin = Path(sys.prefix) / "bin"
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": command,
        "user": owner,
        "cwd": str(course),
        "environment": {
            "PRIMER_EXCHANGE_ROOT": str(runtime.exchange),
            "JUPYTER_CONFIG_PATH": server_config_path(runtime, "staff"),
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        },
        "oauth_no_confirm": True,
        "display": True,  # in the hub's Services menu (Hub Control Panel, from JupyterLab's File menu)
    }


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
