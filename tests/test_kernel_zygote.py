"""Kernels forked from a kernel zygote (primer/grading/kernel_zygote.py), with real sandbox accounts (as root).

A forked kernel must sit in exactly the sandbox a cold kernel gets, and no student's kernel may
reach the zygote the next student's kernel is forked from. The queue grading in warm sandboxes with
forked kernels: tests/test_grading_warm_sandbox.py and tests/test_grading_queue.py.
"""
from __future__ import annotations

import grp
import json
import os
import time
from pathlib import Path

import psutil
import pytest
from jupyter_core.utils import run_sync

from primer.grading.kernel_zygote import KernelZygote
from primer.grading.sandbox import SandboxedKernelManager, sandbox_account
from primer.grading.standby import StandbyKernelSpecManager, warm_kernel

pytestmark = pytest.mark.root  # kernels run as a sandbox account of their own
SLOT = 93  # primer-sandbox93: this test's own

# What a kernel reports of its own sandbox (nothing that differs between two kernels of one kind).
PROBE = r"""
import json, os, resource, socket
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
def attempt(action):
    try:
        action()
        return "allowed"
    except Exception as error:
        return type(error).__name__
report = {
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "capabilities": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "no_new_privs": status["NoNewPrivs"].strip(),
    "root": sorted(os.listdir("/")), "cwd": os.getcwd(), "cwd_writable": os.access(".", os.W_OK),
    "limits": {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))
               for name in ("AS", "NPROC", "FSIZE", "NOFILE", "CORE", "CPU")},
    "environment": sorted(k for k in os.environ if k not in ("JPY_PARENT_PID",)),
    "network": attempt(lambda: socket.create_connection(("127.0.0.1", 22), timeout=2)),
    "secret": attempt(lambda: open(SECRET).read()),
    "root_writable": attempt(lambda: open("/usr/primer-probe", "w")),
}
print(json.dumps(report))
"""


def start_kernel(zygote: KernelZygote | None):
    km = SandboxedKernelManager(kernel_name="python3")
    km.kernel_spec_manager = StandbyKernelSpecManager(parent=km, zygote_fd=zygote.requests.fileno() if zygote else -1)
    run_sync(km.start_kernel)()
    client = km.client()
    client.start_channels()
    run_sync(client.wait_for_ready)(timeout=120)
    return km, client


def run(client, code: str) -> str:
    """Run ``code`` in the kernel: what it printed (an error's name and message if it raised)."""
    msg_id = client.execute(code)
    printed = []
    while True:
        message = run_sync(client.get_iopub_msg)(timeout=120)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append(f"{message['content']['ename']}: {message['content']['evalue']}")
        elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return "".join(printed)


def stop(km, client) -> None:
    client.stop_channels()
    run_sync(km.shutdown_kernel)(now=True)


@pytest.fixture
def zygote(monkeypatch):
    monkeypatch.setenv("PRIMER_SANDBOX_SLOT", str(SLOT))
    # Started with root's groups (as a service may be): none of them may reach a kernel.
    groups = os.getgroups()
    os.setgroups([0, grp.getgrnam("shadow").gr_gid])
    try:
        zygote = KernelZygote(["import numpy as np", "import json"])
    finally:
        os.setgroups(groups)
    yield zygote
    zygote.stop()


def sandbox_descendants(zygote: KernelZygote) -> list[psutil.Process]:
    uid = psutil.Process().uids().real if os.geteuid() else None
    account_uid = int(__import__("pwd").getpwnam(sandbox_account(SLOT)).pw_uid)
    return [p for p in psutil.Process(zygote.process.pid).children(recursive=True)
            if p.uids().real == account_uid and p.uids().real != uid]


def test_a_forked_kernel_sits_in_the_same_sandbox_as_a_cold_kernel(zygote, tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("the course's grades")
    secret.chmod(0o600)
    probe = f"SECRET = {str(secret)!r}\n" + PROBE
    reports = {}
    for kind, source in (("cold", None), ("forked", zygote)):
        km, client = start_kernel(source)
        try:
            if kind == "forked":  # it is the zygote's: a fork of it runs as the sandbox account
                assert sandbox_descendants(zygote), "the kernel was not forked from the zygote"
            reports[kind] = json.loads(run(client, probe))
        finally:
            stop(km, client)
    cold, forked = reports["cold"], reports["forked"]
    assert cold["uid"] != 0 and cold["groups"] == [] and cold["capabilities"]["CapEff"] == "0000000000000000"
    assert cold["secret"] != "allowed" and cold["network"] != "allowed" and cold["root_writable"] != "allowed"
    for key in cold:
        assert forked[key] == cold[key], f"the forked kernel's {key} differs from a cold kernel's"


def test_a_students_kernel_cannot_reach_its_zygote_and_the_next_kernel_starts_clean(zygote):
    km, client = start_kernel(zygote)
    # A fork's memory is its own copy, except what is mapped shared: none of that may be writable.
    maps = Path(f"/proc/{zygote.process.pid}/maps").read_text().splitlines()
    assert not [line for line in maps if line.split()[1][1] == "w" and line.split()[1][3] == "s"]
    try:
        # The student: change the libraries in memory, then go after the zygote, by its real PID.
        said = run(client, f"""
import numpy, os, signal
numpy.mean = lambda *args, **kwargs: 42
numpy.pi = 3
try:
    os.kill({zygote.process.pid}, signal.SIGKILL)
    print("killed")
except Exception as error:
    print(type(error).__name__)
print(open("/proc/{zygote.process.pid}/environ").read() if os.path.exists("/proc/{zygote.process.pid}") else "unseen")
import socket  # the zygote's door, and the standby's, are packet sockets: none may be open here
doors = 0
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        with socket.socket(fileno=os.dup(fd)) as door:
            doors += door.type == socket.SOCK_SEQPACKET
    except OSError:
        pass
print("doors", doors)
""")
        assert "killed" not in said and said.split() == ["ProcessLookupError", "unseen", "doors", "0"], said
    finally:
        stop(km, client)
    assert zygote.process.poll() is None, "a student's kernel killed the kernel zygote"

    km, client = start_kernel(zygote)
    try:
        said = run(client, "import numpy\nprint(numpy.mean([1, 3]), numpy.pi)")
        assert said.split() == ["2.0", "3.141592653589793"], f"the next kernel inherited a change: {said!r}"
    finally:
        stop(km, client)
    assert not sandbox_descendants(zygote), "a forked kernel outlived its shutdown"


def test_a_forked_kernel_that_exits_ends_its_sandbox_whatever_it_leaves_behind(zygote):
    km, client = start_kernel(zygote)
    try:
        # A fork bomb's leftovers: a process that outlives the kernel, then the kernel exits.
        client.execute("import os, time\nif os.fork() == 0:\n    time.sleep(600)\nos._exit(0)")
        for _ in range(100):
            if not run_sync(km.is_alive)():
                break
            time.sleep(0.1)
        assert not run_sync(km.is_alive)(), "the sandbox lived on after its kernel exited"
    finally:
        client.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)
    assert not sandbox_descendants(zygote), "a process of the kernel outlived its sandbox"


def test_a_zygote_that_cannot_fork_leaves_the_standby_a_kernel_of_its_own(zygote, capfd):
    from traitlets.config import Config

    zygote.process.kill()
    zygote.process.wait()
    km = warm_kernel("python3", Config(), ["import numpy as np"], zygote.requests.fileno())
    client = km.client()
    client.start_channels()
    try:
        assert run(client, "import numpy as np\nprint(np.add(40, 2))").strip() == "42"
    finally:
        stop(km, client)
    assert "the kernel zygote gave no kernel" in capfd.readouterr().err
