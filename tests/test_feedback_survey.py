"""Tests of primer.feedback_survey with real notebooks made from source/07_feedback."""

import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbgrader.preprocessors import ClearSolutions

from primer.feedback_survey import (
    FREE_TEXT_CELLS,
    RATING_BLOCKS,
    RATINGS_TAG,
    check_ratings,
    collect_feedback,
    main,
)

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "source" / "07_feedback" / "feedback.ipynb"


@pytest.fixture(scope="module")
def student_version():
    """The survey as students get it (nbgrader's ClearSolutions on the source)."""
    nb = nbformat.read(SOURCE, as_version=4)
    nb, _ = ClearSolutions().preprocess(nb, {"language": "python"})
    return nb


def _ratings_cell(nb):
    (cell,) = [c for c in nb.cells if RATINGS_TAG in c.metadata.get("tags", [])]
    return cell


def _answer_cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def fill(nb, ratings=None, pace=None, texts=None, ratings_source=None):
    """A copy of the student notebook with some answers filled in, like a student would."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cell = _ratings_cell(nb)
    if ratings_source is not None:
        cell.source = ratings_source
    else:
        for block, value in (ratings or {}).items():
            cell.source = cell.source.replace(f'"{block}": None,', f'"{block}": {value!r},', 1)
        if pace is not None:
            cell.source = cell.source.replace("pace = None", f"pace = {pace!r}")
    for grade_id, text in (texts or {}).items():
        _answer_cell(nb, grade_id).source = text
    return nb


def submit(course, student, nb=None, folder="submitted", raw=None):
    target = course / folder / student / "07_feedback"
    target.mkdir(parents=True)
    (target / "timestamp.txt").write_text("2026-11-29 17:00:00.000000 UTC")
    if raw is not None:
        (target / "feedback.ipynb").write_text(raw)
    elif nb is not None:
        nbformat.write(nb, target / "feedback.ipynb")
    return target


def test_template_matches_module(student_version):
    cell = _ratings_cell(student_version)
    namespace = {}
    exec(cell.source, namespace)  # the template is plain Python with None everywhere
    assert tuple(namespace["ratings"]) == RATING_BLOCKS
    assert namespace["pace"] is None
    for grade_id in FREE_TEXT_CELLS:
        assert _answer_cell(student_version, grade_id).source.strip() == "YOUR ANSWER HERE"


@pytest.fixture
def course(tmp_path, student_version):
    sv = student_version
    submit(tmp_path, "alice", fill(
        sv, ratings={block: 5 for block in RATING_BLOCKS}, pace="just right",
        texts={"what-worked": "The connectome notebooks.", "what-to-change": "More DL.",
               "anything-else": "Thanks!"}))
    submit(tmp_path, "bob", fill(sv, ratings={"setup": 3, "overall": 4},
                                 texts={"what-worked": "Hidden tests"}))
    submit(tmp_path, "carol", raw='{"cells": [ this is not json')
    submit(tmp_path, "dave", fill(sv, ratings={"setup": 7, "dl_basics": "four", "overall": 2},
                                  pace="way too fast"))
    submit(tmp_path, "erin")  # folder without the notebook
    submit(tmp_path, "frank", fill(sv, ratings_source="ratings = {'setup': 4,\n"))  # syntax error
    submit(tmp_path, "gina", sv)  # untouched
    submit(tmp_path, "hank", fill(sv, ratings={"overall": 3}), folder="autograded")
    # In both folders: the submitted copy wins.
    submit(tmp_path, "alice", fill(sv, ratings={"overall": 1}), folder="autograded")
    # Another assignment only: not a row.
    (tmp_path / "submitted" / "ivy" / "02_ml_model_types").mkdir(parents=True)
    return tmp_path


def test_one_row_per_student_with_columns(course):
    table = collect_feedback(course)
    assert list(table["student"]) == ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"]
    expected = ["student", "source", "timestamp", *RATING_BLOCKS, "pace",
                *FREE_TEXT_CELLS.values(), "problem"]
    assert list(table.columns) == expected
    for block in RATING_BLOCKS:
        assert table[block].dtype == float


def test_full_and_half_filled(course):
    table = collect_feedback(course).set_index("student")
    alice = table.loc["alice"]
    assert all(alice[block] == 5 for block in RATING_BLOCKS)
    assert alice["pace"] == "just right"
    assert alice["what_worked"] == "The connectome notebooks."
    assert alice["source"] == "submitted" and pd.isna(alice["problem"])
    assert alice["timestamp"].startswith("2026-11-29")

    bob = table.loc["bob"]
    assert bob["setup"] == 3 and bob["overall"] == 4
    assert math.isnan(bob["dl_basics"]) and pd.isna(bob["pace"])
    assert pd.isna(bob["what_to_change"]), "an unanswered cell is NaN, not 'YOUR ANSWER HERE'"
    assert pd.isna(bob["problem"]), "leaving questions out is not a problem"

    gina = table.loc["gina"]
    assert gina[list(RATING_BLOCKS)].isna().all() and pd.isna(gina["problem"])

    hank = table.loc["hank"]
    assert hank["source"] == "autograded" and hank["overall"] == 3


def test_broken_notebooks_get_a_problem_not_a_crash(course):
    table = collect_feedback(course).set_index("student")
    assert "could not read notebook" in table.loc["carol", "problem"]
    assert table.loc["carol", list(RATING_BLOCKS)].isna().all()

    dave = table.loc["dave"]
    assert "'setup' must be a number from 1 to 5" in dave["problem"]
    assert "dl_basics" in dave["problem"]
    assert "pace" in dave["problem"]
    assert math.isnan(dave["setup"]) and dave["overall"] == 2, "valid ratings are kept"

    assert "no notebook" in table.loc["erin", "problem"]
    assert "not valid Python" in table.loc["frank", "problem"]


def test_lost_tag_and_deleted_cells(tmp_path, student_version):
    nb = fill(student_version, ratings={"setup": 2})
    _ratings_cell(nb).metadata.pop("tags")
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != "what-to-change"]
    submit(tmp_path, "zoe", nb)
    extra = fill(student_version, ratings_source='ratings = {"setup": 4, "typo": 5}\nratings["overall"] = 3\n')
    submit(tmp_path, "yan", extra)
    table = collect_feedback(tmp_path).set_index("student")
    assert table.loc["zoe", "setup"] == 2
    assert "answer cell 'what-to-change' missing" in table.loc["zoe", "problem"]
    assert table.loc["yan", "setup"] == 4 and table.loc["yan", "overall"] == 3
    assert "unknown block 'typo'" in table.loc["yan", "problem"]


def test_empty_course_and_bad_arguments(tmp_path):
    table = collect_feedback(tmp_path)
    assert table.empty and "problem" in table.columns
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_feedback(tmp_path / "missing")
    with pytest.raises(ValueError, match="submitted"):
        collect_feedback(tmp_path, sources=("release",))


def test_main_prints_and_writes_csv(course, capsys):
    out_csv = course / "out.csv"
    assert main([str(course), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "alice" in printed and "The connectome notebooks." in printed
    assert "could not be read completely" in printed
    table = pd.read_csv(out_csv)
    assert len(table) == 8 and table.loc[table["student"] == "alice", "overall"].item() == 5


def test_main_reports_missing_course(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_module_runs_as_a_command(course):
    result = subprocess.run(
        [sys.executable, "-m", "primer.feedback_survey", str(course)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Per block:" in result.stdout and "bob" in result.stdout


def test_check_ratings_in_the_notebook(capsys):
    check_ratings(dict.fromkeys(RATING_BLOCKS), None)
    assert "0 of 8" in capsys.readouterr().out
    check_ratings({"setup": 4, "overall": 5}, "too fast")
    assert "2 of 8" in capsys.readouterr().out
    with pytest.raises(ValueError, match="from 1 to 5"):
        check_ratings({"setup": 6})
    with pytest.raises(ValueError, match="unknown block"):
        check_ratings({"stup": 3})
    with pytest.raises(ValueError, match="pace"):
        check_ratings({}, "fast")
    with pytest.raises(ValueError, match="dictionary"):
        check_ratings([4, 5])
