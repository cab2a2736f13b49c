"""`primer autograde A --backend kubernetes`: one Indexed Job per assignment, one index per submission.

The grading pod is the sandbox (bubblewrap does not run in a default pod): it
runs as a non-root user with a read-only root filesystem, every capability
dropped, no service-account token, no outbound network (a NetworkPolicy that
selects it and allows nothing) and resource limits. It holds no gradebook
credentials: it sees the grading release (read only), its own submission
(read only) and its own result folder, each a sub-folder of the run folder on
a ReadWriteMany volume; this process merges every result into the gradebook.

``--dry-run`` prints the manifests for ``kubectl apply -f -`` and leaves the
run folder for the pods; ``primer merge`` (``merge_run``) records the finished
run in the gradebook and removes the folder. Without it they
are applied through the Kubernetes Python client (kubernetes_asyncio, as
KubeSpawner) and the results merged as indexes complete; no cluster can run
where this course is developed, so only its refusal without a cluster is
tested here: docs/cluster.md lists what a first real run must prove.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import yaml

from primer.grading.backends import RUNS, ClusterGrading, cluster_settings, new_run_folder, runs_root
from primer.grading.parallel import SubmissionResult, _class_results, finish, record_merge, step_note
from primer.progress import Progress
from primer.grading.unit import RESULT_FILE, check_name, prepare_release

KUBERNETES_VERSION = "1.33"  # backoffLimitPerIndex is GA from 1.33; docs/cluster.md names it
MOUNT = "/grading"
INDEX_VARIABLE = "TASK_INDEX"


def _quantity(memory: str) -> str:
    """Slurm-style 4G -> Kubernetes 4Gi."""
    match = re.fullmatch(r"(\d+)([KMGT]?)", memory.strip().upper())
    if not match:
        raise ValueError(f"ClusterGrading.memory = {memory!r}: write it as 4G, 2048M, ...")
    number, unit = match.groups()
    return f"{number}{unit.title()}i" if unit else number


def claim_path(run_name: str) -> str:
    """Where a run folder is on the volume claim, whose root is the runs root (runs_root)."""
    return f"{RUNS}/{run_name}"


def manifests(run_name: str, assignment: str, count: int, settings: ClusterGrading) -> list[dict]:
    """The NetworkPolicy and the Indexed Job grading ``count`` submissions of ``assignment``."""
    name = f"primer-grade-{run_name}".lower()[:63].rstrip("-")
    labels = {"app.kubernetes.io/name": "primer-grading", "primer.course/run": name}
    memory = _quantity(settings.memory)
    resources = {"cpu": str(settings.cpus_per_task), "memory": memory, "ephemeral-storage": "2Gi"}
    run_path = claim_path(run_name)
    container = {
        "name": "grade",
        "image": settings.image or "REPLACE-WITH-THE-COURSE-IMAGE",
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "primer.cli", "grade-one", "--pod",
                    "--release", f"{MOUNT}/release", "--submission", f"{MOUNT}/task/{assignment}",
                    "--scratch", "/scratch/grading", "--result", f"{MOUNT}/result"],
        "env": [
            {"name": INDEX_VARIABLE, "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
            # Everything Jupyter writes goes to the scratch volume: the root filesystem is read-only.
            {"name": "HOME", "value": "/scratch/home"},
            {"name": "JUPYTER_RUNTIME_DIR", "value": "/scratch/runtime"},
            {"name": "IPYTHONDIR", "value": "/scratch/ipython"},
            {"name": "MPLCONFIGDIR", "value": "/scratch/matplotlib"},
        ],
        "resources": {"requests": resources, "limits": resources},
        "securityContext": {"runAsNonRoot": True, "runAsUser": settings.run_as_user,
                            "runAsGroup": settings.run_as_user, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False, "privileged": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [
            {"name": "grading", "mountPath": f"{MOUNT}/release", "subPath": f"{run_path}/release",
             "readOnly": True},
            {"name": "grading", "mountPath": f"{MOUNT}/task",
             "subPathExpr": f"{run_path}/tasks/$({INDEX_VARIABLE})", "readOnly": True},
            {"name": "grading", "mountPath": f"{MOUNT}/result",
             "subPathExpr": f"{run_path}/results/$({INDEX_VARIABLE})"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed", "completions": count,
            "parallelism": min(count, settings.max_parallel or count),
            "backoffLimitPerIndex": 1,  # a pod that fails is run once more, then reported
            "maxFailedIndexes": count,
            "activeDeadlineSeconds": 60 * settings.time_limit_minutes * max(1, -(-count // (
                settings.max_parallel or count))),
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": settings.run_as_user,
                                        "runAsGroup": settings.run_as_user,
                                        "fsGroup": settings.run_as_user,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "activeDeadlineSeconds": 60 * settings.time_limit_minutes,
                    "containers": [container],
                    "volumes": [
                        {"name": "grading", "persistentVolumeClaim": {"claimName": settings.volume_claim}},
                        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        # Selects the grading pods and allows nothing in or out.
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [], "egress": []},
    }
    return [policy, job]


def to_yaml(documents: list[dict]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)


def prepare_run(course: Path, assignment: str, queue: list[str], settings: ClusterGrading) -> Path:
    """The run folder the pods mount: release/, tasks/<index>/{student.txt,<assignment>/}, results/<index>/."""
    run = new_run_folder(course, settings, assignment)
    try:
        prepare_release(course, assignment, run / "release")
        for index, student in enumerate(queue):
            stage_task(run, index, student, course / "submitted" / student / assignment,
                       course / "release" / assignment)
    except BaseException:  # copies of submissions are never left behind
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run


def stage_task(run: Path, index: int, student: str, submission: Path, release: Path) -> None:
    """tasks/<index>/{student.txt,<assignment>/} and an empty results/<index>/ in ``run``: what
    the pod of ``index`` mounts (the class run, and the grading queue's one-task runs)."""
    from primer.grading.staging import stage_submission

    task = run / "tasks" / str(index)
    task.mkdir(parents=True)
    (task / "student.txt").write_text(check_name("student", student))
    # A link-free copy of this one submission: a pod sees nothing of the others.
    stage_submission(submission, release, task / release.name)
    (run / "results" / str(index)).mkdir(parents=True)


def autograde_on_kubernetes(course: Path, assignment: str, students: list[str] | None = None,
                            dry_run: bool = False, poll_seconds: float = 5.0
                            ) -> list[SubmissionResult] | None:
    course = Path(course).resolve()
    settings = cluster_settings(course)
    results, queue = _class_results(course, assignment, students)
    if not queue:
        finish(course, assignment, results)
        return list(results.values())
    if not settings.image and not dry_run:
        raise ValueError("set c.ClusterGrading.image in nbgrader_config.py to the course's image")
    documents = manifests("check", assignment, len(queue), settings)  # bad settings: before any copy
    run = prepare_run(course, assignment, queue, settings)
    documents = manifests(run.name, assignment, len(queue), settings)
    if dry_run:
        print(to_yaml(documents))
        print(f"# Run folder: {run}. The volume claim {settings.volume_claim!r} must hold "
              f"{runs_root(course, settings)} at its root, so that this run is "
              f"{claim_path(run.name)} on it. When the Job has completed, record the grades:\n"
              f"#   primer merge {assignment} {run}", file=sys.stderr)
        return None
    waiting = dict(enumerate(queue))
    log_hint = Path(f"kubectl logs -n {settings.namespace} job/{documents[1]['metadata']['name']}")

    progress = Progress(len(queue), f"{assignment}: autograde on Kubernetes")

    def merge(indexes: list[int]) -> None:
        for index in indexes:
            student = waiting.pop(index, None)
            if student is not None:
                record_merge(course, assignment, results[student], run / "results" / str(index), log_hint)
                progress.step(step_note(results[student]))

    try:
        asyncio.run(_apply_and_follow(documents, waiting, merge, poll_seconds, progress))
    except KeyboardInterrupt:
        progress.say(f"{assignment}: cancelled: the Job was deleted")
        for student in waiting.values():
            results[student].status = "failed"
            results[student].notes.append("grading was cancelled (Ctrl-C) before its pod ended")
    finally:  # what the pods wrote is merged; after an error or Ctrl-C no pod reads it any more
        progress.close()
        shutil.rmtree(run, ignore_errors=True)
    finish(course, assignment, results)
    return list(results.values())


def merge_run(course: Path, assignment: str, run: Path | str, partial: bool = False
              ) -> list[SubmissionResult]:
    """`primer merge A RUN`: record a finished run (``--dry-run`` then ``kubectl apply``) in the
    gradebook through the trusted merge, then remove the run folder (it holds copies of
    submissions). If an index has no result yet, nothing is recorded and the folder stays,
    unless ``partial``: then those submissions are reported as failed."""
    course = Path(course).resolve()
    run = Path(run).resolve()
    check_name("assignment", assignment)
    tasks = run / "tasks"
    if not tasks.is_dir() or not (run / "release").is_dir():
        raise ValueError(f"{run} is not a grading run folder (no tasks/ and release/): give the folder "
                         f"`primer autograde {assignment} --backend kubernetes --dry-run` named")
    if not run.name.startswith(f"{assignment}-"):
        raise ValueError(f"{run} is a run of another assignment ({run.name}), not of {assignment}")
    indexes = sorted(int(p.name) for p in tasks.iterdir() if p.name.isdigit())
    # student.txt was written by prepare_run, on this side; the pods mount tasks/ read only.
    students = {index: check_name("student", (tasks / str(index) / "student.txt").read_text().strip())
                for index in indexes}
    missing = [index for index in indexes if not (run / "results" / str(index) / RESULT_FILE).is_file()]
    if missing and not partial:
        raise ValueError(f"the run has no result yet for {len(missing)} of {len(indexes)} submissions "
                         f"(indexes {', '.join(map(str, missing[:20]))}): wait until the Job has "
                         "completed (kubectl get job -n <namespace>), then run this again; an index "
                         "that failed twice will never have one: then add --partial to record the "
                         "others, and grade those students again (`primer autograde ... --student NAME`)")
    results = {student: SubmissionResult(student) for student in students.values()}
    for index, student in students.items():
        record_merge(course, assignment, results[student], run / "results" / str(index),
                     Path(f"kubectl logs (index {index})"))
    finish(course, assignment, results)
    shutil.rmtree(run, ignore_errors=True)
    return list(results.values())


async def _apply_and_follow(documents: list[dict], waiting: dict, merge, poll_seconds: float,
                            progress: Progress) -> None:
    """Create the NetworkPolicy, then the Job, with the Kubernetes Python client (the one
    KubeSpawner uses); merge indexes as the Job reports them; delete the Job if interrupted."""
    from kubernetes_asyncio import client, config

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):  # inside a pod: its service account
            config.load_incluster_config()
        else:
            await config.load_kube_config()
    except (config.ConfigException, OSError, TypeError) as error:
        raise RuntimeError(f"no Kubernetes cluster is configured ({error}): point KUBECONFIG at the "
                           "cluster's kubeconfig, or print the manifests with --dry-run and apply "
                           "them with kubectl yourself") from None
    policy, job = documents
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    async with client.ApiClient() as api:
        batch = client.BatchV1Api(api)
        try:
            # Policy first: no grading pod ever exists without it.
            await client.NetworkingV1Api(api).create_namespaced_network_policy(namespace, policy)
            await batch.create_namespaced_job(namespace, job)
        except client.ApiException as error:
            raise RuntimeError(f"Kubernetes refused the grading Job in namespace {namespace!r}: "
                               f"{error.status} {error.reason}: {error.body}") from None
        try:
            while waiting:
                await asyncio.sleep(poll_seconds)
                status = (await batch.read_namespaced_job_status(name, namespace)).status
                ended = (_indexes(status.completed_indexes or "")
                         | _indexes(status.failed_indexes or ""))
                finished = any(c.type in ("Complete", "Failed") and c.status == "True"
                               for c in status.conditions or [])
                merge(sorted(set(waiting) if finished else ended))
                if waiting:  # what the wait is for: pods running, the rest not started yet
                    active = status.active or 0
                    progress.status(f"{active} running, {max(len(waiting) - active, 0)} waiting")
        except (asyncio.CancelledError, KeyboardInterrupt):
            await batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
            raise KeyboardInterrupt from None


def _indexes(text: str) -> set[int]:
    """Kubernetes' "1,3-5" -> {1, 3, 4, 5}."""
    found = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def local_command(job: dict, run: Path) -> list[str]:
    """The Job's container command with its volume mounts mapped to ``run`` on this machine
    and the index left as ``{index}``: the Kubernetes path, run here (tests, and a dry rehearsal)."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    mounts = {}
    prefix = claim_path(run.name) + "/"
    for mount in container["volumeMounts"]:
        sub = mount.get("subPath") or mount.get("subPathExpr")
        if mount["name"] == "grading":
            mounts[mount["mountPath"]] = str(run / sub.removeprefix(prefix).replace(
                f"$({INDEX_VARIABLE})", "{index}"))
    command = []
    for argument in container["command"]:
        for mount_path, local in mounts.items():
            if argument == mount_path or argument.startswith(mount_path + "/"):
                argument = local + argument[len(mount_path):]
        command.append(argument)
    return command
