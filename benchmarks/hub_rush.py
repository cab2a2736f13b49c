"""The morning rush: N students log in at once, start their servers and run code.

    sudo .venv/bin/python benchmarks/hub_rush.py [--students 30] [--spawners local,slurm]
                                                 [--start-limits 0,4]
    make bench-hub                           (PRIMER_SPAWNER=slurm make bench-hub: both, side by side)

Starts the course hub exactly as the tests do (real Unix users, a free port of
127.0.0.1, throw-away runtime folder), then every student at the same moment:
logs in with the shared password, starts their server, starts a kernel and runs
code in it over the websocket. Prints the time until all are ready, the
failures, the peak memory and the CPU time of a server's start-up imports; the
hub, servers and accounts are removed after. With ``--spawners local,slurm``
the same rush runs twice, once with the servers on this machine and once with
every server a Slurm job (PRIMER_SPAWNER=slurm; on the cluster of SLURM_CONF
if one answers, else on a local one-node cluster started for the run), and
the figures are printed side by side. ``--start-limits 0,4`` runs the local
rush once for each PRIMER_START_LIMIT (0: every server starts at once, as
before primer/hub/start_queue.py), side by side.
A failed student's lines of the hub's and the proxy's log are printed, and the
whole log is kept in artifacts/hub-rush/.
Target on 2 cores: all ready within 1.2 s per student (at least 60 s), 0 failures.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp

from primer.course import find_repo
from primer.testing.hub import PASSWORD_STUDENT, CourseHub

REPO = find_repo(Path(__file__).parent)
LOGS = REPO / "artifacts" / "hub-rush"


SERVER_IMPORTS = ("import time; t = time.process_time(); import jupyterhub.singleuser, "
                  "jupyter_server.serverapp; print(time.process_time() - t)")


def server_import_seconds(runs: int = 3) -> float:
    """CPU seconds a single-user server spends importing its modules (median of ``runs``)."""
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", SERVER_IMPORTS], capture_output=True, text=True,
                             check=True).stdout) for _ in range(runs))


def used_memory() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = lambda key: int(info[key].split()[0]) * 1024  # noqa: E731
    return kib("MemTotal") - kib("MemAvailable")


class MemoryWatch(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.baseline = used_memory()
        self.peak = self.baseline
        self.running = True

    def run(self):
        while self.running:
            self.peak = max(self.peak, used_memory())
            time.sleep(0.25)


async def server_ready(http: aiohttp.ClientSession, progress_url: str, auth: dict) -> None:
    """Follow the spawn's progress events until the server is ready, as the browser's spawn page does.

    (Asking for the user's model every second instead added a request per student
    and second to the hub's load, which no browser makes.)
    """
    async with http.get(progress_url, headers=auth) as events:
        assert events.status == 200, f"progress: {events.status}"
        async for line in events.content:
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return
            if event.get("failed"):
                raise AssertionError(f"server stopped while starting: {event.get('message')}")
    raise AssertionError("server stopped while starting (the progress stream ended)")


async def one_student(hub: CourseHub, name: str, start: float, timeout: float) -> dict:
    steps: dict[str, float] = {}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        await (await http.get(f"{hub.url}/hub/login")).read()
        xsrf = {c.key: c.value for c in jar}.get("_xsrf", "")
        response = await http.post(f"{hub.url}/hub/login?next=/hub/home",
                                   data={"username": name, "password": PASSWORD_STUDENT, "_xsrf": xsrf})
        assert response.status == 200, f"login: {response.status}"
        steps["logged in"] = time.monotonic() - start
        xsrf = {c.key: c.value for c in jar}.get("_xsrf", xsrf)
        response = await http.post(f"{hub.url}/hub/api/users/{name}/tokens",
                                   json={"note": "rush", "expires_in": 3600},
                                   headers={"X-XSRFToken": xsrf})
        assert response.status in (200, 201), f"token: {response.status}"
        auth = {"Authorization": f"token {(await response.json())['token']}"}
        response = await http.post(f"{hub.url}/hub/api/users/{name}/server", headers=auth)
        assert response.status in (201, 202), f"spawn: {response.status} {await response.text()}"
        await server_ready(http, f"{hub.url}/hub/api/users/{name}/server/progress", auth)
        steps["server ready"] = time.monotonic() - start
        base = f"{hub.url}/user/{name}"
        response = await http.post(f"{base}/api/kernels", json={"name": "python3"}, headers=auth)
        assert response.status == 201, f"kernel: {response.status}"
        kernel = (await response.json())["id"]
        ws_url = f"ws://127.0.0.1:{hub.port}/user/{name}/api/kernels/{kernel}/channels"
        # a kernel that died (e.g. its ports taken: "Address already in use") never answers
        async with http.ws_connect(ws_url, headers=auth, receive_timeout=120) as ws:
            msg_id = uuid.uuid4().hex
            await ws.send_str(json.dumps({
                "header": {"msg_id": msg_id, "username": name, "session": uuid.uuid4().hex,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": "import numpy as np; print(int(np.arange(10).sum()))",
                            "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            output, reply, idle = "", None, False
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"websocket: {message.type.name} {message.data!r}")
                data = json.loads(message.data)
                if data.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if data["msg_type"] == "stream":
                    output += data["content"]["text"]
                elif data["msg_type"] == "execute_reply":
                    reply = data["content"]["status"]
                elif data["msg_type"] == "status" and data["content"]["execution_state"] == "idle":
                    idle = True
                if idle and reply:
                    break
        assert reply == "ok", f"the kernel replied {reply!r}"
        # The reply says the code ran; its printed output travels on another channel.
        steps["output seen"] = output.strip() == "45"
        steps["code ran"] = time.monotonic() - start
    return steps


async def rush(hub: CourseHub, timeout: float) -> list:
    start = time.monotonic()
    tasks = [asyncio.create_task(one_student(hub, name, start, timeout)) for name in hub.students]
    return await asyncio.gather(*tasks, return_exceptions=True)


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines_of(log: str, name: str) -> list[str]:
    """The hub's warnings and errors, and the proxy's errors, that name one student."""
    pattern = re.compile(rf"{re.escape(name)}(?![0-9])")
    return [line for line in log.splitlines() if pattern.search(line)
            and (line.startswith(("[W", "[E", "[C")) or "[ConfigProxy]" in line and "error" in line)]


def measure(label: str, settings: dict[str, str], students: int, timeout: float) -> dict:
    """Start a hub with ``settings``, run the rush, stop the hub; return the figures."""
    hub = CourseHub(REPO, prefix="rush", students=students, PRIMER_IDLE_TIMEOUT="0", **settings)
    print(f"[{label}] starting the hub with {students} student accounts ...", flush=True)
    try:
        hub.start()
        cpu_before = cpu_seconds(hub.process.pid), cpu_seconds(hub.proxy_pid())
        watch = MemoryWatch()
        watch.start()
        began = time.monotonic()
        results = asyncio.run(rush(hub, timeout))
        wall = time.monotonic() - began
        watch.running = False
        watch.join()
        hub_cpu = cpu_seconds(hub.process.pid) - cpu_before[0]
        proxy_cpu = cpu_seconds(hub.proxy_pid()) - cpu_before[1]
    finally:
        print(f"[{label}] stopping the hub and removing the accounts ...", flush=True)
        leftovers = hub.stop(timeout=120)
        log = hub.log()
        hub.cleanup()
        if leftovers:
            print(f"[{label}] left running after Ctrl-C (killed): {leftovers}")
    failed = [(name, r) for name, r in zip(hub.students, results) if not isinstance(r, dict)]
    if failed:
        LOGS.mkdir(parents=True, exist_ok=True)
        kept = LOGS / f"{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.log"
        kept.write_text(log)
        print(f"[{label}] {len(failed)} failed: the hub's log is kept in {kept}")
    done = [r for r in results if isinstance(r, dict)]
    return {
        "ready": sorted(r["code ran"] for r in done),
        "servers": sorted(r["server ready"] for r in done),
        "failed": [(name, r, log_lines_of(log, name)) for name, r in failed],
        "lost output": sum(1 for r in done if not r["output seen"]),
        "peak": watch.peak, "baseline": watch.baseline, "wall": wall,
        "hub cpu": hub_cpu, "proxy cpu": proxy_cpu,
    }


def figure_rows(figures: dict, students: int) -> dict[str, str]:
    """The printed figures of one run, by name (the table's rows)."""
    ready, servers, failed = figures["ready"], figures["servers"], figures["failed"]
    per_student = (figures["peak"] - figures["baseline"]) / students / 2**20
    target = max(60.0, 1.2 * students)
    none = "-"
    return {
        "all ready (logged in, server up, code ran)": f"{ready[-1]:.1f} s" if ready else none,
        "server ready: median / last": (f"{statistics.median(servers):.1f} / {servers[-1]:.1f} s"
                                        if servers else none),
        "code ran: median / last": f"{statistics.median(ready):.1f} / {ready[-1]:.1f} s" if ready else none,
        "failures": str(len(failed)),
        "output not seen (code ran)": str(figures["lost output"]),
        "peak memory used": f"{figures['peak'] / 2**30:.2f} GiB",
        "  over the baseline": f"+{(figures['peak'] - figures['baseline']) / 2**30:.2f} GiB",
        "  per student": f"{per_student:.0f} MiB",
        f"target: all {students} within {target:.0f} s, 0 failures": (
            "met" if not failed and ready and ready[-1] <= target else "NOT met"),
        "wall time of the rush": f"{figures['wall']:.1f} s",
        "CPU used by the hub / the proxy": f"{figures['hub cpu']:.0f} / {figures['proxy cpu']:.0f} s",
    }


def print_table(by_spawner: dict[str, dict], students: int) -> None:
    """One column per run (spawner, start limit), one row per figure; then each failure and its log lines."""
    rows = {spawner: figure_rows(figures, students) for spawner, figures in by_spawner.items()}
    names = list(next(iter(rows.values())))
    width = max(map(len, names))
    columns = [max(len(spawner), *(len(r) for r in rows[spawner].values())) for spawner in rows]
    print(f"\nmorning rush: {students} students at once on {os.cpu_count()} cores")
    print("  " + " " * width + "".join(f"  {s:>{w}}" for s, w in zip(rows, columns)))
    for name in names:
        print(f"  {name:<{width}}" + "".join(f"  {rows[s][name]:>{w}}" for s, w in zip(rows, columns)))
    for spawner, figures in by_spawner.items():
        for name, error, lines in figures["failed"]:
            print(f"    [{spawner}] {name}: {type(error).__name__}: {error}")
            for line in lines[-4:]:
                print(f"        {line[:300]}")


@contextlib.contextmanager
def slurm_cluster(needed: bool):
    """The cluster of SLURM_CONF if one answers; else a local one-node cluster for the run."""
    if not needed:
        yield None
    elif os.environ.get("SLURM_CONF") and subprocess.run(["squeue", "-h"], capture_output=True).returncode == 0:
        print(f"slurm: the running cluster of SLURM_CONF={os.environ['SLURM_CONF']}", flush=True)
        yield dict(os.environ)
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from slurm_cluster import local_slurm

        print("slurm: starting a local one-node cluster (scripts/slurm-cluster), partition hub", flush=True)
        with local_slurm() as env:
            yield {**env, "PRIMER_SLURM_PARTITION": "hub"}


def runs(spawners: list[str], limits: list[str], slurm_env: dict[str, str] | None):
    """(column label, hub settings) of each run."""
    for spawner in spawners:
        settings = {"PRIMER_SPAWNER": spawner}
        if spawner == "slurm":
            yield spawner, settings | {"SLURM_CONF": slurm_env["SLURM_CONF"],
                                       "PRIMER_SLURM_PARTITION": slurm_env.get("PRIMER_SLURM_PARTITION", "")}
        elif not limits:
            yield spawner, settings
        for limit in limits if spawner == "local" else ():
            label = "local, all at once" if limit == "0" else f"local, {limit} at once"
            yield label, settings | {"PRIMER_START_LIMIT": limit}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=int(os.environ.get("RUSH_STUDENTS", 30)))
    parser.add_argument("--timeout", type=float, default=300)
    default_spawners = "local,slurm" if os.environ.get("PRIMER_SPAWNER") == "slurm" else "local"
    parser.add_argument("--spawners", default=default_spawners,
                        help="comma-separated: local, slurm, or both for a side-by-side table "
                             f"(default: {default_spawners}; local,slurm when PRIMER_SPAWNER=slurm)")
    parser.add_argument("--start-limits", default="",
                        help="comma-separated PRIMER_START_LIMIT values for the local spawner, one run "
                             "each, side by side (e.g. 0,4; 0: every server starts at once, as before; "
                             "default: the hub's own, 2 per core)")
    args = parser.parse_args()
    spawners = [s.strip() for s in args.spawners.split(",") if s.strip()]
    unknown = set(spawners) - {"local", "slurm"}
    if unknown or not spawners:
        parser.error(f"--spawners: {', '.join(sorted(unknown)) or 'none given'}; use local, slurm or local,slurm")
    limits = [s.strip() for s in args.start_limits.split(",") if s.strip()]
    if not all(limit.isdigit() for limit in limits):
        parser.error(f"--start-limits {args.start_limits!r}: give whole numbers, e.g. 0,4")
    if os.geteuid() != 0:
        print("error: the rush creates real Unix users: run it as root (sudo make bench-hub)", file=sys.stderr)
        return 1
    imports = server_import_seconds()
    optional = "installed" if importlib.util.find_spec("rfc3987_syntax") else "not installed"
    with slurm_cluster("slurm" in spawners) as slurm_env:
        by_spawner = {label: measure(label, settings, args.students, args.timeout)
                      for label, settings in runs(spawners, limits, slurm_env)}
    print_table(by_spawner, args.students)
    print(f"  server start-up imports: {imports:.2f} s of CPU each (rfc3987_syntax {optional}; "
          "scripts/bootstrap removes it)")
    return 0 if not any(figures["failed"] for figures in by_spawner.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
