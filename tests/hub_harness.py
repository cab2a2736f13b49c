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

import grp

import pytest

from conftest import REPO
from primer.hub.course_setup import STAFF_GROUP
from primer.hub.unix import processes_of, remove_group, remove_user

PASSWORD_STUDENT = "test-student-password"
PASSWORD_INSTRUCTOR = "test-instructor-password-0123456789abcdef"


def free_port_block(count: int = 4) -> int:
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
    def __init__(self, prefix: str, students: int = 1, graders: int = 0,
                 release: str = "01_prerequisites", **settings: str):
        """``settings``: more PRIMER_* variables, e.g. PRIMER_IDLE_TIMEOUT="0"."""
        self.instructor = f"{prefix}-instructor"
        self.students = [f"{prefix}-student-{i}" for i in range(1, students + 1)]
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
        self.port = free_port_block()
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
            self.process = subprocess.Popen([str(primer), "hub"], cwd=REPO, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    self.known_pids |= set(descendants(self.process.pid))
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer within {timeout} s:\n{self.log()[-5000:]}")

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
        deadline = time.monotonic() + settle
        while True:
            time.sleep(0.5)
            running = self._running(proxy)
            if not running or time.monotonic() > deadline:
                return leftovers + running

    def _running(self, proxy: int | None) -> list[str]:
        running = [f"proxy (pid {proxy})"] if proxy and _alive(proxy) else []
        for name in self.accounts:
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            running += [f"{name}: {_cmdline(pid)} (pid {pid})" for pid in processes_of(uid)
                        if _alive(pid)]
        running += [f"hub child: {_cmdline(pid)} (pid {pid})" for pid in sorted(self.known_pids)
                    if _alive(pid) and pid != proxy]
        return running

    def cleanup(self) -> None:
        """Kill by PID whatever stop() left, remove the accounts and the runtime folder."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        proxy = self.proxy_pid()
        if proxy and _alive(proxy):
            os.kill(proxy, signal.SIGKILL)
        for pid in self.known_pids:
            if _alive(pid) and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
        for name in self.accounts:
            remove_user(name)
            for controller in ("memory", "cpu", ""):
                folder = Path("/sys/fs/cgroup", controller, "primer-hub", name)
                if folder.is_dir():
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
        for controller in ("memory", "cpu", ""):
            try:  # only when no other hub's user is in it
                Path("/sys/fs/cgroup", controller, "primer-hub").rmdir()
            except OSError:
                pass
        if self.made_staff_group:
            remove_group(STAFF_GROUP)
        shutil.rmtree(self.runtime, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(root: int) -> list[int]:
    """PIDs of every process below ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


_SHARED: dict[str, CourseHub] = {}


def shared_hub(request) -> CourseHub:
    """One hub for every hub test module of the session (starting one costs ~20 s).

    Its accounts: pt-instructor, pt-grader-1 and pt-student-1 .. -5; each test
    module uses its own students. At the end of the session it is stopped with
    Ctrl-C and nothing of it may be left running.
    """
    if os.geteuid() != 0:
        pytest.fail("the hub tests create real Unix users and need root: run `sudo make test`")
    if "hub" not in _SHARED:
        hub = CourseHub(prefix="pt", students=5, graders=1)
        _SHARED["hub"] = hub

        def finish():
            _SHARED.pop("hub", None)
            try:
                leftovers = hub.stop()
                log = hub.log()[-6000:]
            finally:
                hub.cleanup()
            assert leftovers == [], f"left running after Ctrl-C: {leftovers}\nhub log:\n{log}"

        request.session.addfinalizer(finish)
        try:
            hub.start()
        except BaseException:
            hub.cleanup()
            raise
    return _SHARED["hub"]


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

    def log_in_and_start_server(self, password: str) -> "HubUser":
        """Log in with ``password``, take an API token and start the server: ready to work."""
        response = self.login(password)
        assert response.status_code == 200, response.text[:500]
        self.create_token()
        self.start_server()
        return self

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


def execute(user: HubUser, kernel_id: str, code: str, timeout: float = 120) -> str:
    """Run ``code`` in a kernel of ``user``'s server over the websocket; return its stdout."""
    import json
    import uuid

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
