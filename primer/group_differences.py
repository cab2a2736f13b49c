"""Do the classes of a target differ in the other measures? One test per feature, on independent units.

A confound check for a table: before crediting a model with "detecting the
disease", see which other measures already differ between the groups. Rows of
one unit (sessions of one person) are not independent, so each unit counts
once (its first row). Numbers are compared with a rank test (Mann-Whitney for
two classes, Kruskal-Wallis for more), text columns with a chi-square test of
the contingency table; a regression target is correlated (Spearman) instead.
p-values are Holm-adjusted over the features tested.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["group_differences", "describe_group_differences"]


def _holm(p_values):
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def _one_test(values, target, is_classification):
    keep = values.notna() & target.notna()
    values, target = values[keep], target[keep]
    if not is_classification:
        if not pd.api.types.is_numeric_dtype(values):
            return None
        result = stats.spearmanr(values, target)
        return "Spearman correlation", float(result.statistic), float(result.pvalue)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        table = pd.crosstab(values, target)
        if table.shape[0] < 2 or table.shape[1] < 2:
            return None
        chi2, p, _, _ = stats.chi2_contingency(table)
        return "chi-square", float(chi2), float(p)
    samples = [values[target == level] for level in np.unique(target)]
    if len(samples) < 2 or any(len(s) == 0 for s in samples):
        return None
    if len(samples) == 2:
        result = stats.mannwhitneyu(*samples)
        return "Mann-Whitney U", float(result.statistic), float(result.pvalue)
    result = stats.kruskal(*samples)
    return "Kruskal-Wallis", float(result.statistic), float(result.pvalue)


def group_differences(table, target, features, *, group=None, is_classification=True, alpha=0.05):
    """A data frame, one row per feature: test, statistic, p, Holm-adjusted p, ``differs``, class means."""
    if target not in table.columns or any(f not in table.columns for f in features):
        raise KeyError(f"{target!r} and every feature must be columns of the table; got {list(table.columns)}")
    units = table.groupby(group, sort=False).head(1) if group else table
    rows = []
    for feature in features:
        tested = _one_test(units[feature], units[target], is_classification)
        if tested is not None:
            rows.append(dict(feature=feature, test=tested[0], statistic=tested[1], p=tested[2]))
    result = pd.DataFrame(rows, columns=["feature", "test", "statistic", "p"])
    result["p_holm"] = _holm(result["p"]) if len(result) else []
    result["differs"] = result["p_holm"] < alpha
    if is_classification:
        for level in np.unique(units[target].dropna()):
            numeric = units.loc[units[target] == level, list(result["feature"])].apply(pd.to_numeric, errors="coerce")
            result[f"mean if {target}={level}"] = numeric.mean().to_numpy()
    return result.set_index("feature")


def describe_group_differences(result, target, alpha=0.05):
    """One sentence: which features differ with the target, which do not."""
    differ = list(result.index[result["differs"]])
    same = list(result.index[~result["differs"]])
    return (f"differ with {target} (Holm-adjusted p < {alpha}): {', '.join(differ) or 'none'}; "
            f"no clear difference: {', '.join(same) or 'none'}")
