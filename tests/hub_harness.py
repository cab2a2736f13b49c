"""Start the course hub for a test, as `make hub` does, with throw-away Unix accounts.

The hub runs through `primer hub` (the same code path as `make hub`) on a free
port of 127.0.0.1, with its runtime folder in a fresh temporary directory. On
stop it gets SIGINT, as from Ctrl-C, and the harness checks that nothing of it
is left running.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from conftest import REPO
from primer.hub.unix import processes_of, remove_user

PASSWORD_STUDENT = "test-student-password"
PASSWORD_INSTRUCTOR = "test-instructor-password-0123456789abcdef"


def free_port_block(count: int = 3) -> int:
    """A port p such that p .. p+count-1 are free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count >= 65535:
            continue
        try:
            for offset in range(count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports on 127.0.0.1")


class CourseHub:
    def __init__(self, prefix: str, students: int = 1):
        self.instructor = f"{prefix}-instructor"
        self.students = [f"{prefix}-student-{i}" for i in range(1, students + 1)]
        for name in self.accounts:
            remove_user(name)  # left over from an interrupted run
        self.runtime = Path(tempfile.mkdtemp(prefix="primer-hub-"))
        self.runtime.chmod(0o755)
        self.port = free_port_block()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PRIMER_RUNTIME": str(self.runtime),
            "PRIMER_HUB_PORT": str(self.port),
            "PRIMER_INSTRUCTORS": self.instructor,
            "PRIMER_STUDENTS": ",".join(self.students),
            "PRIMER_STUDENT_PASSWORD": PASSWORD_STUDENT,
            "PRIMER_INSTRUCTOR_PASSWORD": PASSWORD_INSTRUCTOR,
        }
        self.log_path = self.runtime / "hub.log"
        self.process: subprocess.Popen | None = None

    @property
    def accounts(self) -> list[str]:
        return [self.instructor, *self.students]

    @property
    def exchange(self) -> Path:
        return self.runtime / "exchange"

    @property
    def course(self) -> Path:
        return Path(pwd.getpwnam(self.instructor).pw_dir) / "primer-course"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 240) -> None:
        primer = Path(sys.executable).parent / "primer"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([str(primer), "hub"], cwd=REPO, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer within {timeout} s:\n{self.log()[-5000:]}")

    def proxy_pid(self) -> int | None:
        pid_file = self.runtime / "hub" / "jupyterhub-proxy.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def stop(self, timeout: float = 60) -> list[str]:
        """Ctrl-C the hub; return what is still running afterwards (should be nothing)."""
        leftovers = []
        proxy = self.proxy_pid()
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                leftovers.append(f"hub (pid {self.process.pid}) ignored Ctrl-C for {timeout} s")
        time.sleep(1)
        if proxy and _alive(proxy):
            leftovers.append(f"proxy (pid {proxy})")
        for name in self.accounts:
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            leftovers += [f"{name}: {_cmdline(pid)} (pid {pid})" for pid in processes_of(uid)]
        return leftovers

    def cleanup(self) -> None:
        """Kill by PID whatever stop() left, remove the accounts and the runtime folder."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        proxy = self.proxy_pid()
        if proxy and _alive(proxy):
            os.kill(proxy, signal.SIGKILL)
        for name in self.accounts:
            remove_user(name)
        shutil.rmtree(self.runtime, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


class HubUser:
    """A person using the hub through HTTP: logs in with a password like a browser."""

    def __init__(self, hub: CourseHub, name: str):
        self.hub, self.name = hub, name
        self.session = requests.Session()
        self.token: str | None = None

    def login(self, password: str) -> requests.Response:
        self.session.get(f"{self.hub.url}/hub/login", timeout=30)
        return self.session.post(
            f"{self.hub.url}/hub/login?next=/hub/home",
            data={"username": self.name, "password": password,
                  "_xsrf": self.session.cookies.get("_xsrf", "")},
            timeout=60)

    def create_token(self) -> None:
        """An API token of the user's own, asked for with the login cookie (as the hub's token page does)."""
        response = self.session.post(
            f"{self.hub.url}/hub/api/users/{self.name}/tokens",
            json={"note": "test", "expires_in": 3600},
            headers={"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/")}, timeout=30)
        assert response.status_code in (200, 201), response.text
        self.token = response.json()["token"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.hub.url}{path}", headers=headers,
                                timeout=kwargs.pop("timeout", 120), **kwargs)

    def start_server(self, timeout: float = 120) -> None:
        response = self.api("POST", f"/hub/api/users/{self.name}/server")
        assert response.status_code in (201, 202, 400), response.text  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{self.name}").json()
            if model.get("servers", {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}'s server was not ready in {timeout} s:\n{self.hub.log()[-5000:]}")

    def server(self, method: str, path: str, **kwargs) -> requests.Response:
        """A request to the user's own Jupyter server."""
        return self.api(method, f"/user/{self.name}/{path.lstrip('/')}", **kwargs)

    def assignment_action(self, action: str, assignment: str) -> list | dict:
        response = self.server("POST", f"assignments/{action}",
                               data={"course_id": "primer", "assignment_id": assignment})
        assert response.status_code == 200, response.text
        return response.json()


def feedback_score(html: str) -> tuple[float, float]:
    """The total score nbgrader writes at the top of a feedback page."""
    match = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", html)
    assert match, "no score in the feedback page"
    return float(match.group(1)), float(match.group(2))
