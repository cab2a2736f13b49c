"""The numbers and comparisons that 01's and 02's prose and model answers state about their data are
recomputed here (01 from the images nilearn ships, 02 by running the notebook's own code), so a change
of data, code or settings that moves one fails until the prose is updated."""

import json
import re

import matplotlib
import numpy as np
import pytest

from conftest import source_notebook

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def cells(assignment: str) -> list[dict]:
    return json.loads(source_notebook(assignment).read_text())["cells"]


def prose(assignment: str) -> dict[str, str]:
    """Each markdown cell's text by grade id, whitespace collapsed (the phrases below may cross lines)."""
    return {cell["metadata"]["nbgrader"]["grade_id"]: " ".join("".join(cell["source"]).split())
            for cell in cells(assignment) if cell["cell_type"] == "markdown"}


def signed(value: float) -> str:
    """An integer as the prose prints it, with a real minus sign: −46."""
    return f"{value:.0f}".replace("-", "−")


def assert_states(text: dict[str, str], cell: str, *phrases: str):
    for phrase in phrases:
        assert phrase in text[cell], f"{cell} should say {phrase!r} (recomputed from the data)"


# 01_prerequisites: the template, its mask and the motor map, as the notebook loads them.

@pytest.fixture(scope="module")
def images():
    import nibabel as nib
    from nilearn import datasets
    motor = nib.load(datasets.load_sample_motor_activation_image())
    return {"template": datasets.load_mni152_template(resolution=2), "motor": motor, "z": motor.get_fdata()}


def test_01_prose_states_the_grids_and_coordinates_of_the_images(images):
    from nibabel.affines import apply_affine
    template, motor = images["template"], images["motor"]
    text = prose("01_prerequisites")
    motor_size, template_size = motor.header.get_zooms()[0], template.header.get_zooms()[0]
    motor_grid, template_grid = (" × ".join(str(n) for n in img.shape) for img in (motor, template))
    assert motor.affine[0, 0] == -motor_size and template.affine[0, 0] == template_size   # x flipped in one only
    assert_states(text, "nibabel-affine", f"**−{motor_size:.0f}**", f"moves {motor_size:.0f} mm to the *left*",
                  f"in the template (+{template_size:.0f}) it moves {template_size:.0f} mm to the right")
    assert_states(text, "resample-intro", f"{motor_size:.0f} mm voxels on a {motor_grid} grid with a flipped *x* axis",
                  f"{template_size:.0f} mm voxels on a {template_grid} grid")
    in_motor, in_template = (", ".join(signed(v) for v in apply_affine(img.affine, (26, 31, 23)))
                             for img in (motor, template))
    assert_states(text, "affine-resampling",
                  f"{motor_size:.0f} mm voxels on a {motor_grid} grid whose x axis runs from right to left",
                  f"the template {template_size:.0f} mm voxels on a {template_grid} grid running left to right",
                  f"is ({in_motor}) mm in one image and ({in_template}) mm in the other")
    assert_states(text, "q4-prompt", f"(*j* = {template.shape[1] - 1})")


def test_01_prose_states_the_thresholds_and_counts_of_the_motor_map(images):
    from scipy.stats import norm
    z = images["z"]
    text = prose("01_prerequisites")
    assert norm.sf(3.1) < 0.001 and "*z* > 3.1 corresponds to *p* < 0.001" in text["nilearn-threshold"]
    cap = f"{z.max():.2f}"
    assert f"{-z.min():.2f}" == cap, "the map is capped at the same |z| on both sides"
    exponent = round(np.log10(norm.sf(z.max())))
    assert np.isclose(norm.sf(z.max()), 10.0 ** exponent, rtol=0.01)
    assert 100 <= min(np.sum(z == z.max()), np.sum(z == z.min())) < 1000   # "hundreds of voxels share it"
    assert_states(text, "nilearn-threshold", f"spikes at ±{cap}",
                  f"*z* = {cap} corresponds to *p* = 10{str(exponent).translate(SUPERSCRIPT)}",
                  "(hundreds of voxels share it)")
    size = images["motor"].header.get_zooms()[0]
    volume, n_either = size ** 3, int(np.sum(np.abs(z) > 3.1))
    assert_states(text, "q6-after", f"With {size:.0f} mm voxels ({volume:.0f} mm³ each), the {n_either} voxels",
                  f"about {n_either} × {volume:.0f} mm³ ≈ {n_either * volume / 1000:.0f} mL")


def test_01_wrap_up_states_where_the_effects_lie(images):
    from nibabel.affines import apply_affine
    z, affine = images["z"], images["motor"].affine
    peak_x = apply_affine(affine, np.unravel_index(np.argmax(z), z.shape))[0]
    supra = np.abs(z) > 3.1
    xyz = apply_affine(affine, np.argwhere(supra))
    left_gt_right = z[supra] > 0
    # the textbook story: most of each effect lies in the hemisphere opposite the hand
    assert np.sum(left_gt_right & (xyz[:, 0] > 0)) > np.sum(left_gt_right & (xyz[:, 0] < 0))
    assert np.sum(~left_gt_right & (xyz[:, 0] < 0)) > np.sum(~left_gt_right & (xyz[:, 0] > 0))
    # "nearly all" the voxels on the other side lie in the cerebellum: below z = -10 mm, behind y = -30 mm
    other_side = (left_gt_right & (xyz[:, 0] < 0)) | (~left_gt_right & (xyz[:, 0] > 0))
    in_cerebellum = (xyz[:, 2] < -10) & (xyz[:, 1] < -30)
    assert np.mean(in_cerebellum[other_side]) >= 0.9
    assert_states(prose("01_prerequisites"), "wrap-up", f"its peak, at *x* = +{peak_x:.0f} mm",
                  "most left > right voxels lie in the right hemisphere",
                  "most right > left voxels lie in the left hemisphere", "Nearly all the voxels on the \"wrong\" side")


# 02_ml_model_types: the notebook's own code, up to its cross-validated decoding scores.

@pytest.fixture(scope="module")
def model_types():
    """The names 02 binds, running its code cells as the notebook does (Agg backend; no brain plots, no permutations)."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    namespace: dict = {}
    for cell in cells("02_ml_model_types"):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or re.search(r"plot_stat_map\(", source):
            continue
        exec(compile(source, "02 notebook cell", "exec"), namespace)
        plt.close("all")
    return namespace


def test_02_prose_states_the_sizes_and_the_floor(model_types):
    ns = model_types
    X, y, phenotype = ns["X"], ns["y"], ns["phenotype"]
    n, p = X.shape
    children = phenotype.loc[y == "child", "Age"]
    floor = f"{np.mean(y == 'child'):.0%}"
    text = prose("02_ml_model_types")
    assert 64 * 63 // 2 == p
    assert_states(text, "intro", f"{n} participants, {np.sum(y == 'child')} children of {int(children.min())}-"
                  f"{int(children.max())} years and {np.sum(y == 'adult')} adults", f"64 × 63 / 2 = {p} correlations")
    assert_states(text, "look-intro", f"{p} numbers")
    assert_states(text, "split-intro", f"many more features ({p}) than participants ({n})",
                  f"{floor} are children", f"right {floor} of the time")
    assert_states(text, "knn-intro", f"our {floor} floor")
    assert_states(text, "written-overfitting", f"With {p} features and {n} people", f"the {floor} of always")
    assert_states(text, "summary", f"One test split of {len(ns['y_test'])} people")


def test_02_prose_states_how_the_models_did(model_types):
    ns = model_types
    text = prose("02_ml_model_types")
    for name in ("logistic reg.", "linear SVM"):   # "(nearly) perfect on the training set, a few points lower"
        train, test = ns["accuracies"][name]
        assert train >= 0.97 and 0 < train - test <= 0.15, name
    assert_states(text, "compare-intro", "(nearly) perfect on the people they were fitted to",
                  "a few points lower on new people",
                  f"With {ns['X'].shape[1]} features and {len(ns['y_train'])} people",
                  f"And {len(ns['y_test'])} test people")
    ridge = ns["regressors"]["ridge"].predict(ns["X_test"])
    svr, knn = ns["svr_predictions"], ns["regressors"]["5-NN"].predict(ns["X_test"])
    adult, age = ns["y_test"] == "adult", ns["age_test"]
    assert np.corrcoef(ridge, svr)[0, 1] >= 0.95   # "almost the same predictions"
    for predictions in (svr, knn):   # both squeeze the adults towards younger ages
        assert np.mean((predictions - age)[adult]) < 0
    errors = np.abs(svr - age)
    assert np.mean(errors[adult]) >= 2 * np.mean(errors[~adult])   # "much larger for adults"
    assert_states(text, "svr-plot-intro", "Ridge and the SVR make almost the same predictions",
                  "Both models squeeze the adults towards younger ages",
                  "its errors are much larger for adults than for children")


def test_02_prose_states_what_the_unsupervised_models_found(model_types):
    ns = model_types
    text = prose("02_ml_model_types")
    ratio = ns["explained_variance_ratio"]
    assert ratio[0] >= 2 * ratio[1]
    assert_states(text, "pc1-intro", "The first component explains far more variance than the others")
    assert 0.2 <= ns["ari"] <= 0.7
    assert_states(text, "kmeans-plot-intro", "An ARI well above 0 but far from 1")
    import pandas as pd
    table = pd.crosstab(ns["phenotype"]["AgeGroup"], ns["cluster_labels"])
    adults_cluster = table.loc["Adult"].idxmax()
    assert table.loc["Adult", adults_cluster] == table.loc["Adult"].sum()   # all adults in one cluster
    youngest = table.index[np.argmin([float(re.findall(r"\d+", group)[0]) if re.findall(r"\d+", group) else 99
                                      for group in table.index])]
    assert table.loc[youngest, adults_cluster] < table.loc[youngest].sum() / 2   # the young children in the other
    assert table.drop(index="Adult")[adults_cluster].sum() > 0                    # older children with the adults
    assert_states(text, "written-a-intro", "putting the young children in one cluster and the adults *with the "
                  "older children* in the other")


def test_02_overfitting_answer_holds_on_these_data(model_types):
    """'100% on all 155' and 'can separate any labelling of the training set, even random labels'."""
    ns = model_types
    X, y = ns["X"], ns["y"]
    model = ns["make_pipeline"](ns["StandardScaler"](), ns["LogisticRegression"](max_iter=1000))
    assert model.fit(X, y).score(X, y) == 1.0
    shuffled = np.random.default_rng(0).permutation(y)
    assert model.fit(X, shuffled).score(X, shuffled) == 1.0
    assert_states(prose("02_ml_model_types"), "written-a-intro", f"fits a logistic regression to all {len(y)} "
                  "connectomes and reports \"100% accuracy")
    assert_states(prose("02_ml_model_types"), "written-overfitting",
                  "can separate any labelling of the training set, even random labels")


def test_02_prose_states_the_recording_and_the_decoding_result(model_types):
    ns = model_types
    trials, run = ns["trials"], ns["run"]
    n_runs = len(np.unique(run))
    per_run = len(run) // n_runs
    per_block = len(run) // len(np.unique(trials.block))
    voxel = abs(trials.mask_img.affine[0, 0])
    text = prose("02_ml_model_types")
    assert_states(text, "images-intro", f"at {voxel:.0f} mm voxels", f"{n_runs} **runs**",
                  f"of {per_run} trials", f"**blocks** of {per_block} trials")
    assert ns["mixed_scores"].mean() > ns["run_scores"].mean()   # "The split that ignores the runs scores higher"
    assert_states(text, "images-perm-intro", "The split that ignores the runs scores higher")
    assert_states(text, "images-outro", f"with {n_runs} runs")
