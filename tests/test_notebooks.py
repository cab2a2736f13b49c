"""Every solution notebook runs offline (no network in its kernel), passes its own tests, and its tests catch real mistakes."""
from __future__ import annotations

import pytest

from conftest import source_notebook
from notebook_runner import load_wrong_answers, run_solution_notebook

pytestmark = pytest.mark.slow  # every solution notebook, whole, with its wrong answers: minutes

_reports = {}


@pytest.fixture
def report(assignment):
    if assignment not in _reports:
        _reports[assignment] = run_solution_notebook(source_notebook(assignment),
                                                     load_wrong_answers(assignment))
    return _reports[assignment]


def test_solution_notebook_runs_and_passes_its_own_tests(assignment, report):
    assert report.failed_cells == [], f"{assignment}: these cells raised: {report.failed_cells}"


def test_every_wrong_answer_loses_points(assignment, report):
    assert report.unknown_ids == [], f"tests/wrong_answers/{assignment}.py names unknown cells"
    assert report.wrong_answers_passing == [], (
        f"{assignment}: tests that pass a wrong answer: {report.wrong_answers_passing}")
    assert report.tests_without_wrong_answer == [], (
        f"{assignment}: test cells without a plausible wrong answer in "
        f"tests/wrong_answers/{assignment}.py: {report.tests_without_wrong_answer}")
