"""Error bars and paired comparisons when observations come in groups.

Images made from one template slice (or sessions of one person) are not
independent: a standard error over images pretends they are and comes out far
too small. These helpers resample and permute whole groups instead.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["comparison_verdict", "group_bootstrap_interval", "paired_group_comparison", "per_group_mean"]


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


def group_bootstrap_interval(values, groups, *, n_boot=2000, level=0.95, random_state=0):
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
