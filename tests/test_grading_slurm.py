"""`primer autograde --backend slurm`, for real, on a one-node Slurm cluster the tests start themselves.

A small hostile class is graded as one array job: the scores equal the local
backend's, tampering is flagged, a task killed mid-way is submitted again and
graded, a task that never gets a result is reported, sbatch options reach
Slurm, and Ctrl-C cancels the job.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO
from primer.course import venv_path
from primer.grading.backends.slurm import LOCAL_CLUSTER_DIR, SYSTEM_CONF
from test_grading_integrity import ASSIGNMENT, FULL, NOTHING
from test_grading_unit import CLASS, copy_course, judge_course, primer, scores

# Index order is the students' sorted order: "wrong" is killed once, "unlucky" every time.
# Both stay running for seconds, so the killer (polling squeue) always sees them running:
# a task that finished between two polls would never be killed.
SLOW = "import time\ntime.sleep(8)"
SLURM_CLASS = {**CLASS, "wrong": (*CLASS["wrong"][:2], SLOW), "unlucky": (*CLASS["honest"][:2], SLOW)}
KILLED_ONCE, ALWAYS_KILLED = "wrong", "unlucky"
COMMENT = "sbatch-option-from-the-test"


@pytest.fixture(scope="module")
def slurm(slurm_cluster):
    return slurm_cluster  # the session's cluster (conftest.py), shared with test_hub_slurm.py


def _queue(env) -> list[tuple[str, str, str, str]]:
    """(job, index, state, comment) of every task in the queue."""
    done = subprocess.run(["squeue", "-h", "-r", "-o", "%F|%K|%T|%k"], env=env, capture_output=True, text=True)
    return [tuple(line.split("|")) for line in done.stdout.splitlines() if line.count("|") == 3]


class TaskKiller(threading.Thread):
    """Cancels tasks by index as Slurm shows them, as a lost node or an OOM kill would end them."""

    def __init__(self, env, once: int, always: int):
        super().__init__(daemon=True)
        self.env, self.once, self.always = env, str(once), str(always)
        self.killed: list[str] = []
        self.comments: set[str] = set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for job, index, state, comment in _queue(self.env):
                self.comments.add(comment)
                task = f"{job}_{index}"
                first_time = index == self.once and not any(k.endswith(f"_{self.once}") for k in self.killed)
                if state == "RUNNING" and task not in self.killed and (first_time or index == self.always):
                    subprocess.run(["scancel", task], env=self.env, capture_output=True)
                    self.killed.append(task)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def graded(slurm, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    template = judge_course(base / "template", SLURM_CLASS)
    local = copy_course(template, base / "local")
    local_run = primer("autograde", ASSIGNMENT, "-j", "2", "--course", str(local.root))
    on_slurm = copy_course(template, base / "slurm")
    students = sorted(SLURM_CLASS)
    killer = TaskKiller(slurm, once=students.index(KILLED_ONCE), always=students.index(ALWAYS_KILLED))
    killer.start()
    started = time.monotonic()
    try:
        run = primer("autograde", ASSIGNMENT, "--backend", "slurm", "--course", str(on_slurm.root),
                     f"--sbatch-option=--comment={COMMENT}", env=slurm)
    finally:
        killer.stop.set()
        killer.join()
    return dict(local=local, slurm=on_slurm, log=run.stdout + run.stderr, returncode=run.returncode,
                local_log=local_run.stdout + local_run.stderr, killer=killer,
                seconds=time.monotonic() - started)


def test_slurm_gives_the_local_backends_scores(graded):
    on_slurm, local = scores(graded["slurm"].root), scores(graded["local"].root)
    assert ALWAYS_KILLED not in on_slurm  # never graded: reported, nothing recorded
    assert on_slurm == {s: v for s, v in local.items() if s != ALWAYS_KILLED}, graded["log"][-3000:]
    assert on_slurm["honest"] == FULL and on_slurm["numpy_helpers"] == NOTHING


def test_tampering_is_flagged_on_slurm(graded):
    log = graded["log"]
    assert "2 flagged for review" in log, log[-3000:]
    assert "  numpy_helpers: judge.ipynb: test_" in log and "  custom_exception: judge.ipynb: test_" in log


def test_a_killed_task_is_run_again_and_a_task_that_never_finishes_is_reported(graded):
    log = graded["log"]
    killed = graded["killer"].killed
    assert any(k.endswith(f"_{sorted(SLURM_CLASS).index(KILLED_ONCE)}") for k in killed), killed
    line = next(line for line in log.splitlines() if line.startswith(f"{KILLED_ONCE} "))
    assert "graded on retry" in line and " graded " in line, log[-3000:]
    line = next(line for line in log.splitlines() if line.startswith(f"{ALWAYS_KILLED} "))
    assert " failed " in line and "no result after 2 tasks" in line and "the task did not finish" in line
    assert graded["returncode"] == 3  # a failed submission: the command says so
    assert scores(graded["slurm"].root)["wrong"] == NOTHING


def test_sbatch_options_reach_slurm_and_progress_is_shown(graded):
    assert COMMENT in graded["killer"].comments
    assert f"{ASSIGNMENT}: Slurm job " in graded["log"] and " running, " in graded["log"]
    assert f"{ASSIGNMENT}: autograde on Slurm: {len(SLURM_CLASS)}/{len(SLURM_CLASS)} [" in graded["log"]
    assert "ended without a result: submitted again" in graded["log"]


def test_ctrl_c_cancels_the_job(slurm, tmp_path):
    course = judge_course(tmp_path / "course", {"honest": CLASS["honest"], "wrong": CLASS["wrong"]})
    process = subprocess.Popen([sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT,
                                "--backend", "slurm", "--course", str(course.root),
                                "--sbatch-option=--begin=now+600"],  # held: still queued at Ctrl-C
                               env={**slurm, "PATH": venv_path()}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not _queue(slurm) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queue(slurm), "the grading job never reached the queue"
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert "cancelled: scancel" in output, output[-3000:]
    assert "grading was cancelled (Ctrl-C)" in output
    deadline = time.monotonic() + 30
    while _queue(slurm) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queue(slurm) == []


def test_the_cluster_make_slurm_started_is_found_without_exporting_slurm_conf(slurm, tmp_path):
    """README: `make slurm`, then `primer autograde A --backend slurm`, nothing exported."""
    script = (REPO / "scripts" / "slurm-cluster").read_text()
    assert f"dir=${{PRIMER_SLURM_DIR:-{LOCAL_CLUSTER_DIR}}}" in script  # where `make slurm` puts it
    course = judge_course(tmp_path / "course", {"honest": CLASS["honest"]})
    done = primer("autograde", ASSIGNMENT, "--backend", "slurm", "--course", str(course.root),
                  env={**slurm, "SLURM_CONF": ""})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert scores(course.root)["honest"] == FULL
    assert not (course.root / ".primer-cluster" / "runs").exists() or not any(
        (course.root / ".primer-cluster" / "runs").iterdir()), "the run's copies were left behind"


def test_an_sbatch_refusal_is_said_and_leaves_no_copies_behind(slurm, tmp_path):
    course = judge_course(tmp_path / "course", {"honest": CLASS["honest"]})
    done = primer("autograde", ASSIGNMENT, "--backend", "slurm", "--course", str(course.root),
                  "--sbatch-option=--partition=no-such-partition", env=slurm)
    assert done.returncode == 1 and "sbatch refused the grading job" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    leftovers = list((course.root / ".primer-cluster").rglob("*.ipynb"))
    assert not leftovers, f"copies of submissions left behind: {leftovers}"


def test_without_any_slurm_configuration_it_says_what_to_export(tmp_path):
    """No cluster needed: no SLURM_CONF, no /etc/slurm/slurm.conf, no `make slurm` cluster."""
    assert not SYSTEM_CONF.exists(), f"this check needs a machine without {SYSTEM_CONF}"
    course = judge_course(tmp_path / "course", {"honest": CLASS["honest"]})
    done = primer("autograde", ASSIGNMENT, "--backend", "slurm", "--course", str(course.root),
                  env={"SLURM_CONF": "", "PRIMER_SLURM_DIR": str(tmp_path / "no-cluster")})
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "make slurm" in done.stderr and "export SLURM_CONF=" in done.stderr, done.stderr
    assert "resolve_ctls_from_dns_srv" not in done.stderr and "Traceback" not in done.stderr
    assert not (course.root / ".primer-cluster").exists()


def test_the_queues_slurm_task_is_cancelled_when_its_time_runs_out(slurm, tmp_path):
    """The grading queue's dispatcher (primer/queue/cluster_dispatch.py) gets SIGTERM when the
    queue's time limit runs out: it cancels its Slurm task, removes the run's copy of the
    submission and says so; no result is left to record."""
    from primer.grading.unit import prepare_release

    course = judge_course(tmp_path / "course", {"honest": CLASS["honest"]})
    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    result = tmp_path / "work" / "result"
    process = subprocess.Popen(
        [sys.executable, "-m", "primer.queue.cluster_dispatch", "--backend", "slurm",
         "--course", str(course.root), "--assignment", ASSIGNMENT, "--student", "honest",
         "--release", str(release), "--submission", str(course.root / "submitted" / "honest" / ASSIGNMENT),
         "--result", str(result), "--name", "7-1"],
        env={**slurm, "PATH": venv_path()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not [t for t in _queue(slurm) if t[3] == "primer-queue:7-1"] and time.monotonic() < deadline:
        time.sleep(0.1)
    (job, *_), = [t for t in _queue(slurm) if t[3] == "primer-queue:7-1"]
    process.send_signal(signal.SIGTERM)
    output, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors[-3000:]
    assert json.loads(output.splitlines()[-1]) == {
        "notes": ["cancelled on slurm: the queue's time limit ran out"]}, output
    assert f"cancelled: scancel {job}" in errors, errors[-3000:]
    deadline = time.monotonic() + 30
    while [t for t in _queue(slurm) if t[0] == job] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [t for t in _queue(slurm) if t[0] == job], "the cancelled task is still in Slurm's queue"
    runs = course.root / ".primer-cluster" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "the run's copy of the submission was left behind"
    assert not (result / "result.json").exists()
