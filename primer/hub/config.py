"""The hub's settings, applied by jupyterhub_config.py.

Defaults give the local demo: 127.0.0.1:8000, real Unix accounts started with
LocalProcessSpawner, a shared student password and an instructor password.
"""
from __future__ import annotations

import sys
from pathlib import Path

from primer.course import COURSE_ID
from primer.hub.runtime import HubRuntime


def configure(c, repo: Path, runtime: HubRuntime | None = None) -> HubRuntime:
    runtime = runtime or HubRuntime.from_environment()
    venv_bin = Path(sys.prefix) / "bin"
    passwords = runtime.passwords()

    c.JupyterHub.ip = runtime.ip
    c.JupyterHub.port = runtime.port
    # The hub's own API and the proxy's API sit on loopback beside the public port.
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = runtime.port + 1
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{runtime.port + 2}"
    c.ConfigurableHTTPProxy.command = [
        str(repo / "deploy" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
    c.ConfigurableHTTPProxy.pid_file = str(runtime.state / "jupyterhub-proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{runtime.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(runtime.state / "jupyterhub_cookie_secret")

    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = passwords["student"]
    # Instructors are admins: only the admin password logs them in, so the
    # students' shared password cannot be used to impersonate them.
    c.SharedPasswordAuthenticator.admin_password = passwords["instructor"]
    c.Authenticator.admin_users = set(runtime.instructors)
    c.Authenticator.allowed_users = set(runtime.students)

    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.environment = {"PRIMER_EXCHANGE_ROOT": str(runtime.exchange)}
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120

    c.JupyterHub.load_groups = {
        f"formgrade-{COURSE_ID}": {"users": list(runtime.instructors)},
        f"nbgrader-{COURSE_ID}": {"users": list(runtime.students)},
    }
    return runtime
