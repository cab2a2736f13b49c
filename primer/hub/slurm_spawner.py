"""PRIMER_SPAWNER=slurm: each person's server as a Slurm job, through batchspawner.

The course part (account, role settings, staff group) is ``CourseServer``,
shared with the local spawner; this module adds what a cluster needs:

* the job is submitted, queried and cancelled *as the person* (``setpriv``,
  no sudo needed): Slurm runs it under their UID, and they can see and
  cancel only their own jobs;
* the course's limits become the job's request: ``mem_limit`` ->
  ``--mem``, ``cpu_limit`` -> ``--cpus-per-task`` (rounded up; Slurm's
  cgroup plugin enforces them where the cluster has it);
* partition, time limit and extra sbatch options come from PRIMER_SLURM_*
  (primer/hub/runtime.py);
* commands are absolute paths and the job keeps ``PATH`` and ``SLURM_CONF``
  (JupyterHub 6 passes on almost nothing by default);
* a job that ends before its server has answered is reported at once, with
  the end of its log, instead of only at ``start_timeout``.
"""
from __future__ import annotations

import asyncio
import math
import pwd
import shlex
import shutil
from pathlib import Path

from batchspawner import JobStatus, SlurmSpawner
from traitlets import List, Unicode, default

from primer.hub.spawner import CourseServer

WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
LOG_TAIL_LINES = 15


def slurm_command(name: str) -> str:
    """The absolute path of a Slurm client command, or a message saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on the hub's PATH: PRIMER_SPAWNER=slurm needs the Slurm "
                           "client commands (sbatch, squeue, scancel) on the hub host "
                           "(Debian: apt-get install slurm-client)")
    return path


class CourseSlurmSpawner(CourseServer, SlurmSpawner):
    server_ip = Unicode(
        "127.0.0.1",
        help="Address the server listens on inside its job: 127.0.0.1 for a cluster on the hub's "
             "machine, 0.0.0.0 on a real cluster (the hub connects to the job's node).",
    ).tag(config=True)
    sbatch_options = List(Unicode(), help="More sbatch options, e.g. ['--account=neuro101'].").tag(config=True)

    # As the person, without sudo: Debian's sudo would also reset PATH (secure_path).
    exec_prefix = Unicode("/usr/bin/setpriv --reuid={uid} --regid={gid} --init-groups").tag(config=True)

    @default("env_keep")
    def _env_keep_default(self):
        return ["PATH", "SLURM_CONF", "LANG", "LC_ALL", "JUPYTERHUB_SINGLEUSER_APP"]

    @default("batch_submit_cmd")
    def _submit_default(self):
        return " ".join([shlex.quote(slurm_command("sbatch")), "--parsable",
                         *map(shlex.quote, self.sbatch_options)])

    @default("batch_query_cmd")
    def _query_default(self):
        return f"{shlex.quote(slurm_command('squeue'))} -h -j {{job_id}} -o '%T %B'"

    @default("batch_cancel_cmd")
    def _cancel_default(self):
        return f"{shlex.quote(slurm_command('scancel'))} {{job_id}}"

    @default("req_srun")
    def _srun_default(self):
        return shlex.quote(slurm_command("srun"))

    @default("req_memory")
    def _memory_default(self):
        return f"{math.ceil(self.mem_limit / 2**20)}M" if self.mem_limit else ""

    @default("req_nprocs")
    def _cpus_default(self):
        return str(math.ceil(self.cpu_limit)) if self.cpu_limit else ""

    def get_req_subvars(self):
        subvars = super().get_req_subvars()
        entry = pwd.getpwnam(self.user.name)
        subvars.update(uid=entry.pw_uid, gid=entry.pw_gid)
        return subvars

    submitted_job = ""  # kept after batchspawner clears job_id, for the error message

    async def submit_batch_script(self):
        # BatchSpawnerBase.start resets ip to the class default (0.0.0.0) just before this.
        self.ip = self.server_ip
        self.submitted_job = await super().submit_batch_script()
        return self.submitted_job

    def state_gethost(self):
        """The node the job runs on; a server bound to one address is reached at that address."""
        if self.server_ip not in WILDCARD_ADDRESSES:
            return self.server_ip
        return super().state_gethost()

    async def start(self):
        self.prepare_account()
        self.submitted_job = ""
        starting = asyncio.ensure_future(super().start())
        while True:
            done, _ = await asyncio.wait({starting}, timeout=1)
            if done:
                try:
                    return starting.result()
                except RuntimeError as error:  # batchspawner: the job left the queue while starting
                    if self.submitted_job:
                        raise self.ended_early(self.submitted_job) from error
                    raise
            # Once the job runs, batchspawner only waits for the server's port: watch the job.
            if self.port == 0 and self.job_id and self.state_isrunning():
                if await self.query_job_status() == JobStatus.NOTFOUND:
                    starting.cancel()
                    raise self.ended_early(self.submitted_job)

    def ended_early(self, job: str) -> RuntimeError:
        return RuntimeError(f"{self.user.name}'s server job {job} ended before the server started. "
                            f"The end of its log:\n{self.log_tail(job)}")

    def log_tail(self, job: str) -> str:
        """The end of the job's output (SlurmSpawner's batch script sends it to the home folder)."""
        path = Path(pwd.getpwnam(self.user.name).pw_dir) / f"jupyterhub_slurmspawner_{job}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        except OSError as error:
            return f"(no log: {error})"


def configure_slurm_spawner(c, runtime, venv_bin: Path) -> None:
    """PRIMER_SPAWNER=slurm: the hub's settings for servers as Slurm jobs (called by config.py)."""
    c.JupyterHub.spawner_class = "primer.hub.slurm_spawner.CourseSlurmSpawner"
    # The jobs' servers call the hub's API (and batchspawner's port report) from their node.
    c.JupyterHub.hub_ip = runtime.slurm_hub_ip
    # Absolute: the job runs with the PATH it was given, not the hub's.
    c.CourseSlurmSpawner.batchspawner_singleuser_cmd = str(venv_bin / "batchspawner-singleuser")
    c.CourseSlurmSpawner.server_ip = runtime.slurm_server_ip
    c.CourseSlurmSpawner.req_partition = runtime.slurm_partition
    c.CourseSlurmSpawner.req_runtime = runtime.slurm_time
    c.CourseSlurmSpawner.sbatch_options = list(runtime.slurm_options)
