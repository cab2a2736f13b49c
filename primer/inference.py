"""Verdicts for the course's claims: tests and intervals that fit how the scores were resampled.

Cross-validation folds share training data, so fold scores are not independent:
a plain t-test (or "positive in 80 % of folds") over them is too confident.
These helpers are the ones the notebooks use instead:

- ``corrected_resampled_ttest``: paired differences of two models on the same
  (repeated) folds, with the Nadeau & Bengio (2003) variance correction;
- ``permutation_p_value``: a p-value from a null distribution computed with the
  same cross-validation as the observed score;
- ``group_bootstrap_interval``: an interval for a per-row statistic that resamples
  whole groups (participants, brains), never rows of one group separately;
  ``pooled_group_interval`` is its fast form for a pooled mean (an accuracy
  over images of a few template slices);
- ``paired_group_comparison`` and ``comparison_verdict``: two models scored on
  the same groups, compared by a bootstrap over groups and an exact sign-flip
  test, in one sentence with its verdict.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedVerdict:
    mean: float        # mean difference over folds
    low: float         # 95 % interval of the mean difference, corrected
    high: float
    t: float
    p: float           # two-sided
    folds: int

    def __str__(self) -> str:
        return (f"{self.mean:+.3f} (95% CI {self.low:+.3f} to {self.high:+.3f}; corrected resampled t-test "
                f"t = {self.t:.2f}, p = {self.p:.3f}, {self.folds} folds)")


def corrected_resampled_ttest(differences, n_train: int, n_test: int, confidence: float = 0.95) -> PairedVerdict:
    """Nadeau & Bengio's corrected resampled t-test of fold-by-fold score differences.

    ``differences`` are the paired differences of two models on the same J folds
    (e.g. 5 x 2 repeated k-fold); ``n_train`` and ``n_test`` are the sizes of one
    training and one test fold. The variance of the mean is inflated from 1/J to
    1/J + n_test/n_train because the folds overlap.
    """
    differences = np.asarray(differences, dtype=float).ravel()
    if differences.size < 2:
        raise ValueError("corrected_resampled_ttest needs the differences of at least 2 folds, one per fold")
    if n_train <= 0 or n_test <= 0:
        raise ValueError("n_train and n_test are the numbers of rows in one training fold and one test fold (> 0)")
    folds = differences.size
    mean = differences.mean()
    variance = differences.var(ddof=1) * (1 / folds + n_test / n_train)
    if variance == 0:
        t = np.inf if mean != 0 else 0.0
        p = 0.0 if mean != 0 else 1.0
        return PairedVerdict(mean, mean, mean, t, p, folds)
    t = mean / np.sqrt(variance)
    p = 2 * stats.t.sf(abs(t), df=folds - 1)
    half = stats.t.ppf(0.5 + confidence / 2, df=folds - 1) * np.sqrt(variance)
    return PairedVerdict(mean, mean - half, mean + half, t, p, folds)


def permutation_p_value(observed: float, null_scores) -> float:
    """One-sided p-value: (number of null scores >= observed, plus one) / (number of null scores, plus one).

    The null scores must come from the same cross-validation (same splitter,
    same repeats) as ``observed``; the +1 counts the observed labelling itself,
    so p is never 0.
    """
    null_scores = np.asarray(null_scores, dtype=float).ravel()
    if null_scores.size == 0:
        raise ValueError("permutation_p_value needs at least one score computed on permuted labels")
    return (np.sum(null_scores >= observed) + 1) / (null_scores.size + 1)


def group_bootstrap_interval(statistic: Callable[[np.ndarray], float], groups, n_boot: int = 1000,
                             confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic(rows)`` when whole groups are resampled with replacement.

    ``statistic`` receives the row indices of one bootstrap sample (rows of a group
    drawn twice appear twice). Use it when rows of one group (slices of a brain,
    sessions of a person) are not independent.
    """
    groups = np.asarray(groups)
    names, inverse = np.unique(groups, return_inverse=True)
    if names.size < 2:
        raise ValueError("group_bootstrap_interval needs at least 2 groups to resample")
    rows_of = [np.flatnonzero(inverse == g) for g in range(names.size)]
    rng = np.random.default_rng(seed)
    values = np.array([statistic(np.concatenate([rows_of[g] for g in rng.integers(0, names.size, names.size)]))
                       for _ in range(n_boot)])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _check_same_length(values, groups):
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if values.ndim != 1 or values.shape != groups.shape:
        raise ValueError(
            f"values and groups must be 1-D and of the same length (one group label per value); "
            f"got shapes {values.shape} and {groups.shape}.")
    if len(np.unique(groups)) < 2:
        raise ValueError("at least two groups are needed to resample groups.")
    return values, groups


def per_group_mean(values, groups):
    """(group labels, mean of values in each group), groups in sorted order."""
    values, groups = _check_same_length(values, groups)
    labels, codes = np.unique(groups, return_inverse=True)
    return labels, np.bincount(codes, weights=values) / np.bincount(codes)


def pooled_group_interval(values, groups, *, n_boot=2000, level=0.95, random_state=0):
    """Mean of ``values`` and a percentile bootstrap interval that resamples whole groups.

    Each bootstrap sample draws as many groups as there are, with replacement,
    and pools all their values (e.g. 1 for a correct prediction, 0 for a wrong
    one: the pooled mean is an accuracy). Returns ``(mean, low, high)``.
    """
    values, groups = _check_same_length(values, groups)
    labels, codes = np.unique(groups, return_inverse=True)
    sums, counts = np.bincount(codes, weights=values), np.bincount(codes)
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, len(labels), size=(n_boot, len(labels)))
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return float(values.mean()), float(low), float(high)


def paired_group_comparison(score_a, score_b, *, n_boot=2000, level=0.95, random_state=0):
    """Compare two models scored on the same groups (one score per group each).

    Returns a dict with the mean difference ``a - b`` over groups, a percentile
    bootstrap interval over groups, and a two-sided sign-flip permutation
    p-value (exact over all 2**n sign patterns up to 16 groups, else 20000
    random ones): under "no difference" each group's difference is as likely
    to have either sign.
    """
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"give one score per group for both models, same groups in the same order; "
                         f"got shapes {a.shape} and {b.shape}.")
    diff = a - b
    rng = np.random.default_rng(random_state)
    boot = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    if len(diff) <= 16:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(diff))))
    else:
        signs = rng.choice([1.0, -1.0], size=(20000, len(diff)))
    null = np.abs((signs * diff).mean(axis=1))
    observed = abs(diff.mean())
    p_value = (np.sum(null >= observed - 1e-12) + (0 if len(diff) <= 16 else 1)) / (len(null) + (0 if len(diff) <= 16 else 1))
    return {"difference": float(diff.mean()), "low": float(low), "high": float(high),
            "p_value": float(p_value), "n_groups": len(diff)}


def comparison_verdict(result, name_a, name_b, *, unit="groups", alpha=0.05):
    """One sentence for a :func:`paired_group_comparison` result, with its verdict."""
    if result["p_value"] < alpha:
        better = name_a if result["difference"] > 0 else name_b
        verdict = f"{better} is clearly better (p < {alpha})"
    else:
        verdict = f"no clear difference (p >= {alpha}) with {result['n_groups']} {unit}"
    return (f"{name_a} - {name_b}: {result['difference']:+.3f} accuracy, 95% bootstrap interval over "
            f"{result['n_groups']} {unit} {result['low']:+.3f} to {result['high']:+.3f}, sign-flip "
            f"permutation p = {result['p_value']:.2g}: {verdict}")
