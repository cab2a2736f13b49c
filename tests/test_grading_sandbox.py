"""`primer autograde`: a class full of hostile and broken submissions, graded in parallel.

One class is graded once, with real nbgrader through the sandbox that the
course's nbgrader_config.py sets up, and each test checks one submission:
the good ones get their points, the bad ones are contained and explained in
the class summary, and nothing outside a submission's sandbox is touched.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import socket
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.grading.sandbox import sandbox_account
from primer.accounts import processes_of

pytestmark = pytest.mark.root  # kernels run as a sandbox account of their own
HOSTILE = {
    # what the student's code does -> code placed in a cell of its own before the answers
    "snoop": """
import glob, os
found = []
for pattern in ['{root}/source/*/*', '{root}/gradebook.db', '{root}/submitted/*/*/*',
                '/root/*', '/home/*/*', '/etc/shadow', '{root}/nbgrader_config.py']:
    for path in glob.glob(pattern) or [pattern]:
        try:
            open(path, 'rb').read(1); found.append(path)
        except OSError:
            pass
print('LEAKED', found)
# Writes can only land in the sandbox's own throw-away /tmp, never on the real disk.
for target in ['{root}/gradebook.db', '{root}/source/tiny/tiny.ipynb', '{root}/injected.txt']:
    try:
        open(target, 'a').write('owned')
    except OSError:
        pass
""",
    "network": """
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('NETWORK-OPEN')
except OSError as error:
    print('network refused:', error)
""",
    "loop": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    "exit": "import os\nos._exit(1)",
    "sysexit": "import sys\nsys.exit()",
    "forkbomb": """
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60); os._exit(0)
        children += 1
except OSError as error:
    print('fork stopped after', children, 'children:', error)
""",
    "orphan": "import subprocess\nsubprocess.Popen(['sleep', '900'], start_new_session=True)",
    "many_lines": "for i in range(2_000_000):\n    print(i)",
    "long_line": "import sys\nsys.stdout.write('x' * 200_000_000)",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the sandbox tests drop to another Unix user and need root: `sudo make test`")
    course = tiny_course(tmp_path_factory.mktemp("class"))
    root = course.root
    with open(root / "nbgrader_config.py", "a") as config:
        config.write("\nc.Execute.timeout = 45\nc.SandboxedExecute.notebook_timeout = 60\n")
    release = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    submitted = root / "submitted"
    # A server of our own on loopback: the network case must not reach it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    write_submission(submitted / "good" / ASSIGNMENT, answered(release))
    write_submission(submitted / "blank" / ASSIGNMENT, release)
    for name, code in HOSTILE.items():
        notebook = answered(release)
        notebook.cells.insert(1, new_code_cell(code.format(root=root, port=listener.getsockname()[1])))
        write_submission(submitted / name / ASSIGNMENT, notebook)
    shadow_link = submitted / "symlinks" / ASSIGNMENT
    write_submission(shadow_link, answered(release))
    (shadow_link / "secret.txt").symlink_to("/etc/shadow")
    (shadow_link / "notes").symlink_to("/root")

    # Broken in other ways: staged (primer.grading.staging) before grading.
    write_submission(submitted / "badjson" / ASSIGNMENT, answered(release))
    (submitted / "badjson" / ASSIGNMENT / NOTEBOOK).write_text('{"cells": [')
    old = write_submission(submitted / "nbformat3" / ASSIGNMENT, answered(release))
    nbformat.write(nbformat.convert(answered(release), 3), old / NOTEBOOK, version=3)
    cheat = answered(release, square="return 0")
    cheat.cells = [c for c in cheat.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                   != "test_square"]
    write_submission(submitted / "deleted_test" / ASSIGNMENT, cheat)
    extra = write_submission(submitted / "extra_files" / ASSIGNMENT, answered(release))
    (extra / "data.csv").write_text("a,b\n1,2\n")
    os.close(os.open(bytes(extra) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY, 0o644))

    protected = {p: _digest(p) for p in [*(root / "source").rglob("*.ipynb"), root / "nbgrader_config.py",
                                         *(p for p in submitted.rglob("*") if p.is_file() and not p.is_symlink())]}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT, "-j", "2",
                             "--course", str(root)], capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:-1]}
    yield dict(root=root, course=course, result=result, rows=rows, seconds=seconds, listener=listener,
                protected=protected)
    listener.close()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(graded, student) -> str:
    notebook = nbformat.read(graded["root"] / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    return "".join(str(o) for cell in notebook.cells for o in cell.get("outputs", []))


def test_the_whole_class_is_graded_and_summarised(graded):
    result = graded["result"]
    assert set(graded["rows"]) >= {"good", "blank", *HOSTILE, "symlinks"}, result.stdout + result.stderr
    assert graded["course"].grades(ASSIGNMENT, "good") == {"test_square": (2.0, 2.0), "test_cube": (1.0, 1.0)}
    assert graded["course"].grades(ASSIGNMENT, "blank") == {"test_square": (0.0, 2.0), "test_cube": (0.0, 1.0)}
    assert "3 / 3" in graded["rows"]["good"]


def test_student_code_sees_no_course_files_and_writes_nothing(graded):
    assert "LEAKED []" in _outputs(graded, "snoop")
    assert not (graded["root"] / "injected.txt").exists()
    assert graded["course"].grades(ASSIGNMENT, "good")  # the gradebook is intact
    for path, digest in graded["protected"].items():
        assert _digest(path) == digest, f"{path} was changed during grading"
    assert graded["course"].grades(ASSIGNMENT, "snoop")["test_square"] == (2.0, 2.0)


def test_no_network(graded):
    output = _outputs(graded, "network")
    assert "network refused" in output and "NETWORK-OPEN" not in output
    listener = graded["listener"]
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected while the class was graded
    with socket.create_connection(listener.getsockname(), timeout=2):  # it was reachable from here
        time.sleep(0.1)
        connection, _ = listener.accept()
        connection.close()


def test_endless_loop_ignoring_ctrl_c_is_stopped_and_explained(graded):
    row = graded["rows"]["loop"]
    assert "time limit" in row, row
    assert graded["seconds"] < 300


def test_kernel_exit_is_explained_and_leaves_no_score(graded):
    row = graded["rows"]["exit"]
    assert "failed" in row and "kernel died" in row and "no score recorded" in row, row


def test_sys_exit_is_just_an_error_in_a_cell(graded):
    assert graded["course"].grades(ASSIGNMENT, "sysexit")["test_square"] == (2.0, 2.0)


def test_fork_bomb_is_bounded_and_the_student_still_graded(graded):
    assert "fork stopped after" in _outputs(graded, "forkbomb")
    assert graded["course"].grades(ASSIGNMENT, "forkbomb")["test_cube"] == (1.0, 1.0)


def test_nothing_started_by_student_code_survives(graded):
    uids = [pwd.getpwnam(sandbox_account(slot)).pw_uid for slot in (0, 1)]
    deadline = time.monotonic() + 10  # the kernel lets go of a namespace in a moment, not at once
    while any(processes_of(uid) for uid in uids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for uid in uids for pid in processes_of(uid)] == []


@pytest.mark.parametrize("student, note", [
    # 2 million short lines: our cap cuts the characters, then nbgrader's LimitOutput the lines.
    ("many_lines", "Output truncated"),
])
def test_huge_output_is_cut(graded, student, note):
    size = (graded["root"] / "autograded" / student / ASSIGNMENT / NOTEBOOK).stat().st_size
    assert size < 1_000_000, f"{student}'s graded notebook keeps {size} bytes of output"
    assert note in _outputs(graded, student)
    assert graded["course"].grades(ASSIGNMENT, student)["test_square"] == (2.0, 2.0)
    assert "output was cut" in graded["rows"][student]


def test_a_200_mb_message_is_refused_before_the_grader_reads_it(graded):
    # Over the grader's message cap (MAXMSGSIZE on iopub): dropped unread, the notebook fails.
    row = graded["rows"]["long_line"]
    assert "did not all arrive" in row and "no score recorded" in row, row


def test_symlinks_are_never_followed(graded):
    folder = graded["root"] / "autograded" / "symlinks" / ASSIGNMENT
    assert not (folder / "secret.txt").exists() and not (folder / "notes").exists()
    assert "secret.txt is a symbolic link: never followed, not copied" in graded["rows"]["symlinks"]
    shadow = open("/etc/shadow", "rb").read()[:40]
    for path in folder.rglob("*"):
        if path.is_file():
            assert shadow not in path.read_bytes()


def test_invalid_notebook_counts_as_missing_and_says_why(graded):
    row = graded["rows"]["badjson"]
    assert "not graded" in row and "not valid JSON" in row, row


def test_old_nbformat_is_upgraded_and_graded(graded):
    assert graded["course"].grades(ASSIGNMENT, "nbformat3")["test_square"] == (2.0, 2.0)


def test_deleted_test_cell_is_restored_and_reported(graded):
    assert graded["course"].grades(ASSIGNMENT, "deleted_test")["test_square"] == (0.0, 2.0)
    assert "deleted" in graded["rows"]["deleted_test"], graded["rows"]["deleted_test"]


def test_extra_files_are_kept_and_odd_names_reported(graded):
    folder = graded["root"] / "autograded" / "extra_files" / ASSIGNMENT
    assert (folder / "data.csv").read_text() == "a,b\n1,2\n"
    assert "UTF-8" in graded["rows"]["extra_files"], graded["rows"]["extra_files"]
    assert graded["course"].grades(ASSIGNMENT, "extra_files")["test_square"] == (2.0, 2.0)


def test_submissions_are_never_changed(graded):
    for path, digest in graded["protected"].items():
        assert path.exists() and _digest(path) == digest, f"{path} changed"
