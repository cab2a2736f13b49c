"""The course hub for a test or a benchmark, started as `make hub` does, with throw-away Unix accounts.

The hub runs through `primer hub` (the same code path as `make hub`) on a free
port of 127.0.0.1, with its runtime folder in a fresh temporary directory. On
stop it gets SIGINT, as from Ctrl-C, and ``stop`` reports whatever of it is
still running. Its passwords are made fresh for each run: the hub refuses any
that is written in the repository.
"""
from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

import requests

from primer.accounts import (command_line, descendants, is_running, processes_of, remove_group,
                             remove_user)
from primer.course import COURSE_ID
from primer.hub.course_setup import STAFF_GROUP
from primer.hub.server_ports import is_free

PASSWORD_STUDENT = f"student-{secrets.token_urlsafe(12)}"
PASSWORD_INSTRUCTOR = f"staff-{secrets.token_urlsafe(30)}"


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.2):
    """Poll ``condition`` until it returns something true; return that, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)


def free_port_block(count: int = 4) -> int:
    """A port p such that p .. p+count-1 are free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65535 and all(is_free(base + offset) for offset in range(1, count)):
            return base
    raise RuntimeError(f"no block of {count} free ports on 127.0.0.1")


class CourseHub:
    def __init__(self, repo: Path, prefix: str, students: int | dict[str, int] = 1, graders: int = 0,
                 release: str = "01_prerequisites", **settings: str):
        """``students``: how many, or how many for each named group (``students_of``).

        ``settings``: more PRIMER_* variables, e.g. PRIMER_IDLE_TIMEOUT="0".
        """
        self.repo = repo
        self.instructor = f"{prefix}-instructor"
        groups = students if isinstance(students, dict) else {"student": students}
        self.student_groups = {group: [f"{prefix}-{group}-{i}" for i in range(1, count + 1)]
                               for group, count in groups.items()}
        self.students = [name for names in self.student_groups.values() for name in names]
        self.graders = [f"{prefix}-grader-{i}" for i in range(1, graders + 1)]
        self.extra_accounts: list[str] = []  # made by a test (roster); removed at cleanup
        for name in self.accounts:
            remove_user(name)  # left over from an interrupted run
        try:
            grp.getgrnam(STAFF_GROUP)
            self.made_staff_group = False
        except KeyError:
            self.made_staff_group = True
        self.runtime = Path(tempfile.mkdtemp(prefix="primer-hub-"))
        self.runtime.chmod(0o755)
        self.port = free_port_block(6)  # the hub, its API, the proxy API, the formgrader, the queue, the overview
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PRIMER_RUNTIME": str(self.runtime),
            "PRIMER_HUB_PORT": str(self.port),
            "PRIMER_INSTRUCTORS": self.instructor,
            "PRIMER_GRADERS": ",".join(self.graders),
            "PRIMER_STUDENTS": ",".join(self.students),
            "PRIMER_STUDENT_PASSWORD": PASSWORD_STUDENT,
            "PRIMER_INSTRUCTOR_PASSWORD": PASSWORD_INSTRUCTOR,
            # Only what the tests use: generating and releasing all eight costs a minute.
            "PRIMER_RELEASE": release,
            **settings,
        }
        self.log_path = self.runtime / "hub.log"
        self.process: subprocess.Popen | None = None
        self.known_pids: set[int] = set()

    def students_of(self, group: str) -> list[str]:
        return self.student_groups[group]

    @property
    def accounts(self) -> list[str]:
        return [self.instructor, *self.graders, *self.students, *self.extra_accounts]

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
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([str(primer), "hub"], cwd=self.repo, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                return requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        try:
            wait_for(answers, timeout, "the hub answering", every=0.5)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log()[-5000:]}") from None
        self.known_pids |= set(descendants(self.process.pid))

    @contextlib.contextmanager
    def running(self):
        """Start the hub; afterwards Ctrl-C it, remove what it made, and fail if any of it kept running."""
        leftovers, log = [], ""
        try:
            self.start()
            yield self
        finally:
            try:
                leftovers = self.stop()
                log = self.log()[-6000:]
            finally:
                self.cleanup()
        assert leftovers == [], f"left running after Ctrl-C: {leftovers}\nhub log:\n{log}"

    def crash(self) -> None:
        """The hub dies at once (SIGKILL), as in a crash; users' servers stay (own sessions)."""
        self.known_pids |= set(descendants(self.process.pid))
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def proxy_pid(self) -> int | None:
        pid_file = self.runtime / "hub" / "jupyterhub-proxy.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def stop(self, timeout: float = 60, settle: float = 15) -> list[str]:
        """Ctrl-C the hub; return what is still running afterwards (should be nothing).

        ``settle``: how long to wait for servers and kernels to exit after the hub.
        """
        leftovers = []
        proxy = self.proxy_pid()
        if self.process and self.process.poll() is None:
            self.known_pids |= set(descendants(self.process.pid))
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                leftovers.append(f"hub (pid {self.process.pid}) ignored Ctrl-C for {timeout} s")
        # Kernels and servers may take a few seconds to exit after the hub has.
        try:
            wait_for(lambda: not self._running(proxy), settle, "everything stopped", every=0.5)
        except AssertionError:
            pass
        return leftovers + self._running(proxy)

    def _running(self, proxy: int | None) -> list[str]:
        running = [f"proxy (pid {proxy})"] if proxy and is_running(proxy) else []
        for name in self.accounts:
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            running += [f"{name}: {command_line(pid)} (pid {pid})" for pid in processes_of(uid)]
        running += [f"hub child: {command_line(pid)} (pid {pid})" for pid in sorted(self.known_pids)
                    if is_running(pid) and pid != proxy]
        return running

    def cleanup(self) -> None:
        """Kill by PID whatever stop() left, remove the accounts and the runtime folder."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        proxy = self.proxy_pid()
        for pid in {proxy, *self.known_pids} - {None, os.getpid()}:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
        for name in self.accounts:
            remove_user(name)
            for controller in ("memory", "cpu", "unified", ""):
                folder = Path("/sys/fs/cgroup", controller, "primer-hub", name)
                if folder.is_dir():
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
        for controller in ("memory", "cpu", "unified", ""):
            try:  # only when no other hub's user is in it
                Path("/sys/fs/cgroup", controller, "primer-hub").rmdir()
            except OSError:
                pass
        if self.made_staff_group:
            remove_group(STAFF_GROUP)
        shutil.rmtree(self.runtime, ignore_errors=True)


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
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.hub.url}{path}", headers=headers,
                                timeout=kwargs.pop("timeout", 120), **kwargs)

    def log_in_and_start_server(self, password: str) -> "HubUser":
        """Log in with ``password``, take an API token and start the server: ready to work."""
        response = self.login(password)
        assert response.status_code == 200, response.text[:500]
        self.create_token()
        self.start_server()
        return self

    def start_server(self, timeout: float = 120) -> None:
        response = self.api("POST", f"/hub/api/users/{self.name}/server")
        # 201: started, 202: starting, 400: already running
        assert response.status_code in (201, 202, 400), response.text

        def ready() -> bool:
            model = self.api("GET", f"/hub/api/users/{self.name}").json()
            return bool(model.get("servers", {}).get("", {}).get("ready"))

        try:
            wait_for(ready, timeout, f"{self.name}'s server ready", every=0.5)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.hub.log()[-5000:]}") from None

    def server(self, method: str, path: str, **kwargs) -> requests.Response:
        """A request to the user's own Jupyter server."""
        return self.api(method, f"/user/{self.name}/{path.lstrip('/')}", **kwargs)

    def assignment_action(self, action: str, assignment: str) -> list | dict:
        response = self.server("POST", f"assignments/{action}",
                               data={"course_id": COURSE_ID, "assignment_id": assignment})
        assert response.status_code == 200, response.text
        return response.json()


def feedback_score(html: str) -> tuple[float, float]:
    """The total score nbgrader writes at the top of a feedback page."""
    match = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", html)
    assert match, "no score in the feedback page"
    return float(match.group(1)), float(match.group(2))


def execute(user: HubUser, kernel_id: str, code: str, timeout: float = 120) -> str:
    """Run ``code`` in a kernel of ``user``'s server over the websocket; return its stdout."""
    import websocket  # websocket-client

    url = (f"ws://127.0.0.1:{user.hub.port}/user/{user.name}/api/kernels/{kernel_id}/channels")
    ws = websocket.create_connection(url, header=[f"Authorization: token {user.token}"],
                                     timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": user.name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        output, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)
        raise AssertionError(f"no answer from the kernel within {timeout} s")
    finally:
        ws.close()


def start_kernel(user: HubUser) -> str:
    response = user.server("POST", "api/kernels", json={"name": "python3"})
    assert response.status_code == 201, response.text
    return response.json()["id"]
