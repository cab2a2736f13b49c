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
