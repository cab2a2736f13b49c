"""Tests judged outside the student's interpreter: one hostile class, every grading path.

One assignment is graded by `primer autograde`, plain `nbgrader autograde`, the formgrader's Autograde call and
`primer grade-one` (the unit the cluster backends and the grading queue run).
Its test cells run in the judge process (primer/grading/judge.py), which
reads the student's values through a data-only bridge. The hostile class
holds the attack classes of issue 19 that the judge answers:

* the credit channel: an ``execute_result`` emitted from inside a test, by a
  replaced display hook, an audit hook or the answer function itself;
* values that lie: answers whose ``==``, truth value and NumPy protocols are
  rigged, which pass ``assert x == y``, ``np.allclose`` and ``np.testing``
  in the student's own interpreter;
* a forged bridge: the student's end of the bridge replaced to answer what
  the visible test expects;
* hidden tests reaching the student: the answer reads its caller's frames,
  ``In``, ``linecache`` and the notebook files of its folder, and prints what
  it finds;
* a gadget for the judge: a scikit-learn pipeline whose step is a library
  function that writes a file where the student says (``torch.save``), for
  the judge's own scikit-learn to run (functions never travel from the
  student by name: they run in the student's sandbox).

Each scores exactly what its answers earn (nothing), on every path, with the
same scores everywhere; honest work, right or wrong, keeps its score and is
never flagged; no hidden test's source reaches the student's outputs or the
feedback.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook

from conftest import nbgrader_meta
from grading_fixtures import autograde_command, cell_meta, python_notebook, stamp_submissions
from nbgrader_course import ScratchCourse
from primer.course import venv_path

pytestmark = pytest.mark.root  # kernels run as sandbox accounts

ASSIGNMENT, NOTEBOOK = "outside", "outside.ipynb"
HIDDEN_MARK = "hidden-check-7c41e"   # only in hidden tests: must never reach the student
SOLUTION = ("return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))", "return list(reversed(items))")

CHEATS = {
    # The credit channel: an execute_result inside a test cell paid full points in nbgrader.
    "displayhook_in_answer": ("import sys", "sys.displayhook('all tests passed'); return 0", "return []"),
    "display_in_answer": ("from IPython.display import display",
                          "display('all tests passed'); return 0", "return []"),
    "audit_hook": ("""
import sys
def _announce(event, args):
    if event == 'exec':
        sys.displayhook('all tests passed')
sys.addaudithook(_announce)""", "return 0", "return []"),
    "replaced_displayhook": ("""
import sys
class Hook:
    def __call__(self, value):
        get_ipython().displayhook('all tests passed')
sys.displayhook = Hook()""", "return 0", "return []"),
    # Values that lie: every comparison, truth test and NumPy function says yes.
    "liar": ("""
import numpy as np
class Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __float__(self): return 0.5
    def __len__(self): return 3
    def __iter__(self): return iter([3, 2, 1])
    def __array_function__(self, func, types, args, kwargs): return True
    def __array_ufunc__(self, ufunc, method, *args, **kwargs): return True
""", "return Yes()", "return Yes()"),
    # The student's end of the bridge answering what the visible tests expect.
    "forged_bridge": ("""
try:
    import primer.grading.bridge_student as bridge
    real_serve = bridge.serve
    def serve(request_json):
        request = __import__('json').loads(request_json)
        if request.get('op') == 'call':
            return bridge.Reply({'ok': 0.25})
        return real_serve(request_json)
    bridge.serve = serve
except ImportError:
    pass""", "return 1.0", "return items"),
    # Hidden tests read from the caller's frames, the history, linecache and the folder's notebooks.
    "reads_hidden_tests": ("""
import glob, linecache, sys
SEEN = []
def _peek():
    seen = SEEN
    frame = sys._getframe(1)
    while frame is not None:
        try:
            seen.append(''.join(linecache.getlines(frame.f_code.co_filename)))
        except Exception:
            pass
        seen.append(str(frame.f_globals.get('In', ''))[-3000:])
        frame = frame.f_back
    for path in glob.glob('*.ipynb') + glob.glob('**/*.ipynb', recursive=True):
        seen.append(open(path).read())
    print('PEEK', ' '.join(seen))
_peek()""", "_peek(); return 0", "_peek(); return []\nprint('PEEK', ' '.join(SEEN))"),
}
# The course's data, loaded by the judge itself (a judge setup cell), never taken from the student.
DATA = """from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, FunctionTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
_rng = np.random.default_rng(0)
X = _rng.normal(size=(60, 3))
y = (X[:, 0] > 0).astype(int)
_judged_here = []  # each test of the model adds one: a judge that saw another student would hold more
with open('/tmp/primer-judge-setups', 'a') as _log:  # in a kernel, the sandbox's own /tmp
    _log.write('setup ')"""
# Where the judges' setup runs are counted (the judge runs on this machine, outside any sandbox).
SETUP_LOG = Path("/tmp/primer-judge-setups")
# Where a library function named by the student would write, were the judge to run it.
MARKER = Path("/tmp/primer-judge-gadget-ran")
HONEST = {"honest": SOLUTION, "wrong": ("return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))",
                                        "return items")}
FULL = {"test_mse": (2.0, 2.0), "test_model": (1.0, 1.0), "test_reverse": (1.0, 1.0)}
NOTHING = {"test_mse": (0.0, 2.0), "test_model": (0.0, 1.0), "test_reverse": (0.0, 1.0)}
EXPECTED = {"honest": FULL, "wrong": {"test_mse": (0.0, 2.0), "test_model": (0.0, 1.0), "test_reverse": (0.0, 1.0)},
            "untouched": NOTHING, "library_gadget": NOTHING, **{name: NOTHING for name in CHEATS}}
# The model answers: honest, wrong (a model that sees only noise), and a pipeline whose first step is
# a library function that writes where the student says (torch.save), for the judge's scikit-learn to run.
MODELS = {"honest": "model = make_pipeline(StandardScaler(), LogisticRegression())",
          "wrong": "model = make_pipeline(FunctionTransformer(lambda X: X[:, 1:]), LogisticRegression())",
          "library_gadget": f"""
import torch
model = make_pipeline(FunctionTransformer(torch.save, kw_args={{'f': '{MARKER}'}}), LogisticRegression())"""}


def outside_source():
    """An assignment judged outside the kernel: a function answer and a list answer."""
    cells = [
        new_markdown_cell("# Outside\nWrite `mse` and `reverse`.", metadata=cell_meta("intro", locked=True)),
        new_code_cell("import numpy as np", metadata=cell_meta("setup", locked=True)),
        new_code_cell("def mse(a, b):\n    ### BEGIN SOLUTION\n    " + SOLUTION[0] + "\n    ### END SOLUTION",
                      metadata=cell_meta("mse", solution=True)),
        new_code_cell("assert np.isclose(mse([1, 2], [1, 3]), 0.5), 'mse([1, 2], [1, 3]) is 0.5'\n"
                      "### BEGIN HIDDEN TESTS\n"
                      f"_rng = np.random.default_rng(5)  # {HIDDEN_MARK}\n"
                      "for _n in (3, 7):\n"
                      "    _a, _b = _rng.normal(size=_n), _rng.normal(size=_n)\n"
                      f"    assert np.isclose(mse(_a, _b), np.mean((_a - _b) ** 2)), 'mean of squared differences'\n"
                      "assert np.allclose(mse(np.zeros(4), np.ones(4)), 1.0), 'all equal differences'\n"
                      "### END HIDDEN TESTS",
                      metadata=cell_meta("test_mse", grade=True, locked=True, points=2)),
        new_code_cell(DATA, metadata={**cell_meta("data", locked=True), "primer": {"judge": "setup"}}),
        new_code_cell("### BEGIN SOLUTION\nmodel = make_pipeline(StandardScaler(), LogisticRegression())\n"
                      "### END SOLUTION", metadata=cell_meta("model", solution=True)),
        new_code_cell("_judged_here.append(1)\n"
                      "assert len(_judged_here) == 1, 'the judge saw no other submission'\n"
                      "assert cross_val_score(model, X, y, cv=3).mean() > 0.8, 'the model should separate the groups'",
                      metadata=cell_meta("test_model", grade=True, locked=True, points=1)),
        new_code_cell("def reverse(items):\n    ### BEGIN SOLUTION\n    " + SOLUTION[1] + "\n    ### END SOLUTION",
                      metadata=cell_meta("reverse", solution=True)),
        new_code_cell("assert reverse([1, 2, 3]) == [3, 2, 1], 'reverse([1, 2, 3]) is [3, 2, 1]'\n"
                      "### BEGIN HIDDEN TESTS\n"
                      f"assert reverse(['a', 'b']) == ['b', 'a'], 'works on strings'  # {HIDDEN_MARK}\n"
                      "assert reverse([]) == [], 'an empty list stays empty'\n"
                      "### END HIDDEN TESTS",
                      metadata=cell_meta("test_reverse", grade=True, locked=True, points=1)),
    ]
    notebook = python_notebook(cells)
    return notebook


def _answer(release, before: str, mse: str, reverse: str, model: str = ""):
    notebook = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id == "mse":
            cell.source = f"{before}\ndef mse(a, b):\n    {mse}"
        elif grade_id == "reverse":
            cell.source = f"def reverse(items):\n    {reverse}"
        elif grade_id == "model" and model:
            cell.source = model
    return notebook


def _class(course: ScratchCourse) -> list[str]:
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, (mse, reverse) in HONEST.items():
        course.submit(student, ASSIGNMENT, _answer(release, "", mse, reverse, MODELS[student]))
    course.submit("library_gadget", ASSIGNMENT, _answer(release, "", "return 0", "return []",
                                                       MODELS["library_gadget"]))
    for student, (before, mse, reverse) in CHEATS.items():
        course.submit(student, ASSIGNMENT, _answer(release, before, mse, reverse))
    course.submit("untouched", ASSIGNMENT, release)
    return stamp_submissions(course, ASSIGNMENT)


def _grade(path: str, course: ScratchCourse, students: list[str]) -> str:
    if path == "unit":  # the unit of work of the cluster backends and the grading queue, then the merge
        return _grade_with_the_unit(course, students)
    command, cwd = autograde_command(path, course.root, ASSIGNMENT, students)
    env = {**os.environ, "PATH": venv_path()}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    return result.stdout + result.stderr


def _grade_with_the_unit(course: ScratchCourse, students: list[str]) -> str:
    from primer.grading.merge import merge_result
    from primer.grading.unit import prepare_release

    release = prepare_release(course.root, ASSIGNMENT, course.root.parent / "unit-release")
    log = []
    for student in students:
        result = course.root.parent / "unit-results" / student
        run = subprocess.run([sys.executable, "-m", "primer.cli", "grade-one", "--release", str(release),
                              "--submission", str(course.root / "submitted" / student / ASSIGNMENT),
                              "--student", student, "--result", str(result),
                              "--scratch", str(course.root.parent / "unit-scratch" / student)],
                             env={**os.environ, "PATH": venv_path()}, capture_output=True, text=True,
                             timeout=600)
        log.append(run.stdout + run.stderr)
        merge_result(course.root, result, expect_student=student, expect_assignment=ASSIGNMENT)
    return "\n".join(log)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    MARKER.unlink(missing_ok=True)
    base = tmp_path_factory.mktemp("judge")
    template = ScratchCourse(base / "template")
    (template.root / "source" / ASSIGNMENT).mkdir()
    nbformat.write(outside_source(), template.root / "source" / ASSIGNMENT / NOTEBOOK)
    template.generate(ASSIGNMENT)
    runs = {}
    for path in ("primer", "nbgrader", "formgrader", "unit"):
        root = base / path / "course"
        shutil.copytree(template.root, root, symlinks=True)
        course = ScratchCourse.__new__(ScratchCourse)
        course.root = root
        students = _class(course)
        SETUP_LOG.unlink(missing_ok=True)
        runs[path] = dict(course=course, students=students, log=_grade(path, course, students))
        runs[path]["judge_setups"] = len(SETUP_LOG.read_text().split()) if SETUP_LOG.exists() else 0
    SETUP_LOG.unlink(missing_ok=True)
    return runs


PATHS = ("primer", "nbgrader", "formgrader", "unit")


def _scores(run, student):
    with Gradebook(f"sqlite:///{run['course'].root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.max_score) for nb in submission.notebooks for g in nb.grades
                if g.name.startswith("test_")}


def _autograded(run, student):
    return nbformat.read(run["course"].root / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_scores_what_its_answers_earn(graded, path, student):
    run = graded[path]
    assert _scores(run, student) == EXPECTED[student], f"{student} on the {path} path:\n{run['log'][-3000:]}"


@pytest.mark.parametrize("path", PATHS)
def test_no_display_or_execute_result_reaches_a_test_cell(graded, path):
    for student in EXPECTED:
        for cell in _autograded(graded[path], student).cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                kinds = {output.output_type for output in cell.outputs}
                assert kinds <= {"stream", "error"}, (student, meta["grade_id"], kinds)


@pytest.mark.parametrize("path", PATHS)
def test_honest_work_is_never_flagged(graded, path):
    for student in ("honest", "wrong", "untouched"):
        record = _autograded(graded[path], student).metadata.get("primer", {})
        assert not record.get("flags"), (student, record)


@pytest.mark.parametrize("path", PATHS)
def test_hidden_tests_never_reach_the_students_process_or_outputs(graded, path):
    notebook = _autograded(graded[path], "reads_hidden_tests")
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "stream")
    assert "PEEK" in printed, "the peeking answer never ran"
    assert HIDDEN_MARK not in printed
    assert "BEGIN HIDDEN TESTS" not in printed and "mean of squared differences" not in printed


def test_the_feedback_holds_no_hidden_test(graded):
    run = graded["nbgrader"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
                   cwd=run["course"].root, env={**os.environ, "PATH": venv_path()},
                   capture_output=True, check=True, timeout=600)
    pages = list((run["course"].root / "feedback").rglob("*.html"))
    assert len(pages) == len(EXPECTED)
    for page in pages:
        assert HIDDEN_MARK not in page.read_text(), page


def test_a_library_function_named_by_the_student_never_runs_in_the_judge(graded):
    # torch.save ran in the student's sandbox (its /tmp is its own), never on this machine.
    assert not MARKER.exists()


def test_primer_autograde_prepares_each_notebooks_judge_once_for_the_class(graded):
    # A warm judge ran the release's imports and data loads once; every student's judge is a
    # fresh fork of it (the honest model passing its test shows no judge saw another student).
    # Without one, every notebook pays its own start, as plain nbgrader's path does.
    students = len(graded["primer"]["students"])
    assert graded["primer"]["judge_setups"] == 1, graded["primer"]["log"][-2000:]
    assert graded["nbgrader"]["judge_setups"] == students


def test_the_judge_leaves_nothing_running(graded):
    left = subprocess.run(["pgrep", "-f", "primer.grading.judge"], capture_output=True, text=True).stdout.split()
    assert left == [] or all(int(pid) == os.getpid() for pid in left)
