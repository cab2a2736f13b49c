"""The grading queue's cluster task: one submission graded as one task on Slurm or Kubernetes.

When ``c.ClusterGrading.queue_backend`` (the course's nbgrader settings, the
ones ``primer autograde --backend`` reads) names ``slurm`` or ``kubernetes``,
the queue (primer/queue/service.py) calls ``grade_on_cluster`` where it would
start the local unit. That starts this module, as the course owner (whose
account ``primer autograde --backend slurm`` submits from too):

    python -m primer.queue.cluster_dispatch --backend slurm|kubernetes --course C \
        --assignment A --student S --release <grading release> --submission <collected copy> \
        --result <the grading's result folder> --name <grading>

It makes a run folder on the cluster's shared filesystem (``run_folder``),
copies the grading release and this one submission into it, runs the same
unit (``primer grade-one``) as one task (a one-task Slurm array job; a
one-index Job on Kubernetes, with the backend's NetworkPolicy), waits for it,
copies the task's result back into the grading's result folder and removes
the run folder. Nothing of the result is trusted here: the queue then records
it through its usual record step (primer.queue.record: the trusted merge;
the submission's time is the one collect wrote). A task that ends without a
result is submitted once more (Slurm), then reported; SIGTERM (the queue's
time limit) cancels the task. Its progress goes to stderr (the grading's log);
stdout gets one JSON line: the notes for the journal.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import shutil
import signal
import sys
import time
from pathlib import Path

CANCEL_SECONDS = 30  # for the dispatcher to cancel its task after the queue's SIGTERM
# What the dispatcher needs from the queue's environment to reach the cluster.
CLUSTER_ENVIRONMENT = ("SLURM_CONF", "PRIMER_SLURM_DIR", "KUBECONFIG", "KUBERNETES_SERVICE_HOST",
                       "KUBERNETES_SERVICE_PORT")


# --------------------------------------------------------------------------- the queue's side (root)

def queue_backend(course: Path) -> str:
    """local, slurm or kubernetes: ``c.ClusterGrading.queue_backend`` of the course, read at each
    grading (a wrong value is a TraitError that names the allowed ones)."""
    from primer.grading.backends import cluster_settings

    return cluster_settings(course).queue_backend


async def grade_on_cluster(queue, backend: str, item, folder: Path, collected: Path,
                           release: Path, log_path: Path) -> list[str] | dict:
    """Run the dispatcher as the course owner; the journal's notes, or a failed answer when the
    queue's time limit ran out (the task is cancelled: SIGTERM, then the process tree killed)."""
    from primer.accounts import chown_tree
    from primer.queue.as_owner import run_as_owner

    entry = pwd.getpwnam(queue.owner)
    chown_tree(folder, entry.pw_uid, entry.pw_gid)  # the owner reads the copy, writes the result
    argv = [sys.executable, "-m", "primer.queue.cluster_dispatch", "--backend", backend,
            "--course", str(queue.course), "--assignment", item.assignment, "--student", item.student,
            "--release", str(release), "--submission", str(collected),
            "--result", str(folder / "result"), "--name", folder.name]
    env = {"JUPYTER_CONFIG_PATH": queue.staff_config_path,
           **{k: os.environ[k] for k in CLUSTER_ENVIRONMENT if k in os.environ}}

    def started(process):  # the queue stops it too when the service stops
        queue.processes[item.id] = process

    with open(log_path, "wb") as log_file:
        # Out of time: SIGTERM first, so that it cancels its task on the cluster.
        done = await run_as_owner(queue.owner, argv, cwd=queue.course, env=env, stderr=log_file,
                                  timeout=queue.settings.timeout, grace=CANCEL_SECONDS, started=started)
    if done.timed_out:
        return {"status": "failed", "notes": [
            f"grading on {backend} took longer than {queue.settings.timeout} s (waiting for the "
            "cluster included) and was cancelled"]}
    try:
        return [str(note)[:400] for note in json.loads(done.out.decode().strip().splitlines()[-1])["notes"]][:5]
    except (ValueError, IndexError, KeyError, TypeError):
        return [f"the {backend} dispatcher ended without a word (exit {done.returncode}): "
                f"see {log_path}"]


# --------------------------------------------------------------------------- the owner's side

class Cancelled(Exception):
    """SIGTERM from the queue: its time limit ran out."""


def _cancelled(signum, frame):
    raise Cancelled()


def dispatch(backend: str, course: Path, assignment: str, student: str, release: Path,
             submission: Path, result: Path, name: str) -> list[str]:
    """Grade one submission as one task on ``backend``; its result copied into ``result``."""
    from primer.grading.backends import cluster_settings
    from primer.grading.unit import check_name

    check_name("student", student)
    check_name("assignment", assignment)
    settings = cluster_settings(course)
    if backend == "kubernetes":
        run, documents = kubernetes_run(course, assignment, student, release, submission, settings)
    else:
        from primer.grading.backends.slurm import _slurm_ready
        _slurm_ready()  # before anything is copied: says what to do if Slurm cannot be reached
        run = queue_run(course, assignment, release, settings)
    try:
        if backend == "kubernetes":
            task_result, notes = _follow_on_kubernetes(run, documents, assignment, student)
        else:
            task_result, notes = _on_slurm(run, course, assignment, student, submission, settings, name)
        take_result(task_result, result)
        return notes
    finally:  # the run holds a copy of the submission: removed whatever happens
        shutil.rmtree(run, ignore_errors=True)


def queue_run(course: Path, assignment: str, release: Path, settings) -> Path:
    """A run folder on the shared filesystem (``run_folder``) holding the queue's grading release."""
    from primer.grading.backends import new_run_folder
    from primer.grading.unit import COPY_LIMITS
    from primer.safecopy import copy_tree

    run = new_run_folder(course, settings, f"{assignment}-queue")
    try:
        copy_tree(release, run / "release", limits=COPY_LIMITS)
    except BaseException:
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run


def kubernetes_run(course: Path, assignment: str, student: str, release: Path, submission: Path,
                   settings) -> tuple[Path, list[dict]]:
    """The run folder of one submission as the pod of index 0 mounts it, and the NetworkPolicy
    and one-index Job the queue creates for it (the class backend's, with one completion)."""
    from primer.grading.backends.kubernetes import manifests, stage_task

    if not settings.image:
        raise ValueError("set c.ClusterGrading.image in nbgrader_config.py to the course's image")
    manifests("check", assignment, 1, settings)  # bad settings: said before any copy
    run = queue_run(course, assignment, release, settings)
    try:
        stage_task(run, 0, student, submission, run / "release" / "release" / assignment)
    except BaseException:
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run, manifests(run.name, assignment, 1, settings)


def take_result(task_result: Path, result: Path) -> None:
    """The task's result folder, copied link-free and capped into the grading's result folder
    (left without result.json when the task wrote none: the record step says so)."""
    from primer.grading.unit import COPY_LIMITS
    from primer.safecopy import copy_tree

    if result.exists():
        shutil.rmtree(result)
    if task_result.is_dir() and not task_result.is_symlink():
        copy_tree(task_result, result, limits=COPY_LIMITS)
    else:
        result.mkdir()


def _on_slurm(run: Path, course: Path, assignment: str, student: str, submission: Path, settings,
              name: str) -> tuple[Path, list[str]]:
    """A one-task array job (the class backend's script and options), followed until it ends."""
    from primer.grading.backends.slurm import (ATTEMPTS, GRACE_SECONDS, _keep_log, _slurm, _submit,
                                               _tasks_in_queue, batch_script, sbatch_command)
    from primer.grading.unit import COPY_LIMITS, RESULT_FILE
    from primer.safecopy import copy_tree

    copy_tree(submission, run / "submitted" / student / assignment, limits=COPY_LIMITS)
    (run / "logs").mkdir()
    task_result = run / "results" / student
    task_result.mkdir(parents=True)
    (run / "grade.sh").write_text(batch_script(run, course, assignment, [student], settings,
                                               submitted=run / "submitted"))
    command = sbatch_command(run, assignment, [0], settings, [f"--comment=primer-queue:{name}"])
    jobs: list[str] = []
    try:
        for attempt in range(1, ATTEMPTS + 1):
            jobs.append(_submit(command))
            print(f"Slurm job {jobs[-1]} (attempt {attempt}): {student}'s {assignment}",
                  file=sys.stderr, flush=True)
            while _tasks_in_queue(jobs[-1:]):
                time.sleep(1)
            gone = time.monotonic()  # a shared filesystem may show the result a little late
            while not (task_result / RESULT_FILE).exists() and time.monotonic() - gone < GRACE_SECONDS:
                time.sleep(0.2)
            if (task_result / RESULT_FILE).exists():
                break
    except Cancelled:
        _slurm("scancel", *jobs)
        print(f"cancelled: scancel {' '.join(jobs)}", file=sys.stderr, flush=True)
        raise
    log = _keep_log(run, jobs, 0, run / "task.log")
    if log.is_file():
        sys.stderr.write(f"--- the Slurm task's log ({log.name})\n"
                         + log.read_text(errors="replace")[-20_000:] + "\n")
    notes = [f"ran on Slurm as job {', '.join(jobs)}"]
    if not (task_result / RESULT_FILE).exists():
        notes.append(f"the Slurm task ended without a result {len(jobs)} times (killed, out of time "
                     "or memory, or its node lost)")
    elif len(jobs) > 1:
        notes.append("its first Slurm task ended without a result: graded on retry")
    return task_result, notes


def _follow_on_kubernetes(run: Path, documents: list[dict], assignment: str,
                          student: str) -> tuple[Path, list[str]]:
    """The one-index Job, created and followed through the Kubernetes client as the class
    backend does; deleted when cancelled."""
    from primer.grading.backends.kubernetes import _apply_and_follow
    from primer.progress import Progress

    waiting = {0: student}
    progress = Progress(1, f"{assignment}: {student} on Kubernetes")
    try:
        asyncio.run(_apply_and_follow(documents, waiting, lambda ended: waiting.clear() if ended
                                      else None, 2.0, progress))
    except KeyboardInterrupt:  # _apply_and_follow deleted the Job
        raise Cancelled() from None
    finally:
        progress.close()
    return run / "results" / "0", [f"ran on Kubernetes as Job {documents[1]['metadata']['name']}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primer.queue.cluster_dispatch",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("slurm", "kubernetes"), required=True)
    for option in ("course", "assignment", "student", "release", "submission", "result", "name"):
        parser.add_argument(f"--{option}", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _cancelled)
    try:
        notes = dispatch(args.backend, Path(args.course).resolve(), args.assignment, args.student,
                         Path(args.release), Path(args.submission), Path(args.result), args.name)
    except Cancelled:
        notes = [f"cancelled on {args.backend}: the queue's time limit ran out"]
    except Exception as error:  # noqa: BLE001 - said in the journal; the record step still runs
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        notes = [f"not graded on {args.backend}: {error}"[:400]]
    print(json.dumps({"notes": notes}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
