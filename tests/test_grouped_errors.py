"""Error bars and comparisons over groups (primer/inference.py), and the 06 claims built on them."""

import numpy as np
import pytest

from primer.inference import (comparison_verdict, pooled_group_interval, paired_group_comparison,
                                   per_group_mean)


def test_group_bootstrap_is_wider_than_the_image_standard_error_when_groups_differ():
    # 3 groups of 40 near-copies: accuracy 0.2, 0.5 and 0.9 per group.
    groups = np.repeat([0, 1, 2], 40)
    correct = np.concatenate([np.arange(40) < k for k in (8, 20, 36)]).astype(float)
    mean, low, high = pooled_group_interval(correct, groups)
    image_se = np.sqrt(mean * (1 - mean) / len(correct))
    assert np.isclose(mean, correct.mean())
    assert (high - low) / 2 > 2 * image_se


def test_per_group_mean_and_input_checks():
    labels, means = per_group_mean([1, 0, 1, 1], ["b", "a", "b", "a"])
    assert labels.tolist() == ["a", "b"] and means.tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="same length"):
        pooled_group_interval([1, 0, 1], [0, 1])
    with pytest.raises(ValueError, match="two groups"):
        pooled_group_interval([1, 0, 1], [0, 0, 0])


def test_paired_comparison_exact_sign_flip_p_value():
    # Every one of 6 groups favours a: the two-sided exact p is 2 / 2**6.
    result = paired_group_comparison([0.9] * 6, [0.5, 0.6, 0.4, 0.5, 0.7, 0.6])
    assert np.isclose(result["p_value"], 2 / 64)
    assert result["low"] > 0 and result["n_groups"] == 6
    assert "a is clearly better" in comparison_verdict(result, "a", "b", unit="slices")
    # Mixed signs: no verdict.
    mixed = paired_group_comparison([0.9, 0.5, 0.7, 0.4], [0.5, 0.9, 0.6, 0.5])
    assert mixed["p_value"] > 0.5
    assert "no clear difference" in comparison_verdict(mixed, "a", "b")


def test_06_model_answer_claim_cnn_beats_the_matched_filter_over_slices():
    # The 06 model answer says the CNN is clearly more accurate than the matched filter over the
    # held-out slices, and the filter far above chance: recompute that from the shipped CNN
    # predictions and the filter itself.
    from scipy import ndimage
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict

    from primer.data.lesion_slices import make_lesion_slices
    from primer.exercise import load_provided

    data = make_lesion_slices(n_images=600, image_size=32, lesion_sigma=(1.0, 1.5), max_shift=2, random_state=0)
    images = data.X[:, 0]
    blob = ndimage.gaussian_filter(images, (0, 1, 1)) - ndimage.gaussian_filter(images, (0, 2, 2))
    feature = blob.reshape(len(images), -1).max(axis=1, keepdims=True)
    filter_pred = cross_val_predict(LogisticRegression(), feature, data.y, groups=data.slice_index,
                                    cv=LeaveOneGroupOut())
    assert np.array_equal(filter_pred, load_provided("06_matched_filter")["predictions"])
    cnn_pred = load_provided("06_slice_cv")["cnn_predictions"]
    _, cnn = per_group_mean(cnn_pred == data.y, data.slice_index)
    _, filt = per_group_mean(filter_pred == data.y, data.slice_index)
    result = paired_group_comparison(cnn, filt)
    assert result["p_value"] < 0.05 and result["low"] > 0
    assert np.mean(filter_pred == data.y) > 0.75


def test_06_sweep_prose_matches_the_shipped_sweep():
    # sweep-outro: the flatten network stays near chance at every learning rate and seed; at 0.03 the
    # global-pool network is stuck at chance in one seed of five; at 0.003 eight epochs were not always
    # enough; the learning rate chosen on validation is 0.01.
    from primer.exercise import load_provided

    sweep = load_provided("06_architecture_sweep")
    flat_test, pool_test, pool_val = sweep["flatten"][:, :, 1], sweep["global_pool"][:, :, 1], sweep["global_pool"][:, :, 0]
    assert np.all(flat_test < 0.6)
    assert np.sum(pool_test[2] < 0.6) == 1 and pool_test.shape[1] == 5
    assert pool_test[0].min() < pool_test[1].min() - 0.1
    assert np.argmax(pool_val.mean(axis=1)) == 1
