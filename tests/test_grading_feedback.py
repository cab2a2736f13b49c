"""HideHiddenTests: feedback shows which test failed and why, never the hidden tests' source."""
from __future__ import annotations

import html
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output

from conftest import REPO
from grading_fixtures import (ASSIGNMENT, HIDDEN_ASSERT, NOTEBOOK, VISIBLE_ASSERT, answered,
                              tiny_course, write_submission)
from primer.grading.feedback import HideHiddenTests, count_tests

# The lines the course's nbgrader_config.py needs (see primer/grading/feedback.py).
FEEDBACK_CONFIG = '''
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "primer.grading.feedback.HideHiddenTests",
]
'''


def graded_test_cell(source: str, outputs=()):
    return new_code_cell(source, outputs=list(outputs), metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}})


def run(cell):
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    return cell


def test_hidden_regions_become_one_placeholder_line():
    cell = run(graded_test_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n"
                         "np.testing.assert_allclose(f(3), 3)\n### END HIDDEN TESTS\nprint('done')"))
    assert cell.source == "assert f(1) == 1\n# 2 hidden tests run here\nprint('done')"


def test_indented_unterminated_and_unparsable_regions_stay_hidden():
    cell = run(graded_test_cell("for x in range(3):\n    ### BEGIN HIDDEN TESTS\n    assert f(x) >= 0\n"
                         "    ### END HIDDEN TESTS\n### BEGIN HIDDEN TESTS\nassert secret(\n"))
    assert cell.source == "for x in range(3):\n    # 1 hidden test runs here\n# hidden tests run here"
    assert count_tests("for x in y:\n    assert x\n    self.assertEqual(x, 1)") == 2


def test_errors_are_trimmed_to_name_and_message_in_test_cells_only():
    error = new_output("error", ename="AssertionError", evalue="f must be positive",
                       traceback=["\x1b[31mTraceback\x1b[0m", "assert secret_value == 42"])
    stream = new_output("stream", name="stdout", text="checked 3 cases\n")
    cell = run(graded_test_cell("### BEGIN HIDDEN TESTS\nassert f(-1) > 0, 'f must be positive'\n"
                         "### END HIDDEN TESTS", [stream, error]))
    assert cell.outputs[0] == stream
    assert cell.outputs[1].traceback == ["AssertionError: f must be positive"]
    answer = new_code_cell("1/0", outputs=[new_output("error", ename="ZeroDivisionError",
                                                      evalue="division by zero", traceback=["a", "b"])],
                           metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}})
    assert run(answer).outputs[0].traceback == ["a", "b"]  # the student's own traceback helps


@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory):
    """generate_feedback, configured as the course will be, for a student failing a hidden test."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # nbgrader's subprocess imports primer.grading
    try:
        course = tiny_course(tmp_path_factory.mktemp("course"))
        with open(course.root / "nbgrader_config.py", "a") as config:
            config.write(FEEDBACK_CONFIG)
        release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
        write_submission(course.root / "submitted" / "alice" / ASSIGNMENT,
                         answered(release, square="return x * abs(x)"))
        course.autograde(ASSIGNMENT)
        course.nbgrader("generate_feedback", ASSIGNMENT, "--force")
        page = (course.root / "feedback" / "alice" / ASSIGNMENT / "tiny.html").read_text()
        autograded = (course.root / "autograded" / "alice" / ASSIGNMENT / NOTEBOOK).read_text()
    finally:
        monkeypatch.undo()
    return page, autograded


def visible_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_feedback_names_the_failed_test_and_its_message(feedback_html):
    text = visible_text(feedback_html[0])
    assert "(Score: 0.0 / 2.0)" in text  # test_square failed
    assert "AssertionError: square must handle negative numbers" in text
    assert VISIBLE_ASSERT in text  # visible tests stay visible
    assert "# 1 hidden test runs here" in text and "# 2 hidden tests run here" in text


def test_feedback_holds_no_hidden_test_source(feedback_html):
    page, autograded = feedback_html
    assert "square(-3)" in autograded  # the autograded copy does hold them: that is the leak
    text = visible_text(page)
    for secret in ("square(-3)", "cube(-1)", "cube(0)", "HIDDEN TESTS", "most recent call last"):
        assert secret not in text and secret not in page
    assert HIDDEN_ASSERT not in text
