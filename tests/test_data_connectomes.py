"""Tests of primer.data.connectomes (the simulated development-fMRI connectomes)."""

import time

import numpy as np
import pandas as pd
import pytest

from primer.data.connectomes import (
    N_EDGES,
    load_development_connectomes,
    load_development_connectomes_real,
)


@pytest.fixture(scope="module")
def data():
    return load_development_connectomes()


def test_shapes_and_types(data):
    assert N_EDGES == 2016
    assert data.X.shape == (155, 2016)
    assert data.X.dtype == np.float64
    assert np.isfinite(data.X).all()
    assert (np.abs(data.X) <= 1).all(), "correlations lie between -1 and 1"
    assert isinstance(data.phenotype, pd.DataFrame)
    assert len(data.phenotype) == 155
    assert data.edges.shape == (2016, 2)
    assert len(data.region_names) == 64
    assert data.simulated is True
    assert "SIMULATED" in data.DESCR and "ds000228" in data.DESCR


def test_phenotype_columns_and_groups(data):
    phenotype = data.phenotype
    assert list(phenotype.columns) == ["participant_id", "Age", "AgeGroup", "Child_Adult"]
    assert phenotype["participant_id"].is_unique
    assert phenotype["participant_id"].str.match(r"^sub-pixar\d{3}$").all()
    assert phenotype["Age"].dtype == np.float64
    assert phenotype["Child_Adult"].value_counts().to_dict() == {"child": 122, "adult": 33}
    assert set(phenotype["AgeGroup"]) == {"3yo", "4yo", "5yo", "7yo", "8-12yo", "Adult"}
    children = phenotype[phenotype["Child_Adult"] == "child"]["Age"]
    adults = phenotype[phenotype["Child_Adult"] == "adult"]["Age"]
    assert children.between(3, 12.5).all()
    assert adults.between(18, 39).all()
    # AgeGroup and Child_Adult agree.
    assert ((phenotype["AgeGroup"] == "Adult") == (phenotype["Child_Adult"] == "adult")).all()


def test_edges_follow_connectivity_measure_order(data):
    rows, cols = np.tril_indices(64, k=-1)
    np.testing.assert_array_equal(data.edges["region_a"], rows)
    np.testing.assert_array_equal(data.edges["region_b"], cols)
    series = load_development_connectomes(n_subjects=12, return_timeseries=True).timeseries
    assert len(series) == 12 and series[0].shape == (168, 64)
    from nilearn.connectome import ConnectivityMeasure

    # nilearn's default covariance estimator (Ledoit-Wolf) shrinks a little,
    # so compare with the full matrices from the same measure.
    matrices = ConnectivityMeasure(kind="correlation").fit_transform(series)
    np.testing.assert_allclose(
        load_development_connectomes(n_subjects=12).X, matrices[:, rows, cols], atol=1e-10
    )


def test_deterministic_and_seed_dependent(data):
    again = load_development_connectomes()
    np.testing.assert_array_equal(data.X, again.X)
    pd.testing.assert_frame_equal(data.phenotype, again.phenotype)
    other = load_development_connectomes(random_state=1)
    assert not np.allclose(data.X, other.X)


def test_other_sizes_keep_proportions():
    small = load_development_connectomes(n_subjects=40)
    assert small.X.shape == (40, 2016)
    counts = small.phenotype["Child_Adult"].value_counts()
    assert counts["adult"] in (8, 9)
    assert small.phenotype["AgeGroup"].nunique() == 6
    assert load_development_connectomes(n_subjects=12).phenotype["AgeGroup"].nunique() == 6


def test_fast():
    start = time.perf_counter()
    load_development_connectomes()
    assert time.perf_counter() - start < 6  # ~1-2 s on 2 shared cores


def test_age_is_learnable_but_not_trivially(data):
    from sklearn.model_selection import cross_val_predict
    from sklearn.svm import SVR

    age = data.phenotype["Age"].to_numpy()
    predicted = cross_val_predict(SVR(kernel="linear"), data.X, age, cv=5)
    mae = np.mean(np.abs(predicted - age))
    mae_mean = np.mean(np.abs(age - age.mean()))
    assert 1.5 < mae < 0.7 * mae_mean


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_subjects=5), ValueError, "n_subjects == 5, must be >= 12"),
        (dict(n_subjects=1001), ValueError, "n_subjects == 1001, must be <= 1000"),
        (dict(n_subjects=155.0), TypeError, "n_subjects must be an instance of int"),
        (dict(n_subjects="155"), TypeError, "n_subjects must be an instance of int"),
        (dict(n_subjects=True), TypeError, "n_subjects must be an instance of int, not bool"),
        (dict(random_state=-1), ValueError, "random_state == -1, must be >= 0"),
        (dict(random_state="zero"), ValueError, "cannot be used to seed"),
        (dict(return_timeseries="yes"), TypeError, "True or False"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_development_connectomes(**kwargs)


def test_random_state_accepts_what_scikit_learn_accepts():
    """An int is the seed itself (0 is the course's dataset); a RandomState gives a dataset as well."""
    seeded = load_development_connectomes(n_subjects=12, random_state=np.random.RandomState(3))
    again = load_development_connectomes(n_subjects=12, random_state=np.random.RandomState(3))
    assert np.array_equal(seeded.X, again.X)
    assert not np.array_equal(seeded.X, load_development_connectomes(n_subjects=12).X)


def test_real_loader_offline_error_is_clear(tmp_path):
    missing = tmp_path / "no_such_folder"
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as error:
        load_development_connectomes_real(data_dir=missing)
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert "does not exist" in message
    assert "load_development_connectomes()" in message
    assert "NILEARN_SHARED_DATA" in message


def test_real_loader_validates_n_subjects(tmp_path):
    with pytest.raises(ValueError, match="n_subjects == 500, must be <= 155"):
        load_development_connectomes_real(data_dir=tmp_path, n_subjects=500)
