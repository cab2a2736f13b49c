"""Tests for primer.data.motor_trials (simulated trial images for 02's decoding block)."""

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from primer.data.motor_trials import load_motor_trials


@pytest.fixture(scope="module")
def trials():
    return load_motor_trials()


def test_design_runs_blocks_and_hands(trials):
    assert trials.images.shape[-1] == 60 == len(trials.hand) == len(trials.run) == len(trials.block)
    assert trials.images.shape[:3] == trials.mask_img.shape
    assert "simulated" in trials.DESCR
    for run in range(5):
        in_run = trials.run == run
        assert np.sum(trials.hand[in_run] == "left") == np.sum(trials.hand[in_run] == "right") == 6
    for block in np.unique(trials.block):
        in_block = trials.block == block
        assert len(set(trials.hand[in_block])) == 1 and len(set(trials.run[in_block])) == 1
        assert np.ptp(np.flatnonzero(in_block)) == 2, "a block is 3 consecutive trials"


def test_same_arguments_same_images_other_seed_other_images(trials):
    again = load_motor_trials()
    other = load_motor_trials(random_state=1)
    assert np.array_equal(again.images.get_fdata(), trials.images.get_fdata())
    assert not np.allclose(other.images.get_fdata(), trials.images.get_fdata())


def test_the_motor_map_is_built_in_with_its_sign(trials):
    """Left trials minus right trials correlates with the built-in motor map."""
    data = trials.images.get_fdata()
    inside = trials.mask_img.get_fdata() > 0
    difference = (data[..., trials.hand == "left"].mean(-1) - data[..., trials.hand == "right"].mean(-1))[inside]
    pattern = trials.pattern_img.get_fdata()[inside]
    assert np.corrcoef(difference, pattern)[0, 1] > 0.3


def test_blocks_make_ungrouped_cv_optimistic(trials):
    """The lesson of 02's block: leave-one-run-out scores below a split that ignores the runs."""
    from nilearn.maskers import NiftiMasker

    X = NiftiMasker(mask_img=trials.mask_img, standardize=None).fit_transform(trials.images)
    model = make_pipeline(StandardScaler(), RidgeClassifier())
    by_run = cross_val_score(model, X, trials.hand, cv=LeaveOneGroupOut(), groups=trials.run).mean()
    mixed = cross_val_score(model, X, trials.hand, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    assert 0.6 < by_run < mixed - 0.1


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_runs=1), "n_runs"),
    (dict(trials_per_run=10, trials_per_block=3), "multiple of 2 \\* trials_per_block"),
    (dict(trials_per_block=0), "trials_per_block"),
    (dict(n_runs=2.5), "n_runs"),
])
def test_bad_arguments_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_motor_trials(**kwargs)
