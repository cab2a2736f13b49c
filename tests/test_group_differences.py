"""The confound check of 08 (primer/group_differences.py) and the model answers that quote it."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from primer.group_differences import describe_group_differences, group_differences

NOTEBOOK = Path(__file__).resolve().parent.parent / "source/08_your_own_data/your_own_data.ipynb"
FEATURES = ["age", "sex", "education_years", "ses", "etiv", "nwbv"]


def oasis_worked_example():
    from primer.data.tables import load_oasis_sessions
    oasis = load_oasis_sessions().frame
    oasis = oasis[oasis["group"] != "Converted"]
    return oasis[["subject_id"] + FEATURES].assign(demented=(oasis["group"] == "Demented").astype(int))


def test_a_confound_is_found_and_an_unrelated_measure_is_not():
    rng = np.random.default_rng(0)
    n = 200
    target = np.repeat([0, 1], n // 2)
    table = pd.DataFrame({"unit": np.arange(n), "y": target,
                          "shifted": rng.normal(size=n) + 1.0 * target,
                          "noise": rng.normal(size=n),
                          "sex": np.where(rng.random(n) < 0.3 + 0.4 * target, "M", "F")})
    result = group_differences(table, "y", ["shifted", "noise", "sex"], group="unit")
    assert result.loc["shifted", "differs"] and result.loc["sex", "differs"]
    assert not result.loc["noise", "differs"]
    assert result.loc["sex", "test"] == "chi-square"


def test_each_unit_counts_once():
    # 10 units, each repeated 50 times: as 500 rows a small shift looks certain, as 10 units it is not.
    rng = np.random.default_rng(1)
    units = pd.DataFrame({"unit": np.arange(10), "y": np.repeat([0, 1], 5), "x": rng.normal(size=10)})
    units.loc[units.y == 1, "x"] += 0.3
    table = units.loc[units.index.repeat(50)].reset_index(drop=True)
    assert group_differences(table, "y", ["x"], group="unit").loc["x", "p"] > 0.05
    assert group_differences(table, "y", ["x"]).loc["x", "p"] < 0.05


def test_oasis_sex_and_education_differ_age_and_head_size_do_not():
    result = group_differences(oasis_worked_example(), "demented", FEATURES, group="subject_id")
    assert set(result.index[result["differs"]]) == {"sex", "education_years", "nwbv"}
    assert "no clear difference: age, ses, etiv" in describe_group_differences(result, "demented")


def test_08_model_answers_follow_the_computed_confounds():
    cells = {cell["metadata"].get("nbgrader", {}).get("grade_id"): "".join(cell["source"])
             for cell in json.loads(NOTEBOOK.read_text())["cells"]}
    result = group_differences(oasis_worked_example(), "demented", FEATURES, group="subject_id")
    assert result.loc["sex", "differs"] and result.loc["education_years", "differs"]
    assert not result.loc["age", "differs"] and not result.loc["etiv", "differs"]
    for answer in ("own-written-result", "own-written-report"):
        text = " ".join(cells[answer].split())
        assert "sex and education differ between the groups" in text or "sex or education" in text, answer
        assert "age and head size do not" in text, answer
        assert "age and head size differ" not in text, answer


def test_08_model_answer_counts_match_the_worked_example():
    # own-written-report: 336 sessions of 136 participants aged 60 to 98, 64 demented and 72
    # nondemented, SES missing in 19 sessions (the scores: tests/test_own_data_model_answers.py).
    example = oasis_worked_example()
    per_person = example.groupby("subject_id")["demented"].first()
    assert (len(example), per_person.size) == (336, 136)
    assert (int(per_person.sum()), int((per_person == 0).sum())) == (64, 72)
    assert int(example["ses"].isna().sum()) == 19
    assert (example["age"].min(), example["age"].max()) == (60, 98)
    report = next(cell for cell in json.loads(NOTEBOOK.read_text())["cells"]
                  if cell["metadata"].get("nbgrader", {}).get("grade_id") == "own-written-report")
    report = "".join(report["source"])
    for phrase in ("336 MRI sessions", "136", "64 demented", "72 nondemented", "19 sessions missing"):
        assert phrase in report, phrase


def test_a_regression_target_is_correlated_and_text_columns_are_left_out():
    rng = np.random.default_rng(2)
    age = rng.uniform(20, 80, 120)
    table = pd.DataFrame({"age": age, "linked": age / 10 + rng.normal(size=120),
                          "noise": rng.normal(size=120), "site": rng.choice(["a", "b"], 120)})
    result = group_differences(table, "age", ["linked", "noise", "site"], is_classification=False)
    assert list(result.index) == ["linked", "noise"]
    assert result.loc["linked", "differs"] and not result.loc["noise", "differs"]
    assert (result["test"] == "Spearman correlation").all()
