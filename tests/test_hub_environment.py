"""What a student's server gets on the hub: the course kernel, the read-only shared
data folder (NILEARN_SHARED_DATA), memory and CPU limits, and an idle culler.
"""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from primer.accounts import command_line, processes_of
from primer.testing.hub import (PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, HubUser, execute,
                                start_kernel, wait_for)

pytestmark = [pytest.mark.hub, pytest.mark.root]
GIB = 1024**3


@pytest.fixture(scope="module")
def student(hub, students):
    user = HubUser(hub, students[0]).log_in_and_start_server(PASSWORD_STUDENT)
    user.kernel = start_kernel(user)
    yield user
    user.api("DELETE", f"/hub/api/users/{user.name}/server")


def test_the_kernel_has_the_course_environment_and_the_shared_data(hub, student):
    code = ("import os, sys, nilearn, sklearn, nbgrader\n"
            "from nilearn.datasets import get_data_dirs\n"
            "print(sys.prefix)\n"
            "print(os.environ['NILEARN_SHARED_DATA'])\n"
            "print(get_data_dirs()[0])\n")
    prefix, shared, nilearn_first = execute(student, student.kernel, code).split()
    assert Path(prefix) == Path(sys.prefix)  # the course venv
    assert shared == str(hub.runtime / "shared-data")
    assert nilearn_first == shared  # nilearn looks in the shared folder first
    readme = execute(student, student.kernel,
                     "print(open(os.environ['NILEARN_SHARED_DATA'] + '/README.txt').read()[:9])")
    assert readme.strip() == "Read-only"


def limits_in_cgroups(name: str) -> dict[str, str]:
    """The user's memory and CPU limits as the machine's cgroup hierarchy holds them."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # v2 (unified) with the controllers
        folder = root / "primer-hub" / name
        return {"memory": (folder / "memory.max").read_text().strip(),
                "swap": (folder / "memory.swap.max").read_text().strip(),
                "cpu": (folder / "cpu.max").read_text().strip()}
    # v1 (this machine: memory and cpu are v1 controllers, /sys/fs/cgroup/unified has none)
    memory, cpu = root / "memory" / "primer-hub" / name, root / "cpu" / "primer-hub" / name
    return {"memory": (memory / "memory.limit_in_bytes").read_text().strip(),
            "cpu": "{} {}".format((cpu / "cpu.cfs_quota_us").read_text().strip(),
                                  (cpu / "cpu.cfs_period_us").read_text().strip())}


def test_memory_and_cpu_limits_hold_the_server_and_its_kernels(hub, student):
    uid = pwd.getpwnam(student.name).pw_uid
    pids = processes_of(uid)
    kinds = sorted("kernel" if "ipykernel_launcher" in command_line(pid) else
                   "server" if "jupyterhub-singleuser" in command_line(pid) else command_line(pid)
                   for pid in pids)
    assert kinds == ["kernel", "server"]
    for pid in pids:
        groups = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"primer-hub/{student.name}" in groups, groups
    expected = {"memory": str(2 * GIB), "cpu": "100000 100000"}  # 2 GiB, one CPU
    if (Path("/sys/fs/cgroup") / "cgroup.controllers").exists():
        expected["swap"] = "0"
    assert limits_in_cgroups(student.name) == expected
    # Something in the student's server asking for more than 2 GiB is killed, the server is not.
    code = ("import subprocess, sys\n"
            "r = subprocess.run([sys.executable, '-c', 'b = bytearray(3 * 1024**3); b[::4096] = b\"x\" * len(b[::4096])'])\n"
            "print(r.returncode)")
    assert execute(student, student.kernel, code).strip() == "-9"
    assert execute(student, student.kernel, "print('still here')").strip() == "still here"


def test_the_idle_culler_runs_and_stops_idle_servers(hub, student):
    instructor = HubUser(hub, hub.instructor)
    assert instructor.login(PASSWORD_INSTRUCTOR).status_code == 200
    instructor.create_token()
    services = instructor.api("GET", "/hub/api/services").json()
    assert "idle-culler" in services, services
    assert services["idle-culler"]["command"][-2].startswith("--timeout=")
    # The same culler, with a 1-second timeout and a token that sees only this student.
    name = student.name
    scopes = [f"{scope}!user={name}" for scope in
              ("list:users", "read:users:activity", "read:servers", "delete:servers")]
    response = instructor.api("POST", f"/hub/api/users/{hub.instructor}/tokens",
                              json={"scopes": scopes, "expires_in": 600})
    assert response.status_code == 201, response.text
    culler = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=1", "--cull-every=2",
         f"--url=http://127.0.0.1:{hub.port + 1}/hub/api"],
        env={**os.environ, "JUPYTERHUB_API_TOKEN": response.json()["token"]},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: not student.api("GET", f"/hub/api/users/{name}").json()["servers"], 60,
                 f"the culler stopping {name}'s idle server", every=1)
    finally:
        culler.terminate()
        output = culler.communicate(timeout=30)[0]
    assert "Culling server" in output, output[-2000:]
