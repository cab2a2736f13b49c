"""Plausible wrong answers for source/01_prerequisites/prerequisites.ipynb.

Each entry replaces the solution cell ``solution`` with ``code``; the test cell
``test`` must then fail.
"""

WRONG_ANSWERS = [
    # Exercise 1: voxel_volume
    dict(
        solution="voxel-volume",
        test="test-voxel-volume",
        why="assumes cubic voxels: cubes the first edge length",
        code=(
            "def voxel_volume(voxel_size):\n"
            "    return voxel_size[0] ** 3\n"
        ),
    ),
    dict(
        solution="voxel-volume",
        test="test-voxel-volume",
        why="adds the edge lengths instead of multiplying them",
        code=(
            "def voxel_volume(voxel_size):\n"
            "    return sum(voxel_size)\n"
        ),
    ),
    dict(
        solution="voxel-volume",
        test="test-voxel-volume",
        why="rounds the volume to a whole number (right for the example voxels, wrong for 1.2 x 1.7 x 2.9 mm)",
        code=(
            "def voxel_volume(voxel_size):\n"
            "    return int(np.prod(voxel_size))\n"
        ),
    ),
    dict(
        solution="voxel-volume",
        test="test-voxel-volume",
        why="hard-codes the volumes of the voxel sizes the question and the tests mention",
        code=(
            "def voxel_volume(voxel_size):\n"
            "    known = {(3.0, 3.0, 3.0): 27.0, (2.0, 2.0, 3.0): 12.0, (1.5, 1.5, 4.0): 9.0, (1.0, 2.0, 3.0): 6.0}\n"
            "    return known.get(tuple(float(v) for v in voxel_size), 27.0)\n"
        ),
    ),
    # Exercise 2: slice_means
    dict(
        solution="slice-means",
        test="test-slice-means",
        why="wrong axes: one value per sagittal slice instead of per axial slice",
        code="slice_means = template_data.mean(axis=(1, 2))",
    ),
    dict(
        solution="slice-means",
        test="test-slice-means",
        why="averages over the axial axis only, giving a 2D image",
        code="slice_means = template_data.mean(axis=2)",
    ),
    dict(
        solution="slice-means",
        test="test-slice-means",
        why="uses the 1 mm template instead of the 2 mm one",
        code=(
            "slice_means = datasets.load_mni152_template(resolution=1).get_fdata().mean(axis=(0, 1))"
        ),
    ),
    # Exercise 3: values inside the brain
    dict(
        solution="in-brain",
        test="test-in-brain",
        why="multiplies by the mask: keeps the 3D shape and the zeros outside the brain",
        code=(
            "in_brain_values = template_data * mask_data\n"
            "mean_in_brain = in_brain_values.mean()"
        ),
    ),
    dict(
        solution="in-brain",
        test="test-in-brain",
        why="averages over the whole volume, background included",
        code=(
            "in_brain_values = template_data[mask_data]\n"
            "mean_in_brain = template_data.mean()"
        ),
    ),
    dict(
        solution="in-brain",
        test="test-in-brain",
        why="the easy wrong way: averages the non-zero voxels instead of the voxels inside the mask",
        code=(
            "in_brain_values = template_data[mask_data]\n"
            "mean_in_brain = template_data[template_data > 0].mean()"
        ),
    ),
    # Exercise 4: labelled line plot
    dict(
        solution="profile-plot",
        test="test-profile-plot",
        why="plots the line but labels nothing",
        code=(
            "profile_fig, profile_ax = plt.subplots()\n"
            "profile_ax.plot(j_index, coronal_means)"
        ),
    ),
    dict(
        solution="profile-plot",
        test="test-profile-plot",
        why="plots the axial profile (wrong axes) instead of coronal_means",
        code=(
            "profile_fig, profile_ax = plt.subplots()\n"
            "profile_ax.plot(template_data.mean(axis=(0, 1)))\n"
            "profile_ax.set_xlabel('slice')\n"
            "profile_ax.set_ylabel('mean intensity')\n"
            "profile_ax.set_title('profile')"
        ),
    ),
    # Exercise 5: voxel size and world coordinates
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="reads the voxel size off the affine's diagonal, keeping the -3 of the flipped x axis",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return img.affine.diagonal()[:3], apply_affine(img.affine, ijk)\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="applies the template's affine to the motor map's voxel",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return img.header.get_zooms(), apply_affine(template.affine, ijk)\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="returns voxel indices instead of millimetres",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return img.header.get_zooms(), ijk\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="types in the motor map's numbers instead of reading them from the image",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return (3.0, 3.0, 3.0), np.array([0.0, -19.0, 19.0])\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="always uses the motor map, whatever image it is given",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return motor_img.header.get_zooms()[:3], apply_affine(motor_img.affine, ijk)\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="the easy wrong way: voxel size as |diagonal of the affine|, wrong for an image whose axes are rotated",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return np.abs(np.diag(img.affine)[:3]), apply_affine(img.affine, ijk)\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    dict(
        solution="voxel-to-mm",
        test="test-voxel-to-mm",
        why="returns all the header's zooms: four numbers (the fourth is time) for a 4D image",
        code=(
            "def voxel_size_and_position(img, ijk):\n"
            "    return img.header.get_zooms(), apply_affine(img.affine, ijk)\n"
            "motor_voxel_size, center_mm = voxel_size_and_position(motor_img, (26, 31, 23))"
        ),
    ),
    # Exercise 6: thresholding
    dict(
        solution="threshold",
        test="test-threshold",
        why="forgets that the threshold for the third count is two-sided",
        code=(
            "def count_suprathreshold(z_map, threshold):\n"
            "    return int((z_map > threshold).sum()), int((z_map < -threshold).sum()), int((z_map > threshold).sum())"
        ),
    ),
    dict(
        solution="threshold",
        test="test-threshold",
        why="sign error: z < threshold instead of z < -threshold (and the sum of the two as the third)",
        code=(
            "def count_suprathreshold(z_map, threshold):\n"
            "    positive, negative = int((z_map > threshold).sum()), int((z_map < threshold).sum())\n"
            "    return positive, negative, positive + negative"
        ),
    ),
    dict(
        solution="threshold",
        test="test-threshold",
        why="returns the motor map's counts, typed in",
        code="def count_suprathreshold(z_map, threshold):\n    return 2545, 1139, 3684",
    ),
    dict(
        solution="threshold",
        test="test-threshold",
        why="ignores its arguments: always the motor map at 3.1",
        code=(
            "def count_suprathreshold(z_map, threshold):\n"
            "    return (int((motor_data > 3.1).sum()), int((motor_data < -3.1).sum()),\n"
            "            int((np.abs(motor_data) > 3.1).sum()))"
        ),
    ),
    # Exercise 7: peak
    dict(
        solution="peak",
        test="test-peak",
        why="takes the peak of |z|, which here is a negative (right > left) voxel",
        code=(
            "def peak_voxel(data, affine):\n"
            "    peak_ijk = tuple(int(v) for v in np.unravel_index(np.argmax(np.abs(data)), data.shape))\n"
            "    return peak_ijk, apply_affine(affine, peak_ijk)"
        ),
    ),
    dict(
        solution="peak",
        test="test-peak",
        why="off by one: converts to 1-based (MATLAB/SPM-style) indices",
        code=(
            "def peak_voxel(data, affine):\n"
            "    peak_ijk = tuple(int(v) + 1 for v in np.unravel_index(np.argmax(data), data.shape))\n"
            "    return peak_ijk, apply_affine(affine, peak_ijk)"
        ),
    ),
    dict(
        solution="peak",
        test="test-peak",
        why="reports the voxel index as the MNI coordinate",
        code=(
            "def peak_voxel(data, affine):\n"
            "    peak_ijk = tuple(int(v) for v in np.unravel_index(np.argmax(data), data.shape))\n"
            "    return peak_ijk, peak_ijk"
        ),
    ),
    dict(
        solution="peak",
        test="test-peak",
        why="keeps np.argmax's flat index instead of unravelling it",
        code="def peak_voxel(data, affine):\n    return np.argmax(data), apply_affine(affine, (0, 0, 0))",
    ),
    dict(
        solution="peak",
        test="test-peak",
        why="types in the motor map's answer",
        code="def peak_voxel(data, affine):\n    return (6, 31, 32), np.array([60.0, -19.0, 46.0])",
    ),
    dict(
        solution="peak",
        test="test-peak",
        why="always uses the motor map's affine",
        code=(
            "def peak_voxel(data, affine):\n"
            "    peak_ijk = tuple(int(v) for v in np.unravel_index(np.argmax(data), data.shape))\n"
            "    return peak_ijk, apply_affine(motor_img.affine, peak_ijk)"
        ),
    ),
    # Exercise 8: resample and mask
    dict(
        solution="resample-mask",
        test="test-resample-mask",
        why="resamples onto the 1 mm template",
        code=(
            "motor_2mm = image.resample_to_img(motor_img, datasets.load_mni152_template(resolution=1),"
            " interpolation='linear')\n"
            "motor_in_brain = masking.apply_mask(motor_2mm, datasets.load_mni152_brain_mask(resolution=1))"
        ),
    ),
    dict(
        solution="resample-mask",
        test="test-resample-mask",
        why="keeps the default 'continuous' interpolation, which overshoots the z range",
        code=(
            "motor_2mm = image.resample_to_img(motor_img, template)\n"
            "motor_in_brain = masking.apply_mask(motor_2mm, brain_mask)"
        ),
    ),
    dict(
        solution="resample-mask",
        test="test-resample-mask",
        why="multiplies by the mask, returning a 3D array instead of a 1D vector",
        code=(
            "motor_2mm = image.resample_to_img(motor_img, template, interpolation='linear')\n"
            "motor_in_brain = motor_2mm.get_fdata() * mask_data"
        ),
    ),
    # Exercise 9: pandas groupby
    dict(
        solution="hemisphere-counts",
        test="test-hemisphere-counts",
        why="labels the hemisphere from the voxel index i, whose axis runs right to left in this image",
        code=(
            "supra['hemisphere'] = np.where(supra['i'] < 26, 'left', 'right')\n"
            "counts = supra.groupby(['effect', 'hemisphere']).size()"
        ),
    ),
    dict(
        solution="hemisphere-counts",
        test="test-hemisphere-counts",
        why="groups by hemisphere only, ignoring the direction of the effect",
        code=(
            "supra['hemisphere'] = supra['x_mm'].map(describe_side)\n"
            "counts = supra.groupby('hemisphere').size()"
        ),
    ),
]
