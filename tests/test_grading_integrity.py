"""One hostile class, graded on all three paths: `primer autograde`, plain `nbgrader autograde`
and the formgrader's Autograde button (nbgrader's API, as the button calls it).

Every submission that changes how later cells run or are judged (input and
AST transformers, a custom exception handler, event hooks, sys.settrace,
patched numpy/math helpers and builtins, replaced streams, a patched shell
method) carries wrong answers: on today's nbgrader several of them score full
marks. Here each one must score what its answers earn (nothing), be flagged
for a person on every path, with the same scores everywhere; honest work,
right or wrong, is never flagged. An answer that loads the results the
course provides for unanswered exercises keeps its score but is flagged for
a person on every path. Links planted in a submission folder never
reach the kernel, autograded/ or the feedback on any path.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook

from conftest import nbgrader_meta
from grading_fixtures import cell_meta, python_notebook
from nbgrader_course import ScratchCourse
from primer.course import venv_path

pytestmark = pytest.mark.root  # kernels run as sandbox accounts, inside a memory cgroup

ASSIGNMENT, NOTEBOOK = "judge", "judge.ipynb"
SECRET = "the-instructors-secret-solution-7f3a"

CHEATS = {
    "input_transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "input_transformer_post": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
    "ast_transformer": """
import ast
class Empty(ast.NodeTransformer):
    def visit_Module(self, node):
        node.body = []
        return node
get_ipython().ast_transformers.append(Empty())""",
    "custom_exception": "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)",
    "event_hook": """
def hide(result):
    result.error_in_exec = None
get_ipython().events.register('post_run_cell', hide)""",
    "settrace": """
import sys
def tracer(frame, event, arg):
    return tracer
sys.settrace(tracer)""",
    "numpy_helpers": """
import numpy, numpy.testing
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
assert_allclose = lambda *args, **kwargs: None""",
    "math_isclose": "import math\nmath.isclose = lambda *args, **kwargs: True",
    "builtins": "import builtins\nbuiltins.all = lambda *args: True",
    "stream": "import io, sys\nsys.stdout = io.StringIO()",
    "shell_method": """
shell = get_ipython()
real = shell.run_cell_async
async def only_pass(raw_cell, *args, **kwargs):
    return await real('pass', *args, **kwargs)
shell.run_cell_async = only_pass""",
    "fake_module": """
import sys, types
fake = types.ModuleType('math')
fake.isclose = lambda *args, **kwargs: True
sys.modules['math'] = fake""",
    "kernel_session": """
session = get_ipython().kernel.session
real_send = session.send
def send(stream, msg_or_type, content=None, *args, **kwargs):
    if msg_or_type == 'error':
        return None
    if msg_or_type == 'execute_reply' and content and content.get('status') == 'error':
        content = {'status': 'ok', 'execution_count': content.get('execution_count'),
                   'user_expressions': {}, 'payload': []}
    return real_send(stream, msg_or_type, content, *args, **kwargs)
session.send = send""",
}
HONEST = {"honest": ("return x * x", "return x ** 3"), "wrong": ("return x + x", "return 3 * x")}
# Right, but the answer cell reaches for the course's provided results (there are none here).
USES_PROVIDED = """
try:
    from primer.exercise import load_provided
    provided = load_provided('judge_square')
except FileNotFoundError:
    provided = None"""
FULL = {"test_square": (2.0, 2.0), "test_cube": (1.0, 1.0)}
NOTHING = {"test_square": (0.0, 2.0), "test_cube": (0.0, 1.0)}


def judge_source():
    """An assignment whose tests judge with numpy.testing, numpy.allclose, math.isclose and all()."""
    cells = [
        new_markdown_cell("# Judge\nWrite `square` and `cube`.", metadata=cell_meta("intro", locked=True)),
        new_code_cell("import math\nimport numpy as np\nfrom numpy.testing import assert_allclose\n"
                      "from primer.exercise import answer_or_provided",
                      metadata=cell_meta("setup", locked=True)),
        new_code_cell(f"def square(x):\n    ### BEGIN SOLUTION\n    # {SECRET}\n    return x * x\n"
                      "    ### END SOLUTION", metadata=cell_meta("square", solution=True)),
        new_code_cell("assert_allclose(square(np.arange(4)), [0, 1, 4, 9])\n"
                      "assert np.allclose(square(np.ones(2)), 1)\n"
                      "assert math.isclose(square(1.5), 2.25)\n"
                      "assert all(square(x) == x * x for x in range(5))",
                      metadata=cell_meta("test_square", grade=True, locked=True, points=2)),
        # The course's own fallback, as the course notebooks have it: never flagged.
        new_code_cell("nine = answer_or_provided('Exercise 1 (square)', lambda: square(3), lambda: 9)",
                      metadata=cell_meta("square_or_provided", locked=True)),
        new_code_cell("def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
                      metadata=cell_meta("cube", solution=True)),
        new_code_cell("assert cube(2) == 8\nassert cube(-1) == -1",
                      metadata=cell_meta("test_cube", grade=True, locked=True, points=1)),
    ]
    return python_notebook(cells)


def _answer(release, square: str, cube: str, before: str = ""):
    notebook = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id == "square":
            cell.source = f"{before}\ndef square(x):\n    {square}"
        elif grade_id == "cube":
            cell.source = f"def cube(x):\n    {cube}"
    return notebook


def _class(course: ScratchCourse) -> list[str]:
    """Submit the hostile class into ``course``; return the students."""
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, (square, cube) in HONEST.items():
        course.submit(student, ASSIGNMENT, _answer(release, square, cube))
    for student, cheat in CHEATS.items():
        course.submit(student, ASSIGNMENT, _answer(release, "return 0", "return 0", before=cheat))
    course.submit("uses_provided", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3",
                                                       before=USES_PROVIDED))
    # Links planted in the submission folder: to the solution, and as the notebook itself.
    solution = course.root / "source" / ASSIGNMENT / NOTEBOOK
    linked = course.submit("linked_file", ASSIGNMENT, _answer(
        release, "return x * x", "return x ** 3",
        before="print('PEEK', open('notes.txt').read() if __import__('os').path.exists('notes.txt') else '')"))
    (linked / "notes.txt").symlink_to(solution)
    notebook_link = course.root / "submitted" / "linked_notebook" / ASSIGNMENT
    notebook_link.mkdir(parents=True)
    (notebook_link / NOTEBOOK).symlink_to(solution)
    # Test cells deleted, wrong answers: the release's tests come back on every path.
    deleted = _answer(release, "return 0", "return 0")
    deleted.cells = [c for c in deleted.cells if not nbgrader_meta(c).get("grade")]
    course.submit("deleted_tests", ASSIGNMENT, deleted)
    for folder in (course.root / "submitted").iterdir():
        (folder / ASSIGNMENT / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    return sorted(p.name for p in (course.root / "submitted").iterdir())


FORMGRADER_BUTTON = """
import json, sys
from nbgrader.apps.baseapp import NbGrader
from nbgrader.apps import NbGraderAPI
app = NbGrader()
app.initialize([])  # reads the course's nbgrader_config.py from the folder it runs in
api = NbGraderAPI(app.coursedir, parent=app)
for student in sys.argv[2:]:
    print(json.dumps({"student": student, **api.autograde(sys.argv[1], student)}))
"""


def _grade(path: str, course: ScratchCourse, students: list[str]) -> str:
    env = {**os.environ, "PATH": venv_path()}
    if path == "primer":  # started from elsewhere: it must still read the course's own config
        command = [sys.executable, "-m", "primer.cli", "autograde", ASSIGNMENT, "-j", "2",
                   "--course", str(course.root)]
        cwd = "/"
    elif path == "nbgrader":
        command = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"]
        cwd = course.root
    else:
        command = [sys.executable, "-c", FORMGRADER_BUTTON, ASSIGNMENT, *students]
        cwd = course.root
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    return result.stdout + result.stderr


def _digests(root: Path) -> dict[Path, str]:
    folders = [root / "source", root / "release", root / "submitted"]
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for folder in folders
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    template = ScratchCourse(base / "template")
    (template.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(judge_source(), template.root / "source" / ASSIGNMENT / NOTEBOOK)
    template.generate(ASSIGNMENT)
    runs = {}
    for path in ("primer", "nbgrader", "formgrader"):
        root = base / path
        shutil.copytree(template.root, root, symlinks=True)
        course = ScratchCourse.__new__(ScratchCourse)
        course.root = root
        students = _class(course)
        before = _digests(root)
        log = _grade(path, course, students)
        runs[path] = dict(course=course, students=students, log=log, before=before)
    return runs


def _scores(run, student):
    with Gradebook(f"sqlite:///{run['course'].root / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, student)
        except Exception:
            return None
        scores = {g.name: (g.auto_score, g.max_score) for nb in submission.notebooks for g in nb.grades}
    # Not graded at all, or graded without any automatic score: the same for the instructor.
    return scores if any(auto is not None for auto, _ in scores.values()) else None


def _record(run, student) -> dict:
    path = run["course"].root / "autograded" / student / ASSIGNMENT / NOTEBOOK
    return dict(nbformat.read(path, as_version=4).metadata.get("primer", {})) if path.exists() else {}


PATHS = ("primer", "nbgrader", "formgrader")


@pytest.mark.parametrize("path", PATHS)
def test_honest_work_keeps_its_score_and_is_never_flagged(graded, path):
    run = graded[path]
    assert _scores(run, "honest") == FULL, run["log"][-3000:]
    assert _scores(run, "wrong") == NOTHING
    for student in HONEST:
        assert _record(run, student).get("flags") == [], _record(run, student)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_code_that_changes_how_cells_are_judged_earns_nothing_and_is_flagged(graded, path, cheat):
    run = graded[path]
    assert _scores(run, cheat) == NOTHING, f"{cheat} on {path}: {_scores(run, cheat)}"
    record = _record(run, cheat)
    assert record.get("flags"), f"{cheat} was not flagged on {path}: {record}"
    notebook = nbformat.read(run["course"].root / "autograded" / cheat / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert "Flagged for review" in notebook.cells[0].source
    with Gradebook(f"sqlite:///{run['course'].root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, cheat)
        assert submission.needs_manual_grade, "the formgrader must list the submission for a person"


@pytest.mark.parametrize("path", PATHS)
def test_an_answer_that_loads_the_provided_results_is_flagged_and_keeps_its_score(graded, path):
    run = graded[path]
    assert _scores(run, "uses_provided") == FULL, run["log"][-3000:]
    assert _record(run, "uses_provided").get("flags") == [
        "square: the answer uses the results the course provides (load_provided): "
        "a person should check it"], _record(run, "uses_provided")
    notebook = nbformat.read(run["course"].root / "autograded" / "uses_provided" / ASSIGNMENT / NOTEBOOK,
                             as_version=4)
    assert "Flagged for review" in notebook.cells[0].source
    with Gradebook(f"sqlite:///{run['course'].root / 'gradebook.db'}") as gradebook:
        grades = gradebook.find_submission(ASSIGNMENT, "uses_provided").notebooks[0].grades
        # The answer's own tests go to a person, not the other exercise's.
        assert {g.name: g.needs_manual_grade for g in grades} == {"test_square": True, "test_cube": False}


def test_all_three_paths_give_the_same_scores(graded):
    students = graded["primer"]["students"]
    table = {path: {s: _scores(graded[path], s) for s in students} for path in PATHS}
    assert table["primer"] == table["nbgrader"] == table["formgrader"]


def test_the_class_summary_names_flagged_submissions(graded):
    log = graded["primer"]["log"]
    assert f"{len(CHEATS) + 1} flagged for review" in log, log[-3000:]
    for cheat in CHEATS:
        assert f"  {cheat}: {NOTEBOOK}: test_" in log
    assert f"  uses_provided: {NOTEBOOK}: square: the answer uses the results the course provides" in log


@pytest.mark.parametrize("path", PATHS)
def test_links_in_a_submission_never_reach_the_kernel_autograded_or_feedback(graded, path):
    run = graded[path]
    root = run["course"].root
    autograded = root / "autograded" / "linked_file" / ASSIGNMENT
    assert not (autograded / "notes.txt").exists()
    text = (autograded / NOTEBOOK).read_text()
    assert SECRET not in text and "PEEK \\n" in text.replace("PEEK \n", "PEEK \\n")
    assert _scores(run, "linked_file") == FULL
    # A notebook that is a link to the solution is never graded.
    linked = root / "autograded" / "linked_notebook" / ASSIGNMENT / NOTEBOOK
    assert not linked.exists() or SECRET not in linked.read_text()
    assert _scores(run, "linked_notebook") is None
    if path == "nbgrader":  # feedback is made from autograded/ on every path alike
        run["course"].nbgrader("generate_feedback", ASSIGNMENT, "--force")
        feedback = root / "feedback"
        assert feedback.is_dir()
        for file in feedback.rglob("*"):
            assert not file.is_symlink()
            assert not file.is_file() or SECRET not in file.read_text(errors="replace")


@pytest.mark.parametrize("path", PATHS)
def test_deleted_test_cells_come_back_on_every_path(graded, path):
    assert _scores(graded[path], "deleted_tests") == NOTHING


@pytest.mark.parametrize("path", PATHS)
def test_grading_changes_nothing_the_students_or_instructor_wrote(graded, path):
    run = graded[path]
    assert _digests(run["course"].root) == run["before"]


# --------------------------------------------------------------------------- limits

FILL = """
import os
written = {}
for place in ('/tmp', '/dev/shm', '.'):
    total = 0
    try:
        for part in range(48):  # files of 64 MiB: one file may not pass the file-size limit
            with open(os.path.join(place, f'fill{part}.bin'), 'wb') as f:
                for _ in range(64):
                    f.write(b'x' * (1 << 20))
                    total += 1
    except OSError:
        pass
    written[place] = total
files = 0
try:
    os.makedirs('/tmp/many', exist_ok=True)
    while files < 300_000:
        open(f'/tmp/many/{files}', 'w').close()
        files += 1
except OSError:
    pass
print('WROTE', written, 'FILES', files)
"""


def _bytes_under(folder: Path, pattern: str) -> int:
    total = 0
    for top in folder.glob(pattern):
        for path in top.rglob("*"):
            try:
                total += path.lstat().st_size
            except OSError:  # removed while we looked
                pass
    return total


def test_sandboxes_cannot_fill_the_host_memory_or_disk(tmp_path):
    """Two hostile kernels graded in parallel each try to write 3 GB to every writable place."""
    if os.geteuid() != 0:
        pytest.fail("the limits test drops to sandbox accounts and needs root: `sudo make test`")
    course = ScratchCourse(tmp_path / "course")
    (course.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(judge_source(), course.root / "source" / ASSIGNMENT / NOTEBOOK)
    course.generate(ASSIGNMENT)
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student in ("filler-1", "filler-2"):
        course.submit(student, ASSIGNMENT, _answer(release, "return x * x", "return x ** 3", before=FILL))
    course.submit("honest", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3"))

    # The host's free memory, and the disk the sandboxes' host-side folders use (the
    # machine's free disk is not watched: other jobs on a shared machine move it).
    lowest = {"memory": psutil.virtual_memory().available}
    start = dict(lowest)
    largest = {"disk": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            lowest["memory"] = min(lowest["memory"], psutil.virtual_memory().available)
            largest["disk"] = max(largest["disk"], _bytes_under(Path(tempfile.gettempdir()), "primer-sandbox-*"))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        log = _grade("primer", course, [])
    finally:
        done.set()
        watcher.join()
    gib = 1024 ** 3
    assert start["memory"] - lowest["memory"] < 2.5 * gib, \
        f"grading took {(start['memory'] - lowest['memory']) / gib:.1f} GiB of the host's memory"
    assert largest["disk"] < 50 * 1024 ** 2, f"the sandboxes wrote {largest['disk'] >> 20} MiB to disk"
    assert not list(Path(tempfile.gettempdir()).glob("primer-sandbox-*/fill*")), "left behind"
    assert _scores({"course": course}, "honest") == FULL, log[-3000:]
    for student in ("filler-1", "filler-2"):
        outputs = (course.root / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text()
        written = ast.literal_eval(re.search(r"WROTE (\{.*?\})", outputs).group(1))
        assert 0 < written["/tmp"] <= 256 and 0 < written["."] <= 256 and written["/dev/shm"] <= 64, written
        assert _scores({"course": course}, student) == FULL  # its answers are right
