"""PRIMER_SPAWNER=slurm, for real: the course hub starts every server as a Slurm job (batchspawner).

One local Slurm cluster (the session's, conftest.slurm_cluster) and one hub
for the module, started as `make hub` does, with real Unix users. A student
logs in and their server runs as a Slurm job under their own UID, in the
hub's partition, with the course's limits, role settings and exchange; they
fetch, answer and submit; the instructor collects, grades on the same cluster
with `primer autograde --backend slurm`, generates and releases feedback; the
student fetches it. Stopping the server cancels its job.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import REPO, source_notebook
from nbgrader_course import solved_release
from primer.accounts import command_line, processes_of, run_as
from primer.testing.hub import PASSWORD_STUDENT, CourseHub, HubUser, feedback_score, wait_for

ASSIGNMENT = "01_prerequisites"
PARTITION = "hub"  # scripts/slurm-cluster: the partition whose cores many servers share
VENV_BIN = Path(sys.executable).parent
PYTHON, SINGLEUSER = (str(VENV_BIN / name).encode() for name in ("python3", "batchspawner-singleuser"))
COMMENT = "primer-hub-test"  # an extra sbatch option (PRIMER_SLURM_OPTIONS) that squeue shows
pytestmark = [pytest.mark.hub, pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_hub(slurm_cluster):
    hub = CourseHub(REPO, prefix="ps", students=2, release=ASSIGNMENT, PRIMER_SPAWNER="slurm",
                    PRIMER_SLURM_PARTITION=PARTITION, PRIMER_SLURM_TIME="30",
                    PRIMER_SLURM_OPTIONS=f"--comment={COMMENT}", PRIMER_IDLE_TIMEOUT="0",
                    PRIMER_MEM_LIMIT="1G", PRIMER_CPU_LIMIT="0.5",
                    SLURM_CONF=slurm_cluster["SLURM_CONF"])
    with hub.running():
        yield hub


@pytest.fixture(scope="module")
def student(slurm_hub):
    return HubUser(slurm_hub, slurm_hub.students[0]).log_in_and_start_server(PASSWORD_STUDENT)


def jobs_of(hub: CourseHub, user: str) -> list[dict[str, str]]:
    """The user's jobs in Slurm's queue: id, UID, state, partition, comment, memory, CPUs, time limit."""
    fields = ["id", "uid", "state", "partition", "comment", "memory", "cpus", "time_limit"]
    done = subprocess.run(["squeue", "-h", "-u", user, "-o", "%i|%U|%T|%P|%k|%m|%C|%l"],
                          env=hub.env, capture_output=True, text=True, check=True)
    return [dict(zip(fields, line.split("|"))) for line in done.stdout.splitlines()]


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def server_process(user: str) -> int:
    """The PID of the user's server: python running batchspawner-singleuser (which runs
    jupyterhub-singleuser in the same process), not the srun that started it."""
    uid = pwd.getpwnam(user).pw_uid
    pids = [pid for pid in processes_of(uid)
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [PYTHON, SINGLEUSER]]
    assert len(pids) == 1, f"not one server process runs as {user}: {[command_line(p) for p in pids]}"
    return pids[0]


def test_the_server_runs_as_a_slurm_job_of_the_student(slurm_hub, student):
    (job,) = jobs_of(slurm_hub, student.name)
    assert job["state"] == "RUNNING"
    assert job["uid"] == str(pwd.getpwnam(student.name).pw_uid)
    assert job["partition"] == PARTITION and job["comment"] == COMMENT
    # the course's limits became the job's request: 1G -> --mem=1024M, 0.5 CPU -> 1 CPU
    assert (job["memory"], job["cpus"], job["time_limit"]) == ("1G", "1", "30:00")
    # the server really is inside that job, with the student role's settings
    env = environment_of(server_process(student.name))
    assert env["SLURM_JOB_ID"] == job["id"]
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0] == str(slurm_hub.runtime / "etc" / "student")
    assert env["PRIMER_EXCHANGE_ROOT"] == str(slurm_hub.exchange)
    assert "JUPYTERHUB_API_TOKEN" in env and "CONFIGPROXY_AUTH_TOKEN" not in env
    log = Path(pwd.getpwnam(student.name).pw_dir) / f"jupyterhub_slurmspawner_{job['id']}.log"
    assert log.exists(), "the server's log is not in the student's home"


def test_fetch_submit_grade_on_slurm_and_read_feedback(slurm_hub, student):
    hub = slurm_hub
    fetched = student.assignment_action("fetch", ASSIGNMENT)
    assert {a["assignment_id"]: a["status"] for a in fetched["value"]}[ASSIGNMENT] == "fetched"
    notebook_name = source_notebook(ASSIGNMENT).name
    path = f"primer/{ASSIGNMENT}/{notebook_name}"
    answered = solved_release(Path(pwd.getpwnam(student.name).pw_dir) / path, source_notebook(ASSIGNMENT))
    saved = student.server("PUT", f"api/contents/{path}",
                           json={"type": "notebook", "format": "json", "content": answered})
    assert saved.status_code == 200, saved.text
    assert student.assignment_action("submit", ASSIGNMENT)["success"]

    nbgrader = [sys.executable, "-m", "nbgrader"]
    as_instructor = dict(cwd=hub.course, env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange),
                                              "SLURM_CONF": hub.env["SLURM_CONF"]})
    run_as(hub.instructor, nbgrader + ["collect", ASSIGNMENT], **as_instructor)
    graded = run_as(hub.instructor, [sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT,
                                     "--backend", "slurm"], check=False, **as_instructor)
    output = graded.stdout + graded.stderr
    assert graded.returncode == 0, output[-3000:]
    assert f"{ASSIGNMENT}: Slurm job " in output and "0 failed" in output, output[-3000:]

    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student.name)
        auto = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
        earned, possible = sum(g.auto_score for g in auto), sum(g.max_score for g in auto)
    assert possible > 0 and earned == possible, f"autograde on Slurm gave {earned}/{possible}"

    run_as(hub.instructor, nbgrader + ["generate_feedback", ASSIGNMENT], **as_instructor)
    run_as(hub.instructor, nbgrader + ["release_feedback", ASSIGNMENT], **as_instructor)
    student.assignment_action("fetch_feedback", ASSIGNMENT)
    folder = student.server("GET", f"api/contents/primer/{ASSIGNMENT}/feedback").json()
    (timestamp,) = [entry["path"] for entry in folder["content"]]
    page = student.server("GET", f"api/contents/{timestamp}/{notebook_name.replace('.ipynb', '.html')}")
    score, _ = feedback_score(page.json()["content"])
    assert score == pytest.approx(earned)


def test_the_grading_queue_grades_on_slurm_when_the_course_says_so(slurm_hub, student):
    """c.ClusterGrading.queue_backend = "slurm" (docs/cluster.md, "The grading queue on a cluster"):
    the queue sends the submission to the cluster as one task, run as the course owner, and
    records its result through its record step; the run's copy is removed."""
    from test_grading_queue import answered, page_score, primer_queue, rows_of, submit, wait_for_feedback

    hub = slurm_hub
    settings = hub.runtime / "etc" / "course" / "nbgrader_config.py"  # the course-wide file
    original = settings.read_text()
    settings.write_text(original + '\nc.ClusterGrading.queue_backend = "slurm"\n')
    try:
        enabled = primer_queue(hub, "enable", ASSIGNMENT)
        assert enabled.returncode == 0, enabled.stdout + enabled.stderr
        time.sleep(1.1)  # nbgrader names submissions to the second
        submit(student, answered(student, {"voxel-volume": "raise NotImplementedError()"}))
        seen: set[tuple[str, ...]] = set()  # the course owner's Slurm jobs while the queue grades

        def finished():
            jobs = subprocess.run(["squeue", "-h", "-u", hub.instructor, "-o", "%F|%j|%k"], env=hub.env,
                                  capture_output=True, text=True, check=True)
            seen.update(tuple(line.split("|")) for line in jobs.stdout.splitlines())
            rows = rows_of(hub, student.name)
            return rows and rows[-1]["state"] in ("graded", "failed") and rows[-1]
        row = wait_for(finished, 300, "the queue's grading on Slurm", every=0.3)
    finally:
        settings.write_text(original)
    assert row["state"] == "graded" and row["recorded"] == 1, row
    (ran,) = [note for note in json.loads(row["notes"]) if note.startswith("ran on Slurm as job ")]
    job = ran.removeprefix("ran on Slurm as job ")
    assert (job, f"primer-{ASSIGNMENT}", f"primer-queue:{row['id']}-1") in seen, (job, seen)
    (page,) = [p for p in wait_for_feedback(student, 1).values() if "provisional feedback" in p]
    earned = page_score(page)
    assert earned < 14 and row["score"] == earned, (earned, row)
    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student.name)
        assert sum(g.auto_score or 0 for nb in submission.notebooks for g in nb.grades
                   if g.cell.cell_type == "code") == earned  # the queue's grading is the latest
    runs = hub.course / ".primer-cluster" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "the run's copy of the submission was left behind"
    print(f"queue grading on Slurm (start -> recorded): {row['finished_at'] - row['started_at']:.1f} s")


def test_a_queue_task_slurm_loses_twice_ends_failed_with_a_note_and_the_submission_kept(slurm_hub, student):
    """Each Slurm task of the queue's grading is cancelled as it starts (a lost node, an OOM kill):
    submitted once more, then the grading ends as failed with a note; the student is told, and
    the submission is kept in submitted/ for the staff."""
    from test_grading_queue import answered, feedback, rows_of, submit

    hub = slurm_hub
    settings = hub.runtime / "etc" / "course" / "nbgrader_config.py"
    original = settings.read_text()
    settings.write_text(original + '\nc.ClusterGrading.queue_backend = "slurm"\n')
    killed: list[str] = []
    stop = threading.Event()

    def cancel_the_queues_tasks():
        while not stop.is_set():
            jobs = subprocess.run(["squeue", "-h", "-u", hub.instructor, "-o", "%F|%T|%k"], env=hub.env,
                                  capture_output=True, text=True)
            for job, state, comment in (line.split("|") for line in jobs.stdout.splitlines()):
                if comment.startswith("primer-queue:") and state == "RUNNING" and job not in killed:
                    subprocess.run(["scancel", job], env=hub.env, capture_output=True)
                    killed.append(job)
            time.sleep(0.2)

    canceller = threading.Thread(target=cancel_the_queues_tasks, daemon=True)
    canceller.start()
    try:
        time.sleep(1.1)
        before = len(rows_of(hub, student.name))
        submit(student, answered(student))

        def finished():
            rows = rows_of(hub, student.name)
            return len(rows) > before and rows[-1]["state"] in ("graded", "failed") and rows[-1]
        row = wait_for(finished, 300, "the queue's grading whose Slurm tasks are lost", every=0.5)
    finally:
        stop.set()
        canceller.join()
        settings.write_text(original)
    notes = " ".join(json.loads(row["notes"]))
    assert row["state"] == "failed" and "the Slurm task ended without a result 2 times" in notes, row
    assert len(killed) == 2 and all(job in notes for job in killed), (killed, notes)
    wait_for(lambda: any("could not be graded automatically" in page for page in feedback(student).values()),
             30, "the notice that it could not be graded")  # written just after the journal's row
    kept = hub.course / "submitted" / student.name / ASSIGNMENT
    assert (kept / source_notebook(ASSIGNMENT).name).is_file()
    assert (kept / "timestamp.txt").read_text()[:19] == row["submitted_at"][:19].replace("T", " ")


def test_stopping_the_server_cancels_its_job(slurm_hub, student):
    assert jobs_of(slurm_hub, student.name), "the student's server job is not in the queue"
    response = student.api("DELETE", f"/hub/api/users/{student.name}/server")
    assert response.status_code in (202, 204), response.text
    wait_for(lambda: not [j for j in jobs_of(slurm_hub, student.name) if j["state"] != "COMPLETED"],
             60, f"{student.name}'s server job leaving the queue")
    uid = pwd.getpwnam(student.name).pw_uid
    wait_for(lambda: not processes_of(uid), 30, f"every process of {student.name} gone")


def test_a_server_that_dies_in_its_job_is_reported_at_once(slurm_hub):
    user = HubUser(slurm_hub, slurm_hub.students[1])
    assert user.login(PASSWORD_STUDENT).status_code == 200
    user.create_token()
    uid = pwd.getpwnam(user.name).pw_uid
    killed: list[int] = []

    def kill_the_server_as_it_starts():  # as a broken venv on a node or an OOM kill would end it
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in processes_of(uid):
                try:  # a process may end between the listing and this read
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
                    if command == [PYTHON, SINGLEUSER]:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_server_as_it_starts, daemon=True)
    killer.start()
    started = time.monotonic()
    response = user.api("POST", f"/hub/api/users/{user.name}/server")
    # 500: the spawn failed within the hub's first 10 s (slow_spawn_timeout), the answer waits for it
    assert response.status_code in (202, 500), response.text

    def given_up() -> bool:
        model = user.api("GET", f"/hub/api/users/{user.name}").json()
        return not model["pending"] and not model["servers"]

    wait_for(given_up, 60, f"the hub giving up {user.name}'s dead server")
    seconds = time.monotonic() - started
    killer.join()
    assert killed, "the server process never appeared"
    # Well before start_timeout (120 s), which is all plain batchspawner would notice.
    assert seconds < 60, f"the dead server was noticed after {seconds:.0f} s (start_timeout is 120 s)"
    log = slurm_hub.log()
    assert f"{user.name}'s server job" in log and "ended before the server started" in log, log[-3000:]
    assert not [j for j in jobs_of(slurm_hub, user.name) if j["state"] in ("RUNNING", "PENDING")]


def test_a_clean_stop_cancels_the_queues_slurm_task_and_the_submission_is_graded_after_restart(
        slurm_hub, student):
    """The hub stops (and with it the grading queue) while the queue's task runs on Slurm: the
    task is cancelled, not left running for nobody; the submission waits in the journal, with
    this attempt not counted, and is graded once the hub is back. (Last in the module: it
    restarts the hub.)"""
    from test_grading_queue import answered, primer_queue, rows_of, submit

    hub = slurm_hub
    settings = hub.runtime / "etc" / "course" / "nbgrader_config.py"
    original = settings.read_text()
    settings.write_text(original + '\nc.ClusterGrading.queue_backend = "slurm"\n')
    student.start_server()  # stopped by an earlier test
    if not (Path(pwd.getpwnam(student.name).pw_dir) / "primer" / ASSIGNMENT).is_dir():
        student.assignment_action("fetch", ASSIGNMENT)  # run on its own
    assert primer_queue(hub, "enable", ASSIGNMENT).returncode == 0
    # The task runs until `until`: long enough to be running when the hub stops, over by the
    # time the hub is back (the same submission is graded again then).
    until = time.time() + 75
    time.sleep(1.1)
    before = len(rows_of(hub, student.name))
    submit(student, answered(student, {"voxel-volume": f"import time\ntime.sleep(max(0, {until} - "
                                                        "time.time()))\nraise NotImplementedError()"}))

    def queue_jobs() -> list[tuple[str, str, str]]:
        jobs = subprocess.run(["squeue", "-h", "-u", hub.instructor, "-o", "%F|%T|%k"], env=hub.env,
                              capture_output=True, text=True, check=True)
        return [tuple(line.split("|")) for line in jobs.stdout.splitlines()
                if line.split("|")[2].startswith("primer-queue:")]

    def running_task():
        rows = rows_of(hub, student.name)
        return len(rows) > before and [job for job in queue_jobs() if job[1] == "RUNNING"]
    try:
        (job, _, comment), = wait_for(running_task, 120, "the queue's task running on Slurm", every=0.3)
        hub.stop()
    finally:
        settings.write_text(original)
    assert time.time() < until - 10, "too slow to tell: the task would have ended by itself by now"
    assert queue_jobs() == [], f"the queue's Slurm task {job} ({comment}) outlived the queue"
    row = rows_of(hub, student.name)[-1]
    assert (row["state"], row["attempts"]) == ("waiting", 0), row
    runs = hub.course / ".primer-cluster" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "the cancelled run's copy was left behind"

    hub.start()
    wait_for(lambda: rows_of(hub, student.name)[-1]["state"] in ("graded", "failed"), 240,
             "the submission graded after the restart")
    row = rows_of(hub, student.name)[-1]
    assert row["state"] == "graded" and row["recorded"] == 1 and row["attempts"] == 1, row
    assert "the hub stopped while this was being graded" in row["notes"], row["notes"]
