"""PRIMER_SPAWNER=slurm, checked without a cluster: the settings reach batchspawner as the docs say.

tests/test_hub_slurm.py runs it for real on a local cluster (root, slow).
"""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from test_hub_config import configured, env  # noqa: F401 (the fixture)
from primer.hub.runtime import HubRuntime
from primer.hub.slurm_spawner import CourseSlurmSpawner


@pytest.fixture
def slurm_env(env):  # noqa: F811
    env.setenv("PRIMER_SPAWNER", "slurm")
    env.setenv("PRIMER_SLURM_PARTITION", "interactive")
    env.setenv("PRIMER_SLURM_TIME", "4:00:00")
    env.setenv("PRIMER_SLURM_OPTIONS", "--account=neuro101 --comment='morning session'")
    env.setenv("PRIMER_SLURM_HUB_IP", "10.1.0.5")
    env.setenv("PRIMER_MEM_LIMIT", "1.5G")
    env.setenv("PRIMER_CPU_LIMIT", "1.5")
    return env


def test_an_unknown_spawner_is_refused_with_the_choices(env):  # noqa: F811
    env.setenv("PRIMER_SPAWNER", "pbs")
    with pytest.raises(ValueError, match="PRIMER_SPAWNER='pbs': use local"):
        HubRuntime.from_environment()


def test_the_local_spawner_is_the_default(env):  # noqa: F811
    assert configured().JupyterHub.spawner_class == "primer.hub.spawner.CourseSpawner"


def test_slurm_settings_reach_the_spawner(slurm_env):
    c = configured()
    assert c.JupyterHub.spawner_class == "primer.hub.slurm_spawner.CourseSlurmSpawner"
    assert c.JupyterHub.hub_ip == "10.1.0.5"  # the compute nodes call the hub's API there
    singleuser = Path(c.CourseSlurmSpawner.batchspawner_singleuser_cmd)
    assert singleuser.is_absolute() and singleuser.exists()  # sudo's secure_path, the job's PATH
    assert Path(c.Spawner.cmd[0]).is_absolute()
    assert c.CourseServer.config_paths.keys() == {"student", "staff"}  # the same roles as locally

    spawner = CourseSlurmSpawner(config=c, _deprecated_db_session=None)
    assert (spawner.req_partition, spawner.req_runtime) == ("interactive", "4:00:00")
    # the course's limits as the job's request: 1.5 GiB -> --mem=1536M, 1.5 CPUs -> 2
    assert (spawner.req_memory, spawner.req_nprocs) == ("1536M", "2")
    submit = shlex.split(spawner.batch_submit_cmd)
    assert Path(submit[0]).name == "sbatch" and Path(submit[0]).is_absolute()
    assert submit[1:] == ["--parsable", "--account=neuro101", "--comment=morning session"]
    assert {"PATH", "SLURM_CONF"} <= set(spawner.env_keep)
    assert spawner.exec_prefix.startswith("/usr/bin/setpriv --reuid={uid}")
