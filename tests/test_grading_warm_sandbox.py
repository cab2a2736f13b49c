"""Warm sandboxes (primer/queue/warm_pool.py, primer/grading/standby.py): each used once, and
nothing of one student's grading reaches the next one's, with real sandbox accounts (as root).

The queue's own correctness on a real hub (now graded in warm sandboxes): tests/test_grading_queue.py.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.grading.sandbox import sandbox_account
from primer.grading.unit import prepare_release
from primer.queue.warm_pool import WarmPool

pytestmark = pytest.mark.root  # kernels run as sandbox accounts of their own
FIRST_ACCOUNT = 90  # primer-sandbox90 and 91: this test's own
FULL = {"test_square": [2.0, 2.0], "test_cube": [1.0, 1.0]}

# What a process of a sandbox account that got out of its sandbox would do to the next
# student on that account: kill every process of the account started after it (the next
# warm sandbox's kernel). None is known to get out (the sandbox's PID namespace ends them
# all): this stands in for one, and the pool must end it before the account is used again.
LURKER = """
import os, signal, time, psutil
born = psutil.Process().create_time()
while True:
    for process in psutil.process_iter(["uids", "create_time"]):
        if (process.pid != os.getpid() and process.info["uids"] is not None
                and process.info["uids"].real == os.getuid() and process.info["create_time"] > born):
            try:
                os.kill(process.pid, signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.05)
"""


def lurk_as(account: int) -> subprocess.Popen:
    name = sandbox_account(account)
    return subprocess.Popen(["setpriv", f"--reuid={name}", f"--regid={name}", "--clear-groups",
                             sys.executable, "-c", LURKER], cwd="/", stdout=subprocess.DEVNULL)


async def grade(pool: WarmPool, release: Path, submission: Path, scratch: Path, *, lurker=None):
    """One grading in a warm sandbox: (its result, its sandbox account, the lurker if planted)."""
    standby = await pool.take(release)
    await standby.wait_ready()
    planted = lurker(standby.account) if lurker else None  # while this student's kernel runs
    process = await pool.run(standby, {"submission": str(submission), "scratch": str(scratch / "s"),
                                       "result": str(scratch / "result"), "student": submission.parent.name,
                                       "log": str(scratch / "unit.log")})
    await process.wait()
    await pool.done(standby)
    result = json.loads((scratch / "result" / "result.json").read_text())
    return result, standby.account, planted


def test_a_students_left_over_process_cannot_reach_the_next_student_on_that_account(tmp_path):
    course = tiny_course(tmp_path / "course")
    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    notebook = answered(nbformat.read(release / "release" / ASSIGNMENT / NOTEBOOK, as_version=4))
    students = ["ada", "bob", "cy"]
    for student in students:
        write_submission(tmp_path / "submitted" / student / ASSIGNMENT, notebook)

    planted = []

    def plant(account: int) -> subprocess.Popen:
        planted.append(lurk_as(account))
        return planted[-1]

    async def three_gradings():
        pool = WarmPool(tmp_path, 1, FIRST_ACCOUNT)
        try:
            graded = []
            for student in students:
                scratch = tmp_path / f"scratch-{student}"
                scratch.mkdir()
                graded.append(await grade(pool, release, tmp_path / "submitted" / student / ASSIGNMENT,
                                          scratch, lurker=plant if student == "ada" else None))
            return graded
        finally:
            await pool.close()

    try:
        (ada, ada_account, lurker), (bob, bob_account, _), (cy, cy_account, _) = asyncio.run(
            three_gradings())
        # Bob's sandbox waited under the other account; Cy's is back on Ada's, after the sweep.
        assert (ada_account, bob_account, cy_account) == (90, 91, 90)
        assert lurker.poll() is not None, "the pool used Ada's account again with her process running"
        for result in (ada, bob, cy):
            assert result["success"], result["error"]
            assert result["notebooks"]["tiny"]["scores"] == {**result["notebooks"]["tiny"]["scores"], **FULL}
    finally:
        for process in planted:
            if process.poll() is None:
                process.kill()


def test_a_warm_kernel_has_the_releases_libraries_loaded_but_no_names_bound(tmp_path):
    """The release imports colorsys; a cell the student put first lists the notebook's names:
    colorsys is loaded in the warm kernel (imported ahead), yet the notebook has no name of it."""
    from nbformat.v4 import new_code_cell

    from grading_fixtures import cell_meta, tiny_source_notebook
    from nbgrader_course import ScratchCourse

    course = ScratchCourse(tmp_path / "course")
    source = tiny_source_notebook()
    source.cells.insert(1, new_code_cell("import colorsys", metadata=cell_meta("imports", locked=True)))
    (course.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(source, course.root / "source" / ASSIGNMENT / NOTEBOOK)
    course.generate(ASSIGNMENT)
    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    notebook = answered(nbformat.read(release / "release" / ASSIGNMENT / NOTEBOOK, as_version=4))
    notebook.cells.insert(0, new_code_cell(
        "import sys\nprint('NAMES', sorted(n for n in globals() if not n.startswith('_')), "
        "'LOADED', 'colorsys' in sys.modules)"))
    submission = write_submission(tmp_path / "submitted" / "ada" / ASSIGNMENT, notebook)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    async def one_grading():
        pool = WarmPool(tmp_path, 1, FIRST_ACCOUNT)
        try:
            return await grade(pool, release, submission, scratch)
        finally:
            await pool.close()

    result, _, _ = asyncio.run(one_grading())
    assert result["success"], result["error"]
    graded = nbformat.read(scratch / "result" / "autograded" / NOTEBOOK, as_version=4)
    printed = "".join(o.get("text", "") for o in graded.cells[0].outputs)
    assert "LOADED True" in printed, printed  # imported ahead, in the warm kernel
    names = printed.split("NAMES", 1)[1].split("LOADED")[0]
    assert "'colorsys'" not in names and "'sys'" in names, printed


def running_of(pool: WarmPool, accounts=(FIRST_ACCOUNT, FIRST_ACCOUNT + 1)) -> list[int]:
    """Every process the pool keeps: standbys, their kernels (sandbox accounts), warm judges and
    kernel zygotes."""
    import pwd

    from primer.accounts import is_running, processes_of

    pids = [s.process.pid for s in pool.ready if s.process is not None]
    pids += [warm.process.pid for kept in (pool.judges, pool.zygotes) for warm in sum(kept.values(), [])]
    pids += [pid for account in accounts for pid in processes_of(pwd.getpwnam(sandbox_account(account)).pw_uid)]
    return [pid for pid in pids if is_running(pid)]


def test_warm_sandboxes_stop_after_a_quiet_period_and_the_next_submission_is_still_graded(tmp_path):
    """Standbys hold a kernel per notebook (hundreds of MiB each for the course's notebooks):
    after ``idle`` seconds without a submission they are stopped, with the warm judges; the
    next submission starts them again and is graded as before."""
    course = tiny_course(tmp_path / "course")
    release = prepare_release(course.root, ASSIGNMENT, tmp_path / "release")
    notebook = answered(nbformat.read(release / "release" / ASSIGNMENT / NOTEBOOK, as_version=4))
    for student in ("ada", "bob"):
        write_submission(tmp_path / "submitted" / student / ASSIGNMENT, notebook)

    async def quiet_between_two_gradings():
        pool = WarmPool(tmp_path, 1, FIRST_ACCOUNT, idle=3)
        try:
            scratch = tmp_path / "scratch-ada"
            scratch.mkdir()
            ada, _, _ = await grade(pool, release, tmp_path / "submitted" / "ada" / ASSIGNMENT, scratch)
            await asyncio.gather(*(s.ready for s in pool.ready))  # the next one is started at once
            kept = running_of(pool)
            for _ in range(40):  # the quiet period, and the time to stop them
                await asyncio.sleep(0.5)
                if not pool.ready and not running_of(pool):
                    break
            after_quiet = (list(pool.ready), dict(pool.judges), dict(pool.zygotes),
                           [p for p in kept if is_running(p)])
            scratch = tmp_path / "scratch-bob"
            scratch.mkdir()
            bob, _, _ = await grade(pool, release, tmp_path / "submitted" / "bob" / ASSIGNMENT, scratch)
            return ada, kept, after_quiet, bob
        finally:
            await pool.close()

    from primer.accounts import is_running

    ada, kept, (ready, judges, zygotes, still_running), bob = asyncio.run(quiet_between_two_gradings())
    assert len(kept) >= 4, kept  # a standby, its kernel, a judge and a kernel zygote, before the quiet period
    assert (ready, judges, zygotes, still_running) == ([], {}, {}, []), "warm sandboxes kept after the quiet period"
    for result in (ada, bob):
        assert result["success"], result["error"]
        assert result["notebooks"]["tiny"]["scores"] == {**result["notebooks"]["tiny"]["scores"], **FULL}


def test_two_assignments_submitted_in_turn_keep_their_warm_sandboxes(tmp_path):
    """Students submit two assignments in turn: each keeps its standby (the pool follows the
    releases submitted to recently, not only the last one), so none is thrown away half-warm
    and each submission finds one ready."""
    course = tiny_course(tmp_path / "course")
    other = "tiny2"
    (course.root / "source" / other).mkdir()
    nbformat.write(nbformat.read(course.root / "source" / ASSIGNMENT / NOTEBOOK, as_version=4),
                   course.root / "source" / other / NOTEBOOK)
    course.generate(other)
    releases = {name: prepare_release(course.root, name, tmp_path / f"release-{name}")
                for name in (ASSIGNMENT, other)}
    for name, release in releases.items():
        notebook = answered(nbformat.read(release / "release" / name / NOTEBOOK, as_version=4))
        for student in ("ada", "bob"):
            write_submission(tmp_path / "submitted" / student / name, notebook)

    async def in_turn():
        pool = WarmPool(tmp_path, 1, FIRST_ACCOUNT)
        found_ready, results = [], []
        try:
            for student, name in (("ada", ASSIGNMENT), ("ada", other), ("bob", ASSIGNMENT), ("bob", other)):
                await asyncio.gather(*(s.ready for s in pool.ready))  # what is kept has had time
                found_ready.append(sorted(_assignment_of(s.release) for s in pool.ready if s.is_ready()))
                scratch = tmp_path / f"scratch-{student}-{name}"
                scratch.mkdir()
                results.append((await grade(pool, releases[name], tmp_path / "submitted" / student / name,
                                            scratch))[0])
            return found_ready, results
        finally:
            await pool.close()

    found_ready, results = asyncio.run(in_turn())
    # Before the third and fourth submissions, both assignments had a warm sandbox ready.
    assert found_ready[2:] == [[ASSIGNMENT, other]] * 2, found_ready
    for result in results:
        assert result["success"], result["error"]
        assert result["notebooks"]["tiny"]["scores"] == {**result["notebooks"]["tiny"]["scores"], **FULL}


def _assignment_of(release: Path) -> str:
    return next(p.name for p in (release / "release").iterdir() if p.is_dir())
