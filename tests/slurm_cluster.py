"""A one-node Slurm cluster for the tests (scripts/slurm-cluster), on free ports, in a folder of its own."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from conftest import REPO
from primer.testing.hub import free_port_block

SCRIPT = REPO / "scripts" / "slurm-cluster"


@contextmanager
def local_slurm():
    """Start the cluster; yield the environment its clients need; stop it by PID."""
    if os.geteuid() != 0:
        raise RuntimeError("the local Slurm cluster starts daemons as munge, slurm and root: "
                           "run the Slurm tests as root (sudo make test)")
    # Not under pytest's tmp_path: the slurm and munge accounts must reach their folders.
    folder = Path(tempfile.mkdtemp(prefix="primer-slurm-", dir="/var/tmp"))
    folder.chmod(0o755)
    env = {**os.environ, "PRIMER_SLURM_DIR": str(folder), "PRIMER_SLURM_PORT": str(free_port_block(2))}
    started = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, f"the local Slurm cluster did not start:\n{started.stdout}{started.stderr}"
    env["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
