"""The hub's settings, applied by jupyterhub_config.py.

Defaults give the local demo: 127.0.0.1:8000, real Unix accounts started with
a LocalProcessSpawner, a shared student password and a staff password, the
formgrader as a hub-managed service, an idle culler, memory and CPU limits.
Every setting comes from the environment (primer/hub/runtime.py lists them).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from primer.course import COURSE_ID
from primer.hub.auth import configure_authentication
from primer.hub.course_setup import STAFF_GROUP, STUDENT_GROUP, course_directory, server_config_path
from primer.hub.runtime import HubRuntime
from primer.hub.services import owner_service, stop_stale_services
from primer.hub.student_overview import SERVICE_NAME as OVERVIEW_SERVICE
from primer.hub.student_overview import service_definition as overview_service_definition
from primer.queue.settings import SERVICE_NAME as QUEUE_SERVICE
from primer.queue.settings import service_definition as queue_service_definition

FORMGRADER_SERVICE = COURSE_ID  # the formgrader is at /services/<course>/formgrader


def proxy_command(repo: Path) -> list[str]:
    """configurable-http-proxy, with a fix for websockets that fail after opening (the file says which)."""
    return [str(repo / "deploy" / "proxy" / "course-proxy.mjs")]


def configure(c, repo: Path, runtime: HubRuntime | None = None) -> HubRuntime:
    runtime = runtime or HubRuntime.from_environment()
    venv_bin = Path(sys.prefix) / "bin"

    c.JupyterHub.ip = runtime.ip
    c.JupyterHub.port = runtime.port
    # The hub's own API, the proxy's API and the formgrader sit on loopback beside the public port.
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = runtime.port + 1
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{runtime.port + 2}"
    c.ConfigurableHTTPProxy.command = proxy_command(repo)
    c.ConfigurableHTTPProxy.pid_file = str(runtime.state / "jupyterhub-proxy.pid")
    c.JupyterHub.db_url = runtime.hub_db_url or f"sqlite:///{runtime.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(runtime.state / "jupyterhub_cookie_secret")
    # PRIMER_KEEP_SERVERS=1: restarting the hub (e.g. to change a setting) leaves
    # everyone's server running; they reconnect when it is back.
    c.JupyterHub.cleanup_servers = not runtime.keep_servers
    c.JupyterHub.cleanup_proxy = not runtime.keep_servers

    configure_authentication(c, runtime, repo)

    c.JupyterHub.spawner_class = "primer.hub.spawner.CourseSpawner"
    # What every course server gets, whichever spawner starts it (primer/hub/spawner.py).
    c.CourseServer.staff_group = STAFF_GROUP
    c.CourseServer.config_paths = {role: server_config_path(runtime, role)
                                   for role in ("student", "staff")}
    c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.environment = {
        "PRIMER_EXCHANGE_ROOT": str(runtime.exchange),
        "NILEARN_SHARED_DATA": str(runtime.shared_data),
    }
    c.Spawner.mem_limit = runtime.mem_limit or None
    c.Spawner.cpu_limit = runtime.cpu_limit or None
    c.Spawner.start_timeout = 120
    # A morning rush: servers start a few at a time, not all at once (primer/hub/start_queue.py).
    # Waiting in line counts towards start_timeout; the start-up itself still has http_timeout.
    c.CourseSpawner.start_limit = runtime.start_limit
    if runtime.start_limit:
        c.CourseSpawner.start_timeout = 600
        # JupyterHub's own throttle (429 "Too many users trying to log in") counts everyone in
        # the line as "spawning": with its default of 100, the 101st student of a rush would be
        # turned away instead of waiting. The line is the bound now (start_limit start at once;
        # each person waits in it at most start_timeout, and holds one place: no named servers).
        # Slurm's servers do not use this line: there JupyterHub's throttle stays.
        if runtime.spawner == "local":
            c.JupyterHub.concurrent_spawn_limit = 0
    c.Spawner.http_timeout = 120
    if runtime.spawner == "slurm":
        from primer.hub.slurm_spawner import configure_slurm_spawner
        configure_slurm_spawner(c, runtime, venv_bin)

    c.JupyterHub.load_groups = {
        STAFF_GROUP: {"users": list(runtime.staff)},
        STUDENT_GROUP: {"users": list(runtime.students)},
    }
    services, roles = [], [{
        # Instructors and graders open the formgrader service; students cannot.
        "name": f"formgrader-{COURSE_ID}",
        "groups": [STAFF_GROUP],
        "scopes": [f"access:services!service={FORMGRADER_SERVICE}", "list:services",
                   "read:services", f"access:services!service={QUEUE_SERVICE}"],
    }, {
        # Everyone opens their own overview (the service shows only the signed-in user's rows).
        "name": "student-overview",
        "groups": [STUDENT_GROUP, STAFF_GROUP],
        "scopes": [f"access:services!service={OVERVIEW_SERVICE}"],
    }]
    owner = runtime.instructors[0]
    try:
        course = course_directory(owner)
    except KeyError:  # the account is made by `primer hub` before the hub starts
        course = None
    if course is not None:
        services.append(owner_service(
            runtime, course, owner, name=FORMGRADER_SERVICE, port=runtime.formgrader_port,
            command=[str(venv_bin / "jupyterhub-singleuser"), "--ServerApp.default_url=/formgrader"]))
        # Grading on submit (off until an assignment is enabled: docs/workshop.md)
        services.append(queue_service_definition(runtime, course, owner))
        services.append(overview_service_definition(runtime, course, owner))

    if runtime.idle_timeout:
        services.append({
            "name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                        f"--timeout={runtime.idle_timeout}",
                        f"--cull-every={max(10, min(300, runtime.idle_timeout // 4))}"],
        })
        roles.append({
            "name": "idle-culler",
            "services": ["idle-culler"],
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        })
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
    if os.geteuid() == 0:
        # A crashed hub's services still hold their ports: stop them before ours start.
        stop_stale_services([s["name"] for s in services], f"http://127.0.0.1:{runtime.port + 1}/")
    return runtime
