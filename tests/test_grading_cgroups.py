"""The sandbox's cgroup on cgroup v1 and v2, on real cgroup filesystems (as root).

This machine runs cgroup v1 (memory and pids controllers in their own
hierarchies); a cgroup v2 hierarchy is mounted here for the v2 tests. The
kernel lets only one hierarchy hold a controller, so that v2 mount has no
memory controller: the tests make, join, kill and remove real v2 groups, and
check that a v2 hierarchy without memory is reported, not skipped
(docs/security.md, "Memory cgroup on v1 and v2").
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from primer.grading import cgroups
from primer.grading.parallel import _EVENTS
from primer.grading.sandbox import GRADING_EVENTS, NO_MEMORY_CGROUP, SandboxProvisioner

pytestmark = pytest.mark.root
MIB = 1024 ** 2


@pytest.fixture
def cgroup2(tmp_path) -> Path:
    """A real cgroup v2 hierarchy, mounted for the test."""
    if os.geteuid() != 0:
        pytest.fail("cgroups are made by root: run as root")
    mount = tmp_path / "cgroup2"
    mount.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(mount)], check=True)
    yield mount
    for group in sorted(mount.glob("**/kernel-*"), reverse=True):
        cgroups._kill_and_remove(group)
    (mount / cgroups.PARENT).exists() and (mount / cgroups.PARENT).rmdir()
    subprocess.run(["umount", str(mount)], check=True)


def started_in(cgroup: cgroups.KernelCgroup) -> subprocess.Popen:
    process = subprocess.Popen([*cgroup.join_prefix(), "sleep", "300"])
    for _ in range(50):
        if all(str(process.pid) in (g / "cgroup.procs").read_text().split() for g in cgroup.groups):
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"pid {process.pid} never joined {cgroup.groups}")


def test_v1_group_limits_memory_and_pids_and_is_removed_with_its_processes():
    """The host's own cgroups: v1 here; on a v2 host the same test checks v2's limit files."""
    found = cgroups.version()
    assert found in (1, 2), "no cgroup filesystem at /sys/fs/cgroup"
    cgroup, why = cgroups.create(300 * MIB, 64)
    assert cgroup is not None, why
    try:
        if found == 1:
            memory, pids = cgroup.groups
            assert int((memory / "memory.limit_in_bytes").read_text()) == 300 * MIB
        else:
            memory = pids = cgroup.groups[0]
            assert int((memory / "memory.max").read_text()) == 300 * MIB
        assert (pids / "pids.max").read_text().strip() == "64"
        assert cgroup.limited == ["memory", "pids"]
        process = started_in(cgroup)
        assert f"{memory.name}" in Path(f"/proc/{process.pid}/cgroup").read_text()
    finally:
        cgroup.remove()
    assert process.wait(timeout=10) == -9  # killed with the group
    assert not any(g.exists() for g in cgroup.groups)


def test_v2_is_detected_on_a_real_cgroup2_mount(cgroup2):
    assert cgroups.version(cgroup2) == 2
    assert cgroups.version(cgroup2.parent) is None


def test_v2_group_is_joined_killed_and_removed(cgroup2):
    parent = cgroup2 / cgroups.PARENT
    parent.mkdir()
    group = parent / "kernel-test"
    group.mkdir()
    cgroup = cgroups.KernelCgroup(2, [group])
    process = started_in(cgroup)
    assert "0::/primer-sandbox/kernel-test" in Path(f"/proc/{process.pid}/cgroup").read_text()
    cgroup.remove()
    assert process.wait(timeout=10) == -9
    assert not group.exists()


def test_v2_without_a_memory_controller_is_said_not_skipped(cgroup2):
    assert "memory" not in (cgroup2 / "cgroup.controllers").read_text().split()
    cgroup, why = cgroups.create(300 * MIB, 64, root=cgroup2)
    assert cgroup is None and "no memory controller" in why
    assert not (cgroup2 / cgroups.PARENT).exists()  # nothing left behind


def test_a_sandbox_without_memory_cgroup_is_recorded_for_the_summary(cgroup2, monkeypatch):
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", cgroup2)
    provisioner = SandboxProvisioner(kernel_id="k", kernel_spec=None)
    seen = len(GRADING_EVENTS)
    assert provisioner._memory_cgroup_prefix() == []
    assert GRADING_EVENTS[seen:] == [NO_MEMORY_CGROUP]
    assert "WITHOUT the sandbox's memory cgroup" in _EVENTS[NO_MEMORY_CGROUP]


def test_the_sandbox_joins_its_v1_group():
    provisioner = SandboxProvisioner(kernel_id="k", kernel_spec=None)
    prefix = provisioner._memory_cgroup_prefix()
    try:
        assert prefix[:2] == ["sh", "-c"] and prefix[-1] == "--"
        assert any(part.endswith("memory/primer-sandbox/" + provisioner._cgroup.groups[0].name
                                 + "/cgroup.procs") for part in prefix)
    finally:
        provisioner._cgroup.remove()
