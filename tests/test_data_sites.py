"""Tests for primer.data.sites (simulated multi-site data for 04's optional site section)."""

import numpy as np
import pytest

from primer.data.sites import make_site_data


@pytest.fixture(scope="module")
def large():
    # Many people per site, so per-site means estimate the offsets to about 0.03.
    return make_site_data(n_per_site=4000, random_state=1)


def test_each_site_holds_its_share_of_patients():
    data = make_site_data(n_per_site=80, patient_share=(0.15, 0.3, 0.7, 0.85), random_state=0)
    assert data.X.shape == (320, 10) and data.diagnosis.shape == data.site.shape == (320,)
    assert list(np.unique(data.site)) == ["site A", "site B", "site C", "site D"]
    counts = [int(data.diagnosis[data.site == name].sum()) for name in np.unique(data.site)]
    assert counts == [12, 24, 56, 68]
    assert "SIMULATED" in data.DESCR


def test_each_site_shifts_every_feature_by_its_offset(large):
    for k, name in enumerate(np.unique(large.site)):
        controls = large.X[(large.site == name) & (large.diagnosis == 0)]
        np.testing.assert_allclose(controls.mean(axis=0), large.site_offsets[k], atol=0.1)
    # the offsets are drawn with standard deviation site_shift (1.5 by default): 40 draws
    assert 1.0 < large.site_offsets.std() < 2.0


def test_patients_differ_only_in_the_informative_features(large):
    for k, name in enumerate(np.unique(large.site)):
        here = large.site == name
        gap = large.X[here & (large.diagnosis == 1)].mean(axis=0) - large.X[here & (large.diagnosis == 0)].mean(axis=0)
        np.testing.assert_allclose(gap[:3], 0.5, atol=0.12)
        np.testing.assert_allclose(gap[3:], 0.0, atol=0.12)


def test_same_seed_same_data_and_bad_shares_are_refused():
    a, b = make_site_data(random_state=3), make_site_data(random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    with pytest.raises(ValueError, match="patient_share"):
        make_site_data(patient_share=(0.5, 1.0))
    with pytest.raises(ValueError, match="patients and controls"):
        make_site_data(n_per_site=4, patient_share=(0.05, 0.5))
