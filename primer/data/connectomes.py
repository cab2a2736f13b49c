"""Functional connectomes of children and adults (simulated, offline).

The 2021 workshop this course grows out of predicted age from the
functional connectomes of the *development fMRI* dataset (OpenNeuro
`ds000228 <https://openneuro.org/datasets/ds000228>`_, Richardson et al.
2018, Nature Communications): 155 participants (122 children of 3-12 years
and 33 adults) watched a short Pixar film in the scanner; their time series,
averaged in the 64 regions of the BASC atlas, were turned into one
correlation matrix each, i.e. 64 * 63 / 2 = 2016 connections ("edges").

The course hub is offline, so :func:`load_development_connectomes` builds a
faithful **simulation** of that table from public scikit-learn and nilearn
APIs: same participants table (counts per age group, age ranges), same
shape, same pipeline (time series -> ``ConnectivityMeasure``), with a
developmental effect of plausible size. It is fast (about a second),
deterministic and needs no download. :func:`load_development_connectomes_real`
computes the real connectomes with nilearn's fetchers on a hub that is online.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state, check_scalar

__all__ = [
    "load_development_connectomes",
    "load_development_connectomes_real",
    "N_REGIONS",
    "N_EDGES",
]

N_REGIONS = 64
N_EDGES = N_REGIONS * (N_REGIONS - 1) // 2  # 2016
N_TIMEPOINTS = 168  # volumes per run in ds000228 (TR = 2 s, ~5.6 min)

# Age groups of ds000228's participants.tsv: (label, count, min age, max age).
_AGE_GROUPS = (
    ("3yo", 17, 3.5, 4.0),
    ("4yo", 14, 4.0, 5.0),
    ("5yo", 34, 5.0, 6.0),
    ("7yo", 23, 7.0, 8.0),
    ("8-12yo", 34, 8.0, 12.3),
    ("Adult", 33, 18.0, 39.0),
)
_N_REAL = sum(group[1] for group in _AGE_GROUPS)  # 155
_MIN_SUBJECTS, _MAX_SUBJECTS = 12, 1000
_EFFECT, _WEIGHT_SD, _INDIVIDUAL_SD = 0.8, 0.3, 0.3
_NETWORK_SIZES = (32, 24)

_DESCR = """\
Development fMRI connectomes (SIMULATED stand-in for OpenNeuro ds000228)
-----------------------------------------------------------------------
X : ndarray of shape (n_subjects, 2016), float64
    One row per participant: the correlations between the time series of
    64 brain regions (BASC064-like parcellation; nilearn's default Ledoit-Wolf
    covariance estimate, so slightly shrunk towards 0), lower triangle
    of the 64 x 64 matrix without its diagonal (nilearn's
    ``ConnectivityMeasure(kind="correlation", vectorize=True,
    discard_diagonal=True)``). Unitless, between -1 and 1.
phenotype : DataFrame, one row per participant (same order as X)
    participant_id : str, "sub-pixar001", ...
    Age            : float, age at scan in years
    AgeGroup       : str, one of "3yo", "4yo", "5yo", "7yo", "8-12yo", "Adult"
    Child_Adult    : str, "child" (3-12 years) or "adult" (18-39 years)
edges : DataFrame of shape (2016, 2), the region indices (0-63) of each column
    of X, in the order ``ConnectivityMeasure`` vectorizes them.
region_names : list of 64 str
timeseries : list of n_subjects arrays of shape (168, 64) (only with
    ``return_timeseries=True``).

The data are simulated: a sparse random "base" network shared by everyone,
plus two networks whose coupling grows (long-range) or shrinks (local) with
log-age, plus individual variability and more noise in young children (they
move more). Time series of 168 volumes are drawn from each participant's
covariance and turned into correlations. The participants table copies the
real group sizes and age ranges. With 5-fold cross-validation a linear
support vector regression predicts age with a mean absolute error of ~3 years
(always predicting the mean age: ~6 years); logistic regression tells
children from adults with ~95% accuracy (always saying "child": 79%).
The real data: nilearn.datasets.fetch_development_fmri (see
primer.data.connectomes.load_development_connectomes_real).
"""


def _check_integer(value, name, low, high):
    """``value`` as an int in [low, high]; scikit-learn's errors (TypeError, ValueError) otherwise."""
    if isinstance(value, bool):  # check_scalar would take True for 1
        raise TypeError(f"{name} must be an instance of int, not bool.")
    return int(check_scalar(value, name, numbers.Integral, min_val=low, max_val=high))


def _generator(random_state):
    """A NumPy Generator for the simulation.

    An integer seeds it directly, so seed 0 is always the course's dataset;
    None or a ``numpy.random.RandomState`` work as everywhere in scikit-learn.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(_check_integer(random_state, "random_state", 0, None))
    return np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))


def _group_counts(n_subjects):
    """Split n_subjects over the age groups in the real proportions."""
    real = np.array([group[1] for group in _AGE_GROUPS], dtype=float)
    exact = real * n_subjects / _N_REAL
    counts = np.floor(exact).astype(int)
    # Largest remainders get the leftover participants; at least one per group.
    for index in np.argsort(-(exact - counts), kind="stable")[: n_subjects - counts.sum()]:
        counts[index] += 1
    for index in np.flatnonzero(counts == 0):
        counts[index] += 1
        counts[np.argmax(counts)] -= 1
    return counts


def _simulate_phenotype(n_subjects, rng):
    rows = []
    for (label, _, low, high), count in zip(_AGE_GROUPS, _group_counts(n_subjects)):
        if label == "Adult":
            # Adults of ds000228 are mostly in their twenties.
            ages = np.clip(low + rng.gamma(2.0, 3.5, size=count), low, high)
        else:
            ages = rng.uniform(low, high, size=count)
        for age in ages:
            rows.append((round(float(age), 2), label, "adult" if label == "Adult" else "child"))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    phenotype = pd.DataFrame(rows, columns=["Age", "AgeGroup", "Child_Adult"])
    phenotype.insert(
        0, "participant_id", [f"sub-pixar{i + 1:03d}" for i in range(len(rows))]
    )
    return phenotype


def _network_loadings(rng):
    """Two developmental networks: long-range (grows) and local (fades)."""
    regions = rng.permutation(N_REGIONS)
    n_long, n_local = _NETWORK_SIZES
    long_range = np.zeros(N_REGIONS)
    long_range[regions[:n_long]] = rng.uniform(0.6, 1.0, size=n_long)
    local = np.zeros(N_REGIONS)
    local[regions[n_long:n_long + n_local]] = rng.uniform(0.6, 1.0, size=n_local)
    return long_range, local


def _simulate_timeseries(phenotype, rng):
    from sklearn.datasets import make_sparse_spd_matrix

    precision = make_sparse_spd_matrix(
        N_REGIONS, alpha=0.9, smallest_coef=0.2, largest_coef=0.7,
        norm_diag=True, random_state=int(rng.integers(2**31 - 1)),
    )
    base = np.linalg.inv(precision)
    scale = np.sqrt(np.diag(base))
    base = base / np.outer(scale, scale)  # unit variances
    long_range, local = _network_loadings(rng)

    ages = phenotype["Age"].to_numpy()
    # Maturity: 0 at 3 years, 1 at 25 years, on a log scale.
    maturity = np.clip(np.log(ages / 3.0) / np.log(25.0 / 3.0), 0.0, 1.1)
    series = []
    for subject, mature in enumerate(maturity):
        individual = rng.normal(0.0, _INDIVIDUAL_SD, size=(N_REGIONS, 3))
        weight_long = 0.2 + _EFFECT * mature + rng.normal(0.0, _WEIGHT_SD)
        weight_local = 0.2 + _EFFECT * (1.0 - mature) + rng.normal(0.0, _WEIGHT_SD)
        loadings = np.column_stack(
            [long_range * np.sqrt(max(weight_long, 0.0)),
             local * np.sqrt(max(weight_local, 0.0)),
             individual]
        )
        covariance = base + loadings @ loadings.T
        signal = rng.multivariate_normal(
            np.zeros(N_REGIONS), covariance, size=N_TIMEPOINTS, method="cholesky"
        )
        # Younger children move more: more unstructured noise.
        noise_sd = 0.6 + 0.6 * (1.0 - min(mature, 1.0))
        series.append(signal + rng.normal(0.0, noise_sd, size=signal.shape))
    return series


def load_development_connectomes(n_subjects=155, random_state=0, *, return_timeseries=False):
    """Load SIMULATED functional connectomes of children and adults.

    A stand-in for the development fMRI dataset (OpenNeuro ds000228) that
    the 2021 workshop used: the course hub has no internet access, so the
    connectomes are simulated (see ``bunch.DESCR`` for the recipe). Shape,
    participants table and pipeline follow the real data; the values do not
    come from any real brain. For the real data use
    :func:`load_development_connectomes_real` on a hub that is online.

    Parameters
    ----------
    n_subjects : int, default=155
        Number of participants, between 12 and 1000. The age groups keep
        the real proportions (122 children of 3-12 years and 33 adults of
        18-39 years for 155).
    random_state : int, numpy.random.RandomState or None, default=0
        An int is the seed: the same arguments always give the same dataset
        (0 is the course's). None or a RandomState, as in scikit-learn.
    return_timeseries : bool, default=False
        Also return the simulated regional time series (168 volumes x 64
        regions per participant).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``X`` (n_subjects x 2016 correlations), ``phenotype`` (DataFrame with
        participant_id, Age in years, AgeGroup, Child_Adult), ``edges``,
        ``region_names``, ``simulated=True`` and ``DESCR`` (columns and units);
        ``timeseries`` if asked for.

    Examples
    --------
    >>> from primer.data.connectomes import load_development_connectomes
    >>> data = load_development_connectomes()
    >>> data.X.shape
    (155, 2016)
    >>> data.phenotype["Child_Adult"].value_counts().to_dict()
    {'child': 122, 'adult': 33}
    """
    n_subjects = _check_integer(n_subjects, "n_subjects", _MIN_SUBJECTS, _MAX_SUBJECTS)
    rng = _generator(random_state)
    if not isinstance(return_timeseries, bool):
        raise TypeError(
            f"return_timeseries must be True or False; got {return_timeseries!r}."
        )
    from nilearn.connectome import ConnectivityMeasure

    phenotype = _simulate_phenotype(n_subjects, rng)
    series = _simulate_timeseries(phenotype, rng)
    measure = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True)
    X = measure.fit_transform(series).astype(np.float64)

    rows, cols = np.tril_indices(N_REGIONS, k=-1)
    edges = pd.DataFrame({"region_a": rows, "region_b": cols})
    # ConnectivityMeasure vectorizes the lower triangle row by row, like tril_indices.
    bunch = Bunch(
        X=X,
        phenotype=phenotype,
        edges=edges,
        region_names=[f"region_{i:02d}" for i in range(N_REGIONS)],
        simulated=True,
        DESCR=_DESCR,
    )
    if return_timeseries:
        bunch["timeseries"] = series
    return bunch


_OFFLINE_HELP = (
    "Could not fetch the development fMRI dataset (OpenNeuro ds000228) with "
    "nilearn: {reason}\n"
    "This needs internet access (about 1.5 GB for 155 participants) or a data "
    "folder where nilearn already downloaded it. What to do:\n"
    "  * on an offline hub, use primer.data.connectomes.load_development_connectomes() "
    "(simulated, same shape and columns);\n"
    "  * on a computer that is online, run this function once with data_dir=<folder> "
    "(or set NILEARN_SHARED_DATA to a shared folder) and copy that folder to the hub."
)


def load_development_connectomes_real(data_dir=None, n_subjects=None):
    """Compute the REAL development fMRI connectomes with nilearn (needs data).

    Downloads (or reuses from ``data_dir``) the preprocessed runs of
    OpenNeuro ds000228 through :func:`nilearn.datasets.fetch_development_fmri`
    and the BASC multiscale atlas (64 regions), extracts the regional time
    series with their confounds and returns the same bunch as
    :func:`load_development_connectomes` (``simulated=False``). This takes
    minutes and about 1.5 GB; it is never used by the course notebooks.

    Parameters
    ----------
    data_dir : str or Path, optional
        nilearn data folder. If given it must exist (otherwise a
        ``FileNotFoundError`` is raised before any download is tried).
        ``None`` uses nilearn's default (``NILEARN_SHARED_DATA`` /
        ``NILEARN_DATA`` / ``~/nilearn_data``).
    n_subjects : int, optional
        Number of participants (1-155); ``None`` means all 155.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` does not exist.
    RuntimeError
        The data could not be fetched (e.g. the machine is offline); the
        message says what to do.
    """
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise FileNotFoundError(
                f"data_dir {str(data_dir)!r} does not exist. "
                + _OFFLINE_HELP.format(reason="no data folder").split("\n", 1)[1]
            )
    if n_subjects is not None:  # None: all 155
        n_subjects = _check_integer(n_subjects, "n_subjects", 1, _N_REAL)
    from nilearn import datasets
    from nilearn.connectome import ConnectivityMeasure
    from nilearn.maskers import NiftiLabelsMasker

    try:
        development = datasets.fetch_development_fmri(
            n_subjects=n_subjects, data_dir=data_dir, verbose=0
        )
        atlas = datasets.fetch_atlas_basc_multiscale_2015(
            data_dir=data_dir, resolution=64, verbose=0
        )
    except Exception as error:  # network errors come in many types
        raise RuntimeError(_OFFLINE_HELP.format(reason=f"{type(error).__name__}: {error}")) \
            from error

    masker = NiftiLabelsMasker(labels_img=atlas.maps, standardize="zscore_sample")
    series = [
        masker.fit_transform(func, confounds=confounds)
        for func, confounds in zip(development.func, development.confounds)
    ]
    measure = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True)
    X = measure.fit_transform(series)
    pheno = pd.DataFrame(development.phenotypic)
    phenotype = pd.DataFrame({
        "participant_id": pheno["participant_id"].astype(str),
        "Age": pheno["Age"].astype(float),
        "AgeGroup": pheno["AgeGroup"].astype(str),
        "Child_Adult": pheno["Child_Adult"].astype(str),
    }).reset_index(drop=True)
    rows, cols = np.tril_indices(N_REGIONS, k=-1)
    return Bunch(
        X=X,
        phenotype=phenotype,
        edges=pd.DataFrame({"region_a": rows, "region_b": cols}),
        region_names=[f"region_{i:02d}" for i in range(N_REGIONS)],
        simulated=False,
        DESCR=_DESCR.replace("SIMULATED stand-in for ", "real, "),
    )
