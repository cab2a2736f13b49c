"""Services the hub manages (the formgrader, the idle culler) left behind by a crashed hub.

A hub killed at once (SIGKILL, out of memory) leaves the processes of its
managed services running: they hold the formgrader's port, so the next hub
could not start its own. When the hub starts, these are stopped, by PID, after
checking from /proc that they are this hub's (same service name, same hub API).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _environment(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def stale_services(names: list[str], hub_api_url: str) -> list[int]:
    """PIDs of running service processes named ``names`` started by a hub at ``hub_api_url``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        env = _environment(int(entry.name))
        if (env.get("JUPYTERHUB_SERVICE_NAME") in names
                and env.get("JUPYTERHUB_API_URL", "").startswith(hub_api_url)):
            found.append(int(entry.name))
    return found


def stop_stale_services(names: list[str], hub_api_url: str, log=print) -> list[int]:
    pids = stale_services(names, hub_api_url)
    for pid in pids:
        log(f"stopping service process {pid} left by a previous hub")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]]
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids
