"""Tests for primer.data.lesion_slices (simulated lesion images for the CNN lesson)."""

import numpy as np
import pytest

from primer.data.lesion_slices import make_lesion_slices


@pytest.fixture(scope="module")
def data():
    return make_lesion_slices(n_images=40, random_state=0)


def test_shapes_and_dtypes(data):
    assert data.X.shape == (40, 1, 64, 64)
    assert data.X.dtype == np.float32
    assert data.y.shape == (40,)
    assert data.y.dtype == np.int64
    assert data.lesion_masks.shape == (40, 64, 64)
    assert data.lesion_masks.dtype == bool
    assert data.centres.shape == (40, 2)
    assert data.target_names == ["healthy", "lesion"]
    assert "SIMULATED" in data.DESCR
    assert np.isfinite(data.X).all()


def test_classes_are_balanced(data):
    assert set(np.unique(data.y)) == {0, 1}
    assert data.y.sum() == 20


def test_lesion_fraction():
    y = make_lesion_slices(n_images=20, lesion_fraction=0.25, random_state=1).y
    assert y.sum() == 5


def test_masks_and_centres_match_labels(data):
    lesion = data.y == 1
    assert data.lesion_masks[lesion].any(axis=(1, 2)).all()
    assert not data.lesion_masks[~lesion].any()
    assert np.isnan(data.centres[~lesion]).all()
    assert np.isfinite(data.centres[lesion]).all()
    for i in np.flatnonzero(lesion):
        r, c = np.round(data.centres[i]).astype(int)
        assert data.lesion_masks[i, r, c], "the centre lies inside its own lesion mask"


def test_lesion_is_brighter_than_surroundings():
    d = make_lesion_slices(n_images=20, noise=0.0, random_state=2)
    for i in np.flatnonzero(d.y == 1):
        inside = d.X[i, 0][d.lesion_masks[i]].mean()
        assert inside > 0.4, "a lesion adds up to lesion_contrast of brightness"


def test_deterministic():
    a = make_lesion_slices(n_images=12, random_state=3)
    b = make_lesion_slices(n_images=12, random_state=3)
    c = make_lesion_slices(n_images=12, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_generator_and_return_X_y():
    X, y = make_lesion_slices(n_images=6, image_size=32, random_state=np.random.default_rng(0),
                              return_X_y=True)
    assert X.shape == (6, 1, 32, 32)
    assert y.shape == (6,)


def test_fast():
    import time

    make_lesion_slices(n_images=4)  # loads and caches the template
    start = time.perf_counter()
    make_lesion_slices(n_images=400, random_state=5)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_images=1), ValueError, "n_images"),
        (dict(n_images=10.5), TypeError, "n_images"),
        (dict(n_images=True), TypeError, "n_images"),
        (dict(image_size=8), ValueError, "image_size"),
        (dict(lesion_fraction=0.0), ValueError, "lesion_fraction"),
        (dict(lesion_fraction=1.0), ValueError, "lesion_fraction"),
        (dict(lesion_contrast=-1.0), ValueError, "lesion_contrast"),
        (dict(noise=-0.1), ValueError, "noise"),
        (dict(noise="a lot"), TypeError, "noise"),
        (dict(max_shift=-1), ValueError, "max_shift"),
        (dict(max_shift=30), ValueError, "max_shift"),
        (dict(lesion_sigma=3), TypeError, "lesion_sigma"),
        (dict(lesion_sigma=(3, 1)), ValueError, "lesion_sigma"),
        (dict(random_state="seed"), TypeError, "random_state"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_lesion_slices(**kwargs)


def test_every_image_comes_from_one_of_13_template_slices():
    # The notebook splits by slice: the slice numbers must be there and few.
    d = make_lesion_slices(n_images=200, random_state=0)
    assert d.slice_index.shape == (200,)
    assert set(np.unique(d.slice_index).tolist()) == set(range(41, 54))
    assert "slices 41-53" in d.DESCR
    narrow = make_lesion_slices(n_images=50, slice_spread=1, random_state=0)
    assert set(np.unique(narrow.slice_index).tolist()) == {46, 47, 48}
