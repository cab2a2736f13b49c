"""08's model answers quote the worked example's results: each number they state is recomputed here by
the notebook's own code (sections 1 to 4, on OASIS-2), so a change of data, code or settings that moves
a number fails until the prose is updated."""

import json
import re

import matplotlib
import numpy as np
import pytest

from primer.data.tables import load_oasis_sessions
from test_group_differences import NOTEBOOK, oasis_worked_example

ANSWERS = ("own-written-question", "own-written-result", "own-written-report")
DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")   # 0.70, not the 0.1 of a version "0.1.0"
WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def notebook_cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def model_answers() -> dict[str, str]:
    return {cell["metadata"]["nbgrader"]["grade_id"]: " ".join("".join(cell["source"]).split())
            for cell in notebook_cells() if cell["metadata"].get("nbgrader", {}).get("grade_id") in ANSWERS}


@pytest.fixture(scope="module")
def worked_example(tmp_path_factory):
    """The names the notebook binds up to its permutation test, run as the notebook runs them (no plots)."""
    matplotlib.use("Agg")
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("own_data"))   # the notebook writes oasis_example.csv
        for cell in notebook_cells():
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or "plt.subplots" in source or "display(" in source:
                continue
            exec(compile(source, "08 notebook cell", "exec"), namespace)
            if "def permutation_test" in source:
                return namespace
    raise AssertionError("08 no longer defines permutation_test: update this test")


def test_08_model_answers_state_the_computed_scores(worked_example):
    scores, repeat_means = worked_example["scores"], worked_example["repeat_means"]
    mean, p_value = scores.mean(), worked_example["p_value"]
    figures = {"mean": f"{mean:.2f}", "fold min": f"{scores.min():.2f}", "fold max": f"{scores.max():.2f}",
               "repeat min": f"{repeat_means.min():.2f}", "repeat max": f"{repeat_means.max():.2f}",
               "baseline": f"{worked_example['baseline_scores'].mean():.2f}", "p": f"{p_value:.2f}",
               "interval": f"{1.96 * np.sqrt(mean * (1 - mean) / len(np.unique(worked_example['groups']))):.2f}"}
    settings = {name: worked_example[name] for name in ("N_REPEATS", "N_SPLITS", "N_PERMUTATIONS")}
    answers = model_answers()
    # No shuffle reached the real score: p is the smallest value the permutations allow.
    assert worked_example["null_scores"].max() < worked_example["score"]
    assert np.isclose(p_value, 1 / (settings["N_PERMUTATIONS"] + 1))
    misclassified = WORDS[int(round(10 * (1 - mean)))]
    f = figures
    expected = {
        "own-written-result": [
            f"Over {settings['N_REPEATS']} repeats of grouped {settings['N_SPLITS']}-fold cross-validation",
            f"balanced accuracy of about {f['mean']}", f"single folds range from about {f['fold min']} to {f['fold max']}",
            f"means of the repeats from about {f['repeat min']} to {f['repeat max']}",
            f"the features gets {f['baseline']}", f"no shuffle reached the real score: p ≈ {f['p']}",
            f"the smallest value {settings['N_PERMUTATIONS']} permutations allow",
            f"about {misclassified} people in ten of each group are misclassified"],
        "own-written-report": [
            f"{settings['N_REPEATS']} repeats of {settings['N_SPLITS']}-fold GroupKFold",
            f"{settings['N_PERMUTATIONS']} permutations (1000 planned)",
            f"Balanced accuracy about {f['mean']} (single folds from about {f['fold min']} to {f['fold max']}, "
            f"means of the repeats from about {f['repeat min']} to {f['repeat max']}) against {f['baseline']} "
            f"for the baseline; p ≈ {f['p']}, the smallest possible with {settings['N_PERMUTATIONS']} permutations",
            f"about {misclassified} people in ten of each group are misclassified",
            f"uncertain by about ±{f['interval']}"],
    }
    for answer, phrases in expected.items():
        for phrase in phrases:
            assert phrase in answers[answer], f"{answer} should say {phrase!r} (recomputed from the notebook)"
        stated = set(DECIMAL.findall(answers[answer]))
        assert stated <= set(figures.values()), (
            f"{answer} states {sorted(stated - set(figures.values()))}, which the notebook does not compute")


def test_08_question_answer_states_the_computed_counts():
    example = oasis_worked_example()
    sessions_per_person = example.groupby("subject_id").size()
    oasis = load_oasis_sessions().frame
    converted = oasis.loc[oasis["group"] == "Converted", "subject_id"].nunique()
    answer = model_answers()["own-written-question"]
    for phrase in (f"{sessions_per_person.size} people with {sessions_per_person.min()} to "
                   f"{sessions_per_person.max()} sessions each", f"the {converted} \"Converted\" participants"):
        assert phrase in answer, f"own-written-question should say {phrase!r} (recomputed from the data)"
    assert f"{converted} converters excluded" in model_answers()["own-written-report"]
