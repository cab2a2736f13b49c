"""`primer autograde --backend kubernetes`, checked without a cluster (none can run here).

The printed Job and NetworkPolicy validate strictly against the API schemas
of the Kubernetes version docs/cluster.md names; every security property of
the grading pod is asserted in the manifest; and the Job's own command, with
its volume mounts mapped to folders here, run once per index with
JOB_COMPLETION_INDEX set, gives the local backend's scores once merged.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from primer.grading.backends import ClusterGrading
from primer.grading.backends.kubernetes import KUBERNETES_VERSION, local_command, manifests, prepare_run
from primer.grading.merge import merge_result
from primer.course import venv_path
from test_grading_integrity import ASSIGNMENT, FULL, NOTEBOOK, NOTHING
from test_grading_unit import CLASS, copy_course, gradebook_rows, judge_course, primer, scores

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return judge_course(tmp_path_factory.mktemp("kubernetes") / "course")


@pytest.fixture(scope="module")
def printed(course):
    done = primer("autograde", ASSIGNMENT, "--backend", "kubernetes", "--dry-run", "--course", str(course.root))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_dry_run_prints_a_network_policy_and_an_indexed_job(printed):
    policy, job = yaml.safe_load_all(printed)
    assert (policy["kind"], job["kind"]) == ("NetworkPolicy", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == len(CLASS)
    assert 1 <= spec["parallelism"] <= len(CLASS)
    assert spec["backoffLimitPerIndex"] == 1
    assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0


def test_the_manifests_validate_strictly_for_the_documented_kubernetes_version(printed, tmp_path):
    assert f"Kubernetes {KUBERNETES_VERSION}" in (REPO / "docs" / "cluster.md").read_text()
    manifest = tmp_path / "grading.yaml"
    manifest.write_text(printed)
    validate = [sys.executable, "-m", "kubernetes_validate"]  # a test tool (scripts/test-tools)
    done = subprocess.run([*validate, "--strict", "--kubernetes-version", f"{KUBERNETES_VERSION}.0",
                           str(manifest)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == 2, done.stdout
    # The check can fail: an unknown field is an error under --strict.
    broken = printed.replace("completionMode: Indexed", "completionMode: Indexed\n  indexes: all")
    manifest.write_text(broken)
    done = subprocess.run([*validate, "--strict", "--kubernetes-version", f"{KUBERNETES_VERSION}.0",
                           str(manifest)], capture_output=True, text=True)
    assert done.returncode != 0


def test_the_grading_pod_is_a_sandbox_without_credentials(printed):
    policy, job = yaml.safe_load_all(printed)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0 and pod["securityContext"]["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["restartPolicy"] == "Never"
    limits = container["resources"]["limits"]
    assert {"cpu", "memory", "ephemeral-storage"} <= set(limits)
    assert container["resources"]["requests"] == limits
    # No outbound (or inbound) network: the policy selects exactly these pods and allows nothing.
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == [] and policy["spec"]["ingress"] == []
    # No gradebook credentials: no secrets, no database URL, nothing of the course but its own task.
    text = yaml.safe_dump(pod)
    assert "secret" not in text.lower() and "db_url" not in text.lower() and "postgres" not in text.lower()
    assert all(list(env) in (["name", "value"], ["name", "valueFrom"]) for env in container["env"])
    assert not any("secretKeyRef" in str(env) for env in container["env"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/grading/release"]["readOnly"] and mounts["/grading/task"]["readOnly"]
    assert "$(TASK_INDEX)" in mounts["/grading/task"]["subPathExpr"]  # its own submission only
    assert "$(TASK_INDEX)" in mounts["/grading/result"]["subPathExpr"]
    assert "--pod" in container["command"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "hostPath" not in text and set(volumes) == {"grading", "scratch", "tmp"}


def test_the_job_run_once_per_index_gives_the_local_backends_scores(course, tmp_path):
    local = copy_course(course, tmp_path / "local")
    run = primer("autograde", ASSIGNMENT, "-j", "2", "--course", str(local.root))
    assert run.returncode == 0, run.stdout[-3000:]
    pods = copy_course(course, tmp_path / "pods")
    students = sorted(CLASS)
    folder = prepare_run(pods.root, ASSIGNMENT, students, ClusterGrading())
    (policy, job) = manifests(folder.name, ASSIGNMENT, len(students), ClusterGrading())
    command = [arg.replace("/scratch/grading", str(tmp_path / "scratch-{index}"))
               for arg in local_command(job, folder)]
    assert command[:3] == ["python", "-m", "primer.cli"]
    for index in range(job["spec"]["completions"]):
        done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PATH": venv_path(), "JOB_COMPLETION_INDEX": str(index)})
        assert done.returncode == 0, done.stderr[-3000:]
        merged = merge_result(pods.root, folder / "results" / str(index), expect_student=students[index])
        assert merged.status == "graded"
    assert scores(pods.root) == scores(local.root)
    assert scores(pods.root)["honest"] == FULL and scores(pods.root)["custom_exception"] == NOTHING
    assert merge_result(pods.root, folder / "results" / str(students.index("numpy_helpers"))).flags


def test_without_a_cluster_it_says_what_to_do_and_leaves_nothing(course, tmp_path):
    """The path that applies the Job through the Kubernetes client, on a machine with no cluster."""
    copy = copy_course(course, tmp_path / "no-cluster")
    with open(copy.root / "nbgrader_config.py", "a") as config:
        config.write('\nc.ClusterGrading.image = "registry.example/primer-course:1"\n')
    before = scores(copy.root)
    run_folder = copy.root / ".primer-cluster"
    runs_before = set(run_folder.rglob("*")) if run_folder.exists() else set()
    environment = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    done = subprocess.run([sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT, "--backend",
                           "kubernetes", "--course", str(copy.root)], capture_output=True, text=True,
                          timeout=600, env={**environment, "PATH": venv_path(),
                                            "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")})
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "no Kubernetes cluster is configured" in done.stderr and "KUBECONFIG" in done.stderr
    assert "Traceback" not in done.stderr
    runs_after = set(run_folder.rglob("*")) if run_folder.exists() else set()
    assert runs_after == runs_before, "the refused run's folder was left behind"
    assert scores(copy.root) == before


def _pod_command(job: dict, run: Path, scratch: Path) -> list[str]:
    """The Job's container command as a pod runs it, with the claim mapped to this machine."""
    command = [arg.replace("/scratch/grading", str(scratch / "scratch-{index}"))
               for arg in local_command(job, run)]
    assert command[:3] == ["python", "-m", "primer.cli"]
    return [sys.executable, *command[1:]]


def test_dry_run_then_the_job_then_primer_merge_puts_the_grades_in_the_gradebook(course, tmp_path):
    """README: `--dry-run | kubectl apply -f -`, then the documented `primer merge`, gives grades."""
    pods = copy_course(course, tmp_path / "pods")
    before = scores(pods.root)
    done = primer("autograde", ASSIGNMENT, "--backend", "kubernetes", "--dry-run", cwd=pods.root)
    assert done.returncode == 0, done.stderr[-3000:]
    policy, job = yaml.safe_load_all(done.stdout)
    (said,) = [line for line in done.stderr.splitlines() if "primer merge" in line]
    merge = shlex.split(said.lstrip("# "))
    assert merge[:3] == ["primer", "merge", ASSIGNMENT], said
    run = Path(merge[3])
    # The run folder is where the manifests look: the claim's root is the default runs root.
    claim_root = pods.root / ".primer-cluster"
    mounts = {m["mountPath"]: m for m in job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["/grading/release"]["subPath"] == f"{run.relative_to(claim_root)}/release"
    assert (claim_root / mounts["/grading/release"]["subPath"]).is_dir()
    assert f"{claim_root}" in done.stderr

    # Before the Job has run: refused, nothing recorded, the run kept.
    early = primer(*merge[1:], cwd=pods.root)
    assert early.returncode == 1 and "no result yet" in early.stderr, early.stdout + early.stderr
    assert scores(pods.root) == before and run.is_dir()

    command = _pod_command(job, run, tmp_path)
    for index in range(job["spec"]["completions"]):  # what each index's pod does
        pod = subprocess.run(command, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PATH": venv_path(), "JOB_COMPLETION_INDEX": str(index)})
        assert pod.returncode == 0, pod.stderr[-3000:]
    merged = primer(*merge[1:], cwd=pods.root)
    assert merged.returncode == 0, merged.stdout[-3000:] + merged.stderr[-3000:]
    graded = scores(pods.root)
    assert set(graded) == set(CLASS)
    assert graded["honest"] == FULL and graded["custom_exception"] == NOTHING
    assert "2 flagged for review" in merged.stdout and "  numpy_helpers: " in merged.stdout, merged.stdout
    assert not run.exists(), "the merged run's copies of the submissions were left behind"


def test_a_missing_image_setting_is_said_before_anything_is_copied(course, tmp_path):
    copy = copy_course(course, tmp_path / "no-image")
    shutil.rmtree(copy.root / ".primer-cluster", ignore_errors=True)  # the module's dry runs
    done = primer("autograde", ASSIGNMENT, "--backend", "kubernetes", "--course", str(copy.root))
    assert done.returncode == 1 and "c.ClusterGrading.image" in done.stderr, done.stderr[-2000:]
    assert not (copy.root / ".primer-cluster").exists(), "copies of the submissions were left behind"


# --------------------------------------------------------------------------- the grading queue's task

QUEUED, COLLECTED_AT = "queued", "2026-12-01 09:30:00.000000 UTC"


def _queued_grading(course, tmp_path: Path) -> tuple:
    """What the grading queue holds before it dispatches: its grading release, made from the
    course as its release() makes it, and the collected copy (with the time collect wrote)."""
    from primer.grading.unit import prepare_release

    queue = copy_course(course, tmp_path / "queue")
    release = prepare_release(queue.root, ASSIGNMENT, tmp_path / "release")
    collected = tmp_path / "work" / "submission"
    shutil.copytree(queue.root / "submitted" / "honest" / ASSIGNMENT, collected)
    (collected / "timestamp.txt").write_text(COLLECTED_AT)
    return queue, release, collected


def _record_step(queue, collected: Path, result: Path, tmp_path: Path) -> dict:
    """The queue's record step (primer.queue.record: the trusted merge), as the queue starts it."""
    done = subprocess.run([sys.executable, "-m", "primer.queue.record", "--course", str(queue.root),
                           "--assignment", ASSIGNMENT, "--student", QUEUED, "--submission", str(collected),
                           "--result", str(result), "--log", str(tmp_path / "grading.log")],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": venv_path()}, cwd=queue.root)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_queues_kubernetes_task_validates_and_its_result_goes_through_the_record_step(course, tmp_path):
    """c.ClusterGrading.queue_backend = "kubernetes": the one-index Job the grading queue creates for
    one submission validates strictly; what its pod writes (here with a forged time and a planted
    link) is recorded by the queue's own record step, with the time collect wrote."""
    from primer.grading.backends.kubernetes import to_yaml
    from primer.queue.cluster_dispatch import kubernetes_run, take_result

    queue, release, collected = _queued_grading(course, tmp_path)
    settings = ClusterGrading(image="registry.example/primer-course:1")
    run, documents = kubernetes_run(queue.root, ASSIGNMENT, QUEUED, release, collected, settings)
    policy, job = documents
    assert (policy["kind"], job["kind"]) == ("NetworkPolicy", "Job")
    assert job["spec"]["completions"] == 1 and job["spec"]["parallelism"] == 1
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == settings.image
    assert (run / "tasks" / "0" / "student.txt").read_text() == QUEUED
    manifest = tmp_path / "queue-task.yaml"
    manifest.write_text(to_yaml(documents))
    done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--kubernetes-version",
                           f"{KUBERNETES_VERSION}.0", str(manifest)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count(" passed for resource ") == 2, done.stdout + done.stderr

    pod = subprocess.run(_pod_command(job, run, tmp_path), capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PATH": venv_path(), "JOB_COMPLETION_INDEX": "0"})
    assert pod.returncode == 0, pod.stderr[-3000:]
    # Student code ran in that pod: it could have written anything into its result folder.
    task_result = run / "results" / "0"
    claimed = json.loads((task_result / "result.json").read_text())
    claimed["timestamp"] = "2020-01-01T00:00:00"
    (task_result / "result.json").write_text(json.dumps(claimed))
    (task_result / "autograded" / "leak.txt").symlink_to("/etc/passwd")
    result = tmp_path / "work" / "result"
    take_result(task_result, result)
    assert not (result / "autograded" / "leak.txt").exists()

    answer = _record_step(queue, collected, result, tmp_path)
    assert answer["status"] == "graded" and answer["score"] == 3.0, answer
    assert scores(queue.root)[QUEUED] == FULL
    assert gradebook_rows(queue.root)[QUEUED]["timestamp"] == "2026-12-01 09:30:00"  # collect's time
    assert not (queue.root / "autograded" / QUEUED / ASSIGNMENT / "leak.txt").exists()


def test_a_queue_task_kubernetes_cannot_take_fails_with_a_note_and_leaves_no_copy(course, tmp_path):
    """No cluster configured: the queue's dispatcher says so, removes its run folder, and the record
    step records the submission as failed (placed in submitted/, never lost)."""
    queue, release, collected = _queued_grading(course, tmp_path)
    with open(queue.root / "nbgrader_config.py", "a") as config:
        config.write('\nc.ClusterGrading.image = "registry.example/primer-course:1"\n')
    result = tmp_path / "work" / "result"
    runs = queue.root / ".primer-cluster" / "runs"
    runs_before = set(runs.iterdir()) if runs.exists() else set()  # the module's dry runs
    environment = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    done = subprocess.run([sys.executable, "-m", "primer.queue.cluster_dispatch", "--backend", "kubernetes",
                           "--course", str(queue.root), "--assignment", ASSIGNMENT, "--student", QUEUED,
                           "--release", str(release), "--submission", str(collected),
                           "--result", str(result), "--name", "1-1"],
                          capture_output=True, text=True, timeout=600, cwd=queue.root,
                          env={**environment, "PATH": venv_path(),
                               "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")})
    assert done.returncode == 0, done.stderr[-3000:]
    (note,) = json.loads(done.stdout.splitlines()[-1])["notes"]
    assert "not graded on kubernetes" in note and "no Kubernetes cluster is configured" in note, note
    assert (set(runs.iterdir()) if runs.exists() else set()) == runs_before, "the task's copy was left behind"
    answer = _record_step(queue, collected, result, tmp_path)
    assert answer["status"] == "failed" and "is missing" in " ".join(answer["notes"]), answer
    assert (queue.root / "submitted" / QUEUED / ASSIGNMENT / NOTEBOOK).is_file()
