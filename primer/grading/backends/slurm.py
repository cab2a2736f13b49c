"""`primer autograde A --backend slurm`: one Slurm array job per assignment, one task per submission.

Each task runs the unit of work (`primer grade-one`) on a compute node, in a
node-local scratch folder, and writes its result into the run folder on the
shared filesystem; this process merges every result into the gradebook as
soon as its task has ended. A task that ends without a result (killed,
cancelled, its node lost) is submitted once more, then reported. Ctrl-C
cancels the job (scancel). Resources come from ``c.ClusterGrading`` in the
course's nbgrader_config.py; ``sbatch_options`` are passed on as they are.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from primer.grading.backends import cluster_settings, new_run_folder
from primer.grading.parallel import (SubmissionResult, _class_results, finish, record_merge,
                                     step_note)
from primer.progress import Progress
from primer.grading.unit import RESULT_FILE, check_name, prepare_release

ATTEMPTS = 2  # a task that ends without a result is submitted once more
GRACE_SECONDS = 3.0  # a shared filesystem may show a finished task's result a little late


LOCAL_CLUSTER_DIR = "/var/tmp/primer-slurm"  # scripts/slurm-cluster's folder (PRIMER_SLURM_DIR)
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def slurm_environment() -> dict[str, str]:
    """The environment Slurm's commands need: SLURM_CONF as set, else the system's slurm.conf,
    else the one-node cluster `make slurm` started here (which clients find only through SLURM_CONF)."""
    env = dict(os.environ)
    if env.get("SLURM_CONF") or SYSTEM_CONF.is_file():
        return env
    local = Path(env.get("PRIMER_SLURM_DIR") or LOCAL_CLUSTER_DIR) / "slurm.conf"
    if local.is_file():
        env["SLURM_CONF"] = str(local)
    return env


def _slurm(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=_slurm_ready(command[0]))


def _slurm_ready(program: str = "sbatch") -> dict[str, str]:
    """The environment to run ``program`` in; a RuntimeError that says what to do if it cannot work."""
    if shutil.which(program) is None:
        raise RuntimeError(f"{program} not found: run this where Slurm's commands work (a login "
                           "node), or start a cluster on this machine with `make slurm` (as root)")
    env = slurm_environment()
    if not env.get("SLURM_CONF") and not SYSTEM_CONF.is_file():
        raise RuntimeError(f"no Slurm configuration: neither SLURM_CONF nor {SYSTEM_CONF} is set, and no "
                           f"cluster started by `make slurm` ({LOCAL_CLUSTER_DIR}). Start one with "
                           "`make slurm` (as root), or export SLURM_CONF=<your cluster's slurm.conf>")
    return env


def batch_script(run: Path, course: Path, assignment: str, students: list[str], settings,
                 submitted: Path | None = None) -> str:
    """The array job's script: task N grades students[N]'s submission in ``submitted``
    (default: the course's submitted/ folder; the grading queue's copy is in its run folder)."""
    names = " ".join(check_name("student", s) for s in students)
    scratch = f'{shlex.quote(settings.scratch)}/primer-grade-"$SLURM_ARRAY_JOB_ID-$SLURM_ARRAY_TASK_ID"'
    return f"""#!/bin/bash
# primer autograde --backend slurm: task N grades student N (primer grade-one)
students=({names})
student=${{students[$SLURM_ARRAY_TASK_ID]}}
scratch={scratch}
{shlex.quote(settings.python)} -m primer.cli grade-one \\
  --release {shlex.quote(str(run / 'release'))} \\
  --submission {shlex.quote(str(submitted or course / 'submitted'))}/"$student"/{assignment} --student "$student" \\
  --scratch "$scratch" \\
  --result {shlex.quote(str(run / 'results'))}/"$student" \\
  --slot $((SLURM_ARRAY_TASK_ID % 16))
status=$?
rm -rf "$scratch"
exit $status
"""


def sbatch_command(run: Path, assignment: str, indices: list[int], settings, extra: list[str]) -> list[str]:
    array = ",".join(map(str, indices)) + (f"%{settings.max_parallel}" if settings.max_parallel else "")
    command = ["sbatch", "--parsable", f"--array={array}", f"--job-name=primer-{assignment}",
               f"--output={run / 'logs' / '%A_%a.log'}", f"--chdir={run}",
               f"--cpus-per-task={settings.cpus_per_task}", f"--mem={settings.memory}",
               f"--time={settings.time_limit_minutes}"]
    if settings.partition:
        command.append(f"--partition={settings.partition}")
    return [*command, *extra, str(run / "grade.sh")]


def _submit(command: list[str]) -> str:
    done = _slurm(*command)
    if done.returncode != 0:
        conf = _slurm_ready().get("SLURM_CONF") or SYSTEM_CONF
        raise RuntimeError(f"sbatch refused the grading job: {done.stderr.strip()} "
                           f"(command: {shlex.join(command)}; configuration: {conf}). Is the "
                           "cluster up? `sinfo` says; the local one: `scripts/slurm-cluster status`")
    return done.stdout.strip().split(";")[0]


def _tasks_in_queue(jobs: list[str]) -> dict[int, str]:
    """array index -> state, for the tasks of ``jobs`` that Slurm still runs or holds."""
    if not jobs:
        return {}
    done = _slurm("squeue", "-h", "-r", "-j", ",".join(jobs), "-o", "%K %T")
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return {}  # every task has ended and left the queue
        raise RuntimeError(f"squeue failed: {done.stderr.strip()}")
    states = {}
    for line in done.stdout.splitlines():
        index, _, state = line.partition(" ")
        if index.isdigit() and state not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                             "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"):
            states[int(index)] = state
    return states


def autograde_on_slurm(course: Path, assignment: str, students: list[str] | None = None,
                       sbatch_options: list[str] | None = None, poll_seconds: float = 1.0
                       ) -> list[SubmissionResult]:
    """Grade ``assignment`` on Slurm; results merged into the gradebook as tasks end."""
    course = Path(course).resolve()
    settings = cluster_settings(course)
    results, queue = _class_results(course, assignment, students)
    if not queue:
        finish(course, assignment, results)
        return list(results.values())
    _slurm_ready()  # before anything is copied
    run = new_run_folder(course, settings, assignment)
    try:  # the run folder holds copies of submissions: removed whatever happens
        with Progress(len(queue), f"{assignment}: autograde on Slurm") as progress:
            return _grade_on_slurm(course, assignment, results, queue, settings, run,
                                   list(sbatch_options or []), poll_seconds, progress)
    finally:
        shutil.rmtree(run, ignore_errors=True)


def _grade_on_slurm(course: Path, assignment: str, results: dict, queue: list[str], settings,
                    run: Path, extra: list[str], poll_seconds: float, progress) -> list[SubmissionResult]:
    prepare_release(course, assignment, run / "release")
    (run / "logs").mkdir()
    for student in queue:
        (run / "results" / student).mkdir(parents=True)
    (run / "grade.sh").write_text(batch_script(run, course, assignment, queue, settings))
    log_folder = course / "autograded" / ".logs" / assignment
    log_folder.mkdir(parents=True, exist_ok=True)

    jobs = [_submit(sbatch_command(run, assignment, list(range(len(queue))), settings, extra))]
    progress.say(f"{assignment}: Slurm job {jobs[0]}, {len(queue)} tasks (one per submission)")
    attempts = {index: 1 for index in range(len(queue))}
    waiting = dict(enumerate(queue))  # index -> student, not merged yet
    gone_since: dict[int, float] = {}
    started = time.monotonic()
    last = ""
    try:
        while waiting:
            time.sleep(poll_seconds)
            in_queue = _tasks_in_queue(jobs)
            retry = []
            for index, student in list(waiting.items()):
                result_dir = run / "results" / student
                if index in in_queue:
                    continue
                if not (result_dir / RESULT_FILE).exists():
                    # Ended without a result? Give a shared filesystem a moment to show it.
                    if time.monotonic() - gone_since.setdefault(index, time.monotonic()) < GRACE_SECONDS:
                        continue
                    if attempts[index] < ATTEMPTS:
                        attempts[index] += 1
                        gone_since.pop(index)
                        retry.append(index)
                        continue
                log_path = _keep_log(run, jobs, index, log_folder / f"{student}.log")
                record_merge(course, assignment, results[student], result_dir, log_path)
                if attempts[index] > 1 and results[student].status != "failed":
                    results[student].notes.append("its first task ended without a result: graded on retry")
                elif attempts[index] > 1:
                    results[student].notes.append(f"no result after {ATTEMPTS} tasks")
                results[student].seconds = time.monotonic() - started
                del waiting[index]
                progress.step(step_note(results[student]))
            if retry:
                jobs.append(_submit(sbatch_command(run, assignment, retry, settings, extra)))
                progress.say(f"{assignment}: tasks {retry} ended without a result: submitted again "
                         f"as job {jobs[-1]}")
            running = sum(state == "RUNNING" for state in in_queue.values())
            line = f"{running} running, {len(waiting) - running} waiting"
            if waiting and line != last:
                progress.status(line)
                last = line
    except KeyboardInterrupt:
        _slurm("scancel", *jobs)
        progress.say(f"{assignment}: cancelled: scancel {' '.join(jobs)}")
        for student in waiting.values():
            results[student].status = "failed"
            results[student].notes.append("grading was cancelled (Ctrl-C) before its task ended")
    finish(course, assignment, results)
    return list(results.values())


def _keep_log(run: Path, jobs: list[str], index: int, target: Path) -> Path:
    """The task's Slurm log (its last attempt), kept beside the local backend's logs."""
    for job in reversed(jobs):
        log = run / "logs" / f"{job}_{index}.log"
        if log.is_file():
            shutil.copyfile(log, target)
            break
    return target
