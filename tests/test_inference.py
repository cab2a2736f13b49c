"""primer.inference: the verdicts the notebooks print (corrected t-test, permutation p, group bootstrap)."""
import numpy as np
import pytest
from scipy import stats

from primer.inference import corrected_resampled_ttest, group_bootstrap_interval, permutation_p_value


def test_corrected_ttest_matches_nadeau_bengio_by_hand():
    differences = np.array([0.10, 0.02, -0.03, 0.08, 0.05, 0.00, 0.12, -0.01, 0.04, 0.06])
    verdict = corrected_resampled_ttest(differences, n_train=108, n_test=27)
    variance = differences.var(ddof=1) * (1 / 10 + 27 / 108)
    t = differences.mean() / np.sqrt(variance)
    assert verdict.t == pytest.approx(t)
    assert verdict.p == pytest.approx(2 * stats.t.sf(t, df=9))
    half = stats.t.ppf(0.975, df=9) * np.sqrt(variance)
    assert (verdict.low, verdict.high) == pytest.approx((differences.mean() - half, differences.mean() + half))


def test_corrected_ttest_is_less_confident_than_the_naive_one_over_overlapping_folds():
    differences = np.random.default_rng(0).normal(0.05, 0.08, 50)
    naive = stats.ttest_1samp(differences, 0).pvalue
    corrected = corrected_resampled_ttest(differences, n_train=108, n_test=27).p
    assert naive < 0.05 < corrected


def test_permutation_p_value_counts_ties_and_the_observed_labelling():
    null = np.array([0.4, 0.5, 0.6, 0.7, 0.7])
    assert permutation_p_value(0.7, null) == pytest.approx(3 / 6)
    assert permutation_p_value(0.9, null) == pytest.approx(1 / 6)   # never 0


def test_group_bootstrap_resamples_whole_groups():
    groups = np.repeat(["a", "b", "c", "d"], 3)
    seen = []

    def statistic(rows):
        seen.append(rows)
        return float(len(rows))

    low, high = group_bootstrap_interval(statistic, groups, n_boot=50)
    assert low == high == 12.0                       # always 4 groups of 3 rows
    for rows in seen:
        for name in np.unique(groups[rows]):
            assert np.sum(groups[rows] == name) % 3 == 0, "a group was split"


def test_group_bootstrap_is_wider_than_a_row_bootstrap_when_rows_of_a_group_are_copies():
    values = np.repeat(np.random.default_rng(1).normal(size=10), 10)   # 10 people, 10 near-copies each
    by_person = group_bootstrap_interval(lambda rows: values[rows].mean(), np.repeat(np.arange(10), 10))
    by_row = group_bootstrap_interval(lambda rows: values[rows].mean(), np.arange(100))
    assert by_person[1] - by_person[0] > 2 * (by_row[1] - by_row[0])


@pytest.mark.parametrize("call, words", [
    (lambda: corrected_resampled_ttest([0.1], 10, 2), "at least 2 folds"),
    (lambda: corrected_resampled_ttest([0.1, 0.2], 0, 2), "n_train and n_test"),
    (lambda: permutation_p_value(0.5, []), "at least one score"),
    (lambda: group_bootstrap_interval(np.mean, ["a", "a"]), "at least 2 groups"),
])
def test_bad_input_says_what_to_do(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_the_verdict_in_04s_model_answer_matches_the_data():
    """04's model answer says nWBV's AUC gain over demographics is not significant, with or without education."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from primer.data.tables import load_oasis_sessions

    sessions = load_oasis_sessions().frame
    baseline = sessions[(sessions["group"] != "Converted") & (sessions["visit"] == 1)].assign(
        male=lambda frame: (frame["sex"] == "M").astype(int))
    y = (baseline["group"] == "Demented").astype(int).to_numpy()
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
    logistic = make_pipeline(StandardScaler(), LogisticRegression())

    def auc(columns):
        return cross_val_score(logistic, baseline[columns], y, cv=folds, scoring="roc_auc")

    assert stats.ttest_ind(baseline["education_years"][y == 1], baseline["education_years"][y == 0]).pvalue < 0.05
    for confounds in (["age", "male", "etiv"], ["age", "male", "etiv", "education_years"]):
        verdict = corrected_resampled_ttest(auc(confounds + ["nwbv"]) - auc(confounds), len(y) - len(y) // 5, len(y) // 5)
        assert verdict.mean > 0 and verdict.low < 0 < verdict.high and verdict.p > 0.05
