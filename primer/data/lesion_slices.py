"""Simulated lesion images: axial slices of the MNI152 template with a blob.

Used by the deep-learning assignment (``06_dl_training``) to train a small
convolutional network to tell "healthy" slices from slices with a lesion.

**The lesions are simulated.** The course hub is offline and must not hold
patient data, so instead of real scans we take what nilearn ships: the MNI152
T1 template at 2 mm (``nilearn.datasets.load_mni152_template(resolution=2)``,
an average of 152 healthy brains). From it we cut axial slices near the middle
of the brain, shift them by a few pixels, scale their brightness a little, add
noise and, in half of the images, a *lesion*: a Gaussian blob of brighter
intensity (think of a hyperintense spot) at a random position inside the brain
mask. The task is therefore well defined (we know exactly where each lesion
is, so we can check what a network looks at) while looking like brain images.
Real lesion data sets (e.g. ATLAS for stroke lesions) need a data use
agreement and a download; see the notebook for links.

**What this builds in:** every image is one of only ``2 * slice_spread + 1``
slices (13 by default) of ONE template, so there is no anatomical variation
between "people": images of the same slice are near-copies apart from the
shift, brightness, noise and lesion. Split by ``slice_index`` (e.g.
``GroupShuffleSplit`` with ``groups=slice_index``) so that a test set holds
slices never seen in training.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

__all__ = ["make_lesion_slices"]

# Axial slices of the 2 mm template (95 slices, z = -72 + 2 * k mm) that are
# used: the middle of the brain, where a slice shows cortex, white matter and
# the ventricles.
_MIDDLE_SLICE = 47


def _check_int(name, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"{name} must be at least {minimum}{upper}, got {value}.")
    return int(value)


def _check_float(name, value, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}.")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}.")
    return float(value)


@functools.lru_cache(maxsize=8)
def _template_slices(image_size, slice_spread):
    """Template and brain-mask slices, square, resized to image_size pixels.

    Returns two float32 arrays (n_slices, image_size, image_size); anterior is
    at the top of each image and the subject's left on the right (radiological
    view is not implied; it is only a picture).
    """
    from scipy import ndimage

    try:
        from nilearn.datasets import load_mni152_template
    except ImportError as exc:  # pragma: no cover - nilearn is a course dependency
        raise ImportError(
            "make_lesion_slices needs nilearn (it uses the MNI152 template that nilearn "
            "ships). Install the course environment: pip install -e /path/to/course"
        ) from exc
    volume = np.asarray(load_mni152_template(resolution=2).get_fdata(), dtype=np.float32)
    # Crop the field of view to the head (with a 4-voxel margin) so that the
    # brain fills most of each image.
    xs, ys, _ = np.nonzero(volume > 0.2)
    volume = volume[
        max(xs.min() - 4, 0) : xs.max() + 5,
        max(ys.min() - 4, 0) : ys.max() + 5,
    ]
    slices = range(_MIDDLE_SLICE - slice_spread, _MIDDLE_SLICE + slice_spread + 1)
    images, masks = [], []
    for k in slices:
        img = volume[:, ::-1, k].T  # rows: anterior -> posterior, columns: x
        side = max(img.shape)
        pad_r, pad_c = side - img.shape[0], side - img.shape[1]
        img = np.pad(img, ((pad_r // 2, pad_r - pad_r // 2), (pad_c // 2, pad_c - pad_c // 2)))
        img = ndimage.zoom(img, image_size / side, order=1)[:image_size, :image_size]
        img = np.clip(img, 0.0, None)
        img /= img.max()
        mask = img > 0.2
        mask = ndimage.binary_fill_holes(mask)
        images.append(img.astype(np.float32))
        masks.append(mask)
    return np.stack(images), np.stack(masks)


def make_lesion_slices(
    n_images=400,
    *,
    image_size=64,
    lesion_fraction=0.5,
    lesion_contrast=0.8,
    lesion_sigma=(1.5, 2.5),
    noise=0.1,
    max_shift=3,
    slice_spread=6,
    random_state=0,
    return_X_y=False,
):
    """Simulated brain slices, half of them with a lesion (a bright blob).

    SIMULATED DATA: axial slices of nilearn's MNI152 template (an average of
    healthy brains, shipped with nilearn, so this works offline and involves
    no patient data) with a simulated lesion, random shifts, brightness changes
    and noise. See the module docstring.

    Parameters
    ----------
    n_images : int, default=400
        Number of images (at least 2).
    image_size : int, default=64
        Height and width of each image in pixels (16 to 256). At 64, one pixel
        is about 3.1 mm.
    lesion_fraction : float, default=0.5
        Fraction of images with a lesion, in (0, 1). The number of lesion
        images is ``round(n_images * lesion_fraction)``: the classes are
        exactly balanced at 0.5 (for an even ``n_images``).
    lesion_contrast : float, default=0.8
        Peak intensity added at the lesion centre (images are scaled so that
        the brightest tissue is about 1).
    lesion_sigma : (float, float), default=(1.5, 2.5)
        Range of the lesion's Gaussian width, in pixels; each lesion draws its
        own width uniformly from it.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to every pixel.
    max_shift : int, default=3
        Each image is shifted by up to this many pixels along each axis.
    slice_spread : int, default=6
        Slices are taken from ``47 - slice_spread`` to ``47 + slice_spread`` of
        the 95 axial slices (z = -72 + 2k mm), i.e. around z = 22 mm.
    random_state : int or numpy.random.Generator, default=0
        Seed; the same seed gives the same images.
    return_X_y : bool, default=False
        If True, return only ``(X, y)``.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X`` float32 (n_images, 1, image_size, image_size): images, channel
        axis second as torch expects (N, C, H, W).
        ``y`` int64 (n_images,): 0 = healthy, 1 = lesion.
        ``lesion_masks`` bool (n_images, image_size, image_size): pixels where
        the lesion adds more than half its peak (all False for healthy images).
        ``centres`` float32 (n_images, 2): lesion centre (row, column) in
        pixels, NaN for healthy images.
        ``slice_index`` int64 (n_images,): the template slice used (the
        unit to split by: images of one slice are not independent).
        ``target_names`` ``["healthy", "lesion"]`` and ``DESCR``.
    (X, y) : tuple, if ``return_X_y`` is True.

    Examples
    --------
    >>> from primer.data.lesion_slices import make_lesion_slices
    >>> data = make_lesion_slices(n_images=10)
    >>> data.X.shape, data.y.mean()
    ((10, 1, 64, 64), 0.5)
    """
    n_images = _check_int("n_images", n_images, 2)
    image_size = _check_int("image_size", image_size, 16, 256)
    lesion_fraction = _check_float("lesion_fraction", lesion_fraction, 0.0, 1.0, low_open=True)
    if lesion_fraction >= 1.0:
        raise ValueError("lesion_fraction must be below 1: some images must be healthy.")
    lesion_contrast = _check_float("lesion_contrast", lesion_contrast, 0.0, 10.0, low_open=True)
    noise = _check_float("noise", noise, 0.0, 10.0)
    max_shift = _check_int("max_shift", max_shift, 0, image_size // 4)
    slice_spread = _check_int("slice_spread", slice_spread, 0, 20)
    try:
        sigma_low, sigma_high = (float(s) for s in lesion_sigma)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"lesion_sigma must be a pair (low, high) of numbers, got {lesion_sigma!r}."
        ) from exc
    if not 0.5 <= sigma_low <= sigma_high <= image_size / 4:
        raise ValueError(
            f"lesion_sigma must satisfy 0.5 <= low <= high <= image_size / 4, got {lesion_sigma!r}."
        )
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    elif random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        rng = np.random.default_rng(random_state)
    else:
        raise TypeError(
            f"random_state must be an int, None or a numpy Generator, got {random_state!r}."
        )
    from scipy import ndimage
    from sklearn.utils import Bunch

    templates, masks = _template_slices(image_size, slice_spread)
    n_lesion = int(round(n_images * lesion_fraction))
    n_lesion = min(max(n_lesion, 1), n_images - 1)
    y = np.zeros(n_images, dtype=np.int64)
    y[:n_lesion] = 1
    y = rng.permutation(y)

    slice_index = rng.integers(0, len(templates), size=n_images)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n_images, 2))
    gains = rng.uniform(0.85, 1.15, size=n_images).astype(np.float32)
    # Lesions sit well inside the brain: 3 pixels away from its edge.
    inner = np.stack([ndimage.binary_erosion(m, iterations=3) for m in masks])
    rows, cols = np.mgrid[0:image_size, 0:image_size].astype(np.float32)

    X = np.empty((n_images, 1, image_size, image_size), dtype=np.float32)
    lesion_masks = np.zeros((n_images, image_size, image_size), dtype=bool)
    centres = np.full((n_images, 2), np.nan, dtype=np.float32)
    for i in range(n_images):
        k = slice_index[i]
        img = np.roll(templates[k], shift=tuple(shifts[i]), axis=(0, 1)) * gains[i]
        if y[i] == 1:
            candidates = np.argwhere(np.roll(inner[k], shift=tuple(shifts[i]), axis=(0, 1)))
            r, c = candidates[rng.integers(len(candidates))] + rng.uniform(-0.5, 0.5, size=2)
            sigma = rng.uniform(sigma_low, sigma_high)
            blob = np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma**2))
            img = img + lesion_contrast * blob
            lesion_masks[i] = blob > 0.5
            centres[i] = (r, c)
        X[i, 0] = img
    X += rng.normal(0.0, noise, size=X.shape).astype(np.float32)
    if return_X_y:
        return X, y
    return Bunch(
        X=X,
        y=y,
        lesion_masks=lesion_masks,
        centres=centres,
        slice_index=(slice_index + _MIDDLE_SLICE - slice_spread).astype(np.int64),
        target_names=["healthy", "lesion"],
        DESCR=(
            "SIMULATED lesion images: axial slices of nilearn's MNI152 2 mm template "
            f"(slices {_MIDDLE_SLICE - slice_spread}-{_MIDDLE_SLICE + slice_spread}), "
            f"resized to {image_size}x{image_size}, shifted by up to {max_shift} px, "
            f"noise sd {noise}; {n_lesion} of {n_images} images carry a Gaussian blob "
            f"(+{lesion_contrast} at its centre, sigma {sigma_low}-{sigma_high} px) inside "
            "the brain. y: 0 = healthy, 1 = lesion."
        ),
    )
