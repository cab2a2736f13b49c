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

Issue 19: wrong answers that put a result or display in front of their
failure (nbgrader pays for a test cell whose first output is an
``execute_result``) earn nothing, and a test the tamper checks void pays 0 in
the gradebook, the export and the feedback; files planted beside the notebook
(``numpy.py``, ``primer/``, ``ipykernel_launcher.py``, ``sitecustomize.py``)
are never imported; a changed ``schema_version`` stops nobody; the sandbox's
``/``, ``/dev`` and sockets folder cannot be written; a few huge messages do not
grow the grader.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
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
from grading_fixtures import autograde_command, cell_meta, python_notebook, stamp_submissions
from nbgrader_course import ScratchCourse
from primer.course import venv_path
from primer.testing.grader_memory import watch_grader_peak_rss

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
# Wrong answers that emit a result or a display from inside the test cell, before it fails.
SHOW = "__import__('sys').displayhook"
CREDIT = {
    "result_before_failure": ("", f"{SHOW}('all good'); return 0"),
    "number_before_failure": ("", f"{SHOW}(2.0); return 0"),
    "display_before_failure": ("", "__import__('IPython').display.display(1.0); return 0"),
    "audit_hook_result": ("""
import sys
def _emit(event, args, _busy=[]):
    if event == 'exec' and not _busy:
        _busy.append(1)
        try:
            get_ipython().displayhook('all good')
        except Exception:
            pass
        finally:
            _busy.clear()
sys.addaudithook(_emit)""", "return 0"),
    # An error too large for the grader's message cap: refused, so the reply's status must fail it.
    "huge_error": ("", "raise ValueError('x' * (40 << 20))"),
    # The answer changes a judging helper while the test runs (the tamper checks void the
    # test) and shows a result first.
    "voided_with_result": ("", "import math; math.isclose = lambda *a, **k: True; "
                               f"{SHOW}('all good'); return 0"),
}
# Files beside the notebook that would replace the course's code or the kernel's launcher;
# each records that it was imported, then hands over to the real one.
PLANTED_RECORD = "import builtins\nbuiltins.PLANTED = [*getattr(builtins, 'PLANTED', []), {name!r}]\n"
PLANTED = {
    "sitecustomize.py": PLANTED_RECORD.format(name="sitecustomize"),
    "usercustomize.py": PLANTED_RECORD.format(name="usercustomize"),
    "numpy.py": PLANTED_RECORD.format(name="numpy") + """import os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != here]
del sys.modules['numpy']
import numpy
""",
    "primer/__init__.py": PLANTED_RECORD.format(name="primer") + """import os, sys
__path__.append(os.path.join(sys.prefix, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages', 'primer'))
""",
    "ipykernel_launcher.py": PLANTED_RECORD.format(name="ipykernel_launcher") + """import os, runpy, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != here]
runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)
""",
}
SHOW_PLANTED = "print('PLANTED', sorted(getattr(__import__('builtins'), 'PLANTED', [])))"
# Writes outside the sandbox's capped tmpfs folders: its root, /dev, the sockets folder.
WRITE_OUTSIDE = """
import os
from ipykernel.connect import get_connection_file
writable = []
for label, place in (('/', '/'), ('/dev', '/dev'), ('sockets', os.path.dirname(get_connection_file()))):
    try:
        with open(os.path.join(place, 'planted.bin'), 'wb') as f:
            f.write(b'x' * (1 << 20))
        writable.append(label)
    except OSError:
        pass
print('WRITABLE', writable)"""
# A few huge messages: each used to be read whole into the grader's memory. The last one is the
# cell's reply (the shell channel), made huge by a payload.
FLOOD = """
import sys
for _ in range(3):
    sys.stdout.write('x' * (300 << 20))
    sys.stdout.flush()
get_ipython().payload_manager.write_payload({'source': 'page', 'data': {'text/plain': 'x' * (800 << 20)}})"""
# Countless empty displays: no characters for the output cap to count, one output each.
EMPTY_DISPLAYS = """
publish = get_ipython().display_pub.publish
for _ in range(12_000):
    publish({'text/plain': ''})"""
FLOODS = ("flood", "empty_displays")
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
    for student, (before, body) in CREDIT.items():
        course.submit(student, ASSIGNMENT, _answer(release, body, body, before=before))
    planted = course.submit("planted_files", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3",
                                                                 before=SHOW_PLANTED))
    for name, code in PLANTED.items():
        (planted / name).parent.mkdir(exist_ok=True)
        (planted / name).write_text(code)
    # One cell's nbgrader metadata with another schema_version: nbgrader stopped the class.
    schema = _answer(release, "return x * x", "return x ** 3")
    for cell in schema.cells:
        if nbgrader_meta(cell).get("grade_id") == "square":
            cell.metadata["nbgrader"]["schema_version"] = 99
    course.submit("schema_changed", ASSIGNMENT, schema)
    course.submit("writes_outside", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3",
                                                        before=WRITE_OUTSIDE))
    course.submit("flood", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3", before=FLOOD))
    course.submit("empty_displays", ASSIGNMENT, _answer(release, "return x * x", "return x ** 3",
                                                        before=EMPTY_DISPLAYS))
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
    return stamp_submissions(course, ASSIGNMENT)


def _grade(path: str, course: ScratchCourse, students: list[str], peak: dict | None = None) -> str:
    env = {**os.environ, "PATH": venv_path()}
    command, cwd = autograde_command(path, course.root, ASSIGNMENT, students)
    peak = peak if peak is not None else {}
    peak.setdefault("bytes", 0)
    done = threading.Event()
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        watcher = threading.Thread(target=watch_grader_peak_rss, args=(process.pid, peak, done))
        watcher.start()
        try:
            output, _ = process.communicate(timeout=900)
        finally:
            done.set()
            watcher.join()
    return output


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
        peak = {"bytes": 0}
        log = _grade(path, course, students, peak)
        runs[path] = dict(course=course, students=students, log=log, before=before, peak_rss=peak["bytes"])
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


def _outputs_of(run, student) -> str:
    path = run["course"].root / "autograded" / student / ASSIGNMENT / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    return "".join(str(o) for cell in notebook.cells for o in cell.get("outputs", []))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("student", sorted(CREDIT))
def test_a_result_or_display_before_a_failure_earns_nothing(graded, path, student):
    run = graded[path]
    if student == "huge_error":  # refused unread: the notebook fails, no automatic score at all
        assert _scores(run, student) is None, f"{student} on {path}: {_scores(run, student)}"
        return
    assert _scores(run, student) == NOTHING, f"{student} on {path}: {_scores(run, student)}"
    notebook = nbformat.read(run["course"].root / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution"):
            kinds = {o.output_type for o in cell.outputs}
            assert not kinds & {"execute_result", "display_data"}, (student, cell.outputs)


@pytest.mark.parametrize("path", PATHS)
def test_a_voided_test_pays_nothing_in_gradebook_export_and_feedback(graded, path, tmp_path):
    # Judged outside the kernel the test is not voided but failed, and the tampering flagged;
    # either way it must pay 0 wherever a score appears.
    run, student = graded[path], "voided_with_result"
    record = _record(run, student)
    assert record.get("voided") or record.get("flags"), record
    root = run["course"].root
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        assert submission.score == 0 and all(g.auto_score == 0 for nb in submission.notebooks for g in nb.grades)
    from primer.grading.export import export_grades
    export_grades(root, tmp_path)
    with open(tmp_path / "grades_lms.csv", newline="") as lms:
        (row,) = [r for r in csv.DictReader(lms) if r["student_id"] == student]
    assert (float(row["score"]), float(row["max_score"])) == (0.0, 3.0), row
    with open(tmp_path / "grades_breakdown.csv", newline="") as breakdown:
        rows = [r for r in csv.DictReader(breakdown) if r["student_id"] == student]
    assert len(rows) == 2 and all(float(r["auto_score"]) == float(r["final_score"]) == 0 for r in rows), rows
    run["course"].nbgrader("generate_feedback", ASSIGNMENT, "--student", student, "--force")
    html = (root / "feedback" / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")).read_text()
    assert re.search(r"Score:\s*0(\.0)?\s*/\s*3(\.0)?", html), re.findall(r"Score:[^<]*", html)


@pytest.mark.parametrize("path", PATHS)
def test_files_beside_the_notebook_never_replace_the_courses_code(graded, path):
    run = graded[path]
    assert "PLANTED []" in _outputs_of(run, "planted_files"), _outputs_of(run, "planted_files")[:2000]
    assert _scores(run, "planted_files") == FULL, run["log"][-3000:]


@pytest.mark.parametrize("path", PATHS)
def test_a_changed_schema_version_is_put_back_and_stops_nobody(graded, path):
    run = graded[path]
    assert _scores(run, "schema_changed") == FULL, run["log"][-3000:]
    graded_students = [s for s in run["students"] if _scores(run, s) is not None]
    # Nobody stops grading: only the notebook that is a link, the refused error, and the floods (whose grading
    # may fail waiting for refused or dropped messages: their own cost), may have no score.
    assert set(run["students"]) - set(graded_students) <= {"linked_notebook", "huge_error", *FLOODS}, \
        run["log"][-3000:]


@pytest.mark.parametrize("path", PATHS)
def test_the_sandbox_root_dev_and_sockets_folder_are_not_writable(graded, path):
    run = graded[path]
    assert "WRITABLE []" in _outputs_of(run, "writes_outside"), _outputs_of(run, "writes_outside")[:2000]
    assert _scores(run, "writes_outside") == FULL


@pytest.mark.parametrize("path", PATHS)
def test_a_flood_of_huge_messages_does_not_grow_the_grader(graded, path):
    peak = graded[path]["peak_rss"]
    print(f"{path}: the grader's peak resident size while grading the class: {peak / 2 ** 20:.0f} MiB")
    assert 0 < peak < 700 * 2 ** 20, f"the grader grew to {peak / 2 ** 20:.0f} MiB"
    assert _scores(graded[path], "honest") == FULL  # the rest of the class is graded


@pytest.mark.parametrize("path", PATHS)
def test_countless_messages_from_one_cell_are_capped(graded, path):
    """Kept whole, they grew the notebook and the grader; past the cap they are dropped (the
    grading may still fail waiting for the rest on a busy machine: that student's cost only)."""
    run = graded[path]
    path = run["course"].root / "autograded" / "empty_displays" / ASSIGNMENT / NOTEBOOK
    if path.exists():
        notebook = nbformat.read(path, as_version=4)
        assert max(len(cell.get("outputs", [])) for cell in notebook.cells) <= 10_000
        assert _scores(run, "empty_displays") == FULL, run["log"][-3000:]
    assert _scores(run, "honest") == FULL


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
    # A flood's grading may run out of time draining what it sent, depending on the machine's load.
    students = [s for s in graded["primer"]["students"] if s not in FLOODS]
    table = {path: {s: _scores(graded[path], s) for s in students} for path in PATHS}
    assert table["primer"] == table["nbgrader"] == table["formgrader"]


def test_the_class_summary_names_flagged_submissions(graded):
    log = graded["primer"]["log"]
    run = graded["primer"]
    flagged = [s for s in run["students"] if _record(run, s).get("flags")]
    assert set(CHEATS) | {"uses_provided"} <= set(flagged)
    assert f"{len(flagged)} flagged for review" in log, log[-3000:]
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
