"""Simulated single-trial brain images of left- and right-hand button presses, in runs.

Used by ``02_ml_model_types`` (section "Decoding brain images") to decode which
hand a person used from their brain images, with nilearn's ``NiftiMasker`` and
leave-one-run-out cross-validation.

**The images are simulated.** The course hub is offline, and real single-trial
fMRI data (e.g. nilearn's ``fetch_haxby``) need a download of hundreds of MB.
So we build trial images from what nilearn ships: the brain mask of the MNI152
template and the group z-map "left vs right button press" of NeuroVault image
10426 (``load_sample_motor_activation_image``, the map of ``01_prerequisites``),
both resampled to coarse voxels (10 mm by default) to keep the notebook fast.

**What this builds in**, so that results can be told from discoveries. One
participant, ``n_runs`` runs of ``trials_per_run`` trials; within a run the
hands come in blocks of ``trials_per_block`` trials, half the blocks of each
hand, in a random order. Each trial image is

    +/- effect * (the motor map scaled to a peak of 1)   (+ for left, - for right)
    + a run pattern shared by every trial of the run       (scanner drift, sd 0.5)
    + a block pattern shared by the trials of one block    (slow noise, sd block_noise)
    + trial noise                                          (sd 1)

inside the brain mask. The block pattern is what makes trials of one block (so of
one hand) alike beyond the hand itself, as the slow haemodynamic response and
physiological noise do in real block designs: a model tested on trials whose
block-mates it was trained on can recognise the block instead of the hand.
Testing on a whole run it never saw (leave-one-run-out) removes that shortcut.
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_motor_trials"]

_RUN_NOISE = 0.5
_TRIAL_NOISE = 1.0


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")
    return int(value)


@functools.lru_cache(maxsize=4)
def _mask_and_pattern(voxel_size_mm):
    """The MNI brain mask and the motor map on a grid of voxel_size_mm voxels (cached: ~1 s)."""
    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask, load_sample_motor_activation_image
    from nilearn.image import resample_img, resample_to_img

    mask = resample_img(load_mni152_brain_mask(resolution=2), target_affine=np.eye(3) * voxel_size_mm,
                        interpolation="nearest", force_resample=True, copy_header=True)
    motor = resample_to_img(load_sample_motor_activation_image(), mask, interpolation="linear",
                            force_resample=True, copy_header=True)
    inside = mask.get_fdata() > 0
    z_map = np.nan_to_num(motor.get_fdata()) * inside
    mask_img = nib.Nifti1Image(inside.astype(np.uint8), mask.affine)
    return mask_img, z_map / np.abs(z_map).max()


def load_motor_trials(n_runs=5, trials_per_run=12, trials_per_block=3, *, effect=0.6,
                      block_noise=0.7, voxel_size_mm=10, random_state=0):
    """Simulated trial images of left/right button presses, ``n_runs`` runs of one person.

    Returns a ``Bunch`` with ``images`` (one 4D ``Nifti1Image``, a trial per volume),
    ``hand`` ("left"/"right" per trial), ``run`` and ``block`` (integers per trial),
    ``mask_img`` (the MNI brain mask on the same grid), ``pattern_img`` (the built-in
    effect: the motor map scaled to a peak of 1) and ``DESCR``. See the module docstring
    for what is simulated and why. The same arguments always give the same images.
    """
    import nibabel as nib

    n_runs = _check_count("n_runs", n_runs, 2)
    trials_per_block = _check_count("trials_per_block", trials_per_block, 1)
    trials_per_run = _check_count("trials_per_run", trials_per_run, 2 * trials_per_block)
    if trials_per_run % (2 * trials_per_block):
        raise ValueError(f"trials_per_run ({trials_per_run}) must be a multiple of 2 * trials_per_block "
                         f"({2 * trials_per_block}): each run holds as many left as right blocks.")
    mask_img, pattern = _mask_and_pattern(float(voxel_size_mm))
    inside = mask_img.get_fdata() > 0
    rng = np.random.default_rng(random_state)

    def noise(sd):
        return rng.normal(0, sd, inside.shape) * inside

    volumes, hand, run, block = [], [], [], []
    blocks_per_hand = trials_per_run // trials_per_block // 2
    for run_index in range(n_runs):
        run_pattern = noise(_RUN_NOISE)
        for block_in_run, side in enumerate(rng.permutation(np.repeat([1, -1], blocks_per_hand))):
            block_pattern = noise(block_noise)
            for _ in range(trials_per_block):
                volumes.append(side * effect * pattern + run_pattern + block_pattern + noise(_TRIAL_NOISE))
                hand.append("left" if side > 0 else "right")
                run.append(run_index)
                block.append(run_index * 2 * blocks_per_hand + block_in_run)
    images = nib.Nifti1Image(np.stack(volumes, axis=-1).astype(np.float32), mask_img.affine)
    return Bunch(images=images, hand=np.array(hand), run=np.array(run), block=np.array(block),
                 mask_img=mask_img, pattern_img=nib.Nifti1Image(pattern.astype(np.float32), mask_img.affine),
                 DESCR=__doc__)
