"""`primer data fetch` and the loaders that use fetched data, tested with the network off.

The real datasets are never downloaded here. Instead each test builds a tiny
folder laid out exactly as nilearn's fetchers leave it on disk (same file names,
same formats, a few voxels and participants), runs the real command in a
network namespace of its own, and checks what the notebooks' loaders read.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from primer.data.fetch import (CONNECTOMES_FOLDER, default_data_dir,
                               load_development_connectomes_or_simulated, load_fetched_haxby)

# Two children and two adults; the ids must be ones nilearn knows (its OSF key table).
PARTICIPANTS = pd.DataFrame({
    "participant_id": ["sub-pixar001", "sub-pixar002", "sub-pixar123", "sub-pixar124"],
    "Age": [4.5, 7.2, 24.0, 31.0],
    "AgeGroup": ["4yo", "7yo", "Adult", "Adult"],
    "Child_Adult": ["child", "child", "adult", "adult"],
    "Gender": ["F", "M", "F", "M"],
    "Handedness": ["R", "R", "R", "L"],
})
CONFOUNDS = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement",
             *[f"a_comp_cor_0{i}" for i in range(6)], "csf", "white_matter"]
GRID = (6, 6, 6)
AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])
AFFINE[:3, 3] = -12


def _save(array, path: Path, dtype=np.float32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array, dtype=dtype), AFFINE), path)


def make_fake_development_fmri(root: Path, n_volumes: int = 60) -> Path:
    """Files where fetch_development_fmri and fetch_atlas_basc_multiscale_2015 put them."""
    rng = np.random.default_rng(0)
    folder = root / "development_fmri"
    folder.mkdir(parents=True)
    PARTICIPANTS.to_csv(folder / "participants.tsv", sep="\t", index=False)
    for pid in PARTICIPANTS["participant_id"]:
        _save(rng.normal(100, 1, (*GRID, n_volumes)),
              folder / f"{pid}_task-pixar_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")
        confounds = pd.DataFrame(rng.normal(size=(n_volumes, len(CONFOUNDS))), columns=CONFOUNDS)
        confounds.to_csv(folder / f"{pid}_task-pixar_desc-confounds_regressors.tsv", sep="\t", index=False)
    # 64 regions of 3 or 4 voxels each, on the same grid as the runs.
    labels = (np.arange(np.prod(GRID)) % 64 + 1).reshape(GRID)
    _save(labels, root / "basc_multiscale_2015" / "template_cambridge_basc_multiscale_nii_sym"
          / "template_cambridge_basc_multiscale_sym_scale064.nii.gz", dtype=np.int16)
    return root


def make_fake_haxby(root: Path, n_volumes: int = 12) -> Path:
    """Files where fetch_haxby(subjects=(2,)) puts them."""
    rng = np.random.default_rng(1)
    folder = root / "haxby2001"
    subject = folder / "subj2"
    _save(np.ones(GRID), folder / "mask.nii.gz", dtype=np.int8)
    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "MD5SUMS").write_text("0" * 32 + "  subj2-2010.01.14.tar.gz\n")
    _save(rng.normal(size=(*GRID, n_volumes)), subject / "bold.nii.gz")
    _save(rng.normal(size=GRID), subject / "anat.nii.gz")
    vt = np.zeros(GRID)
    vt[2:4, 2:4, 2:4] = 1  # 8 voxels of "ventral temporal cortex"
    for name in ("mask4_vt", "mask8b_face_vt", "mask8b_house_vt", "mask8_face_vt", "mask8_house_vt"):
        _save(vt, subject / f"{name}.nii.gz", dtype=np.int8)
    conditions = ["rest", "face", "house"] * (n_volumes // 3)
    chunks = np.repeat([0, 1], n_volumes // 2)
    (subject / "labels.txt").write_text(
        "labels chunks\n" + "".join(f"{c} {k}\n" for c, k in zip(conditions, chunks)))
    return root


def run_offline(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`primer ...` in a network namespace of its own: any download attempt fails at once."""
    unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    return subprocess.run([*unshare, "--", sys.executable, "-m", "primer.cli", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_fetch_development_fmri_reads_nilearns_layout_offline_and_saves_connectomes(tmp_path):
    data_dir = make_fake_development_fmri(tmp_path / "shared")
    result = run_offline("data", "fetch", "--dataset", "development_fmri", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    saved = data_dir / CONNECTOMES_FOLDER
    assert str(saved) in result.stdout

    bunch = load_development_connectomes_or_simulated(data_dir=data_dir, verbose=False)
    assert bunch.simulated is False
    assert bunch.X.shape == (4, 2016), "one row of 64 * 63 / 2 correlations per participant"
    assert np.isfinite(bunch.X).all() and (np.abs(bunch.X) <= 1).all()
    assert not np.allclose(bunch.X[0], bunch.X[1]), "each participant has their own connectome"
    phenotype = bunch.phenotype.set_index("participant_id")
    expected = PARTICIPANTS.set_index("participant_id")
    assert set(phenotype.index) == set(expected.index)
    assert np.allclose(phenotype["Age"], expected.loc[phenotype.index, "Age"])
    assert list(phenotype["Child_Adult"]) == list(expected.loc[phenotype.index, "Child_Adult"])
    assert bunch.edges.shape == (2016, 2) and len(bunch.region_names) == 64
    assert "REAL" in bunch.DESCR


def test_development_loader_falls_back_to_the_simulation_and_says_so(tmp_path, capsys):
    bunch = load_development_connectomes_or_simulated(data_dir=tmp_path)
    assert bunch.simulated is True and bunch.X.shape == (155, 2016)
    assert "SIMULATED" in capsys.readouterr().out


def test_a_broken_saved_file_is_reported_not_used(tmp_path):
    saved = tmp_path / CONNECTOMES_FOLDER
    saved.mkdir(parents=True)
    np.save(saved / "X.npy", np.zeros((3, 10)))
    PARTICIPANTS.to_csv(saved / "phenotype.csv", index=False)
    with pytest.raises(RuntimeError, match="primer data fetch"):
        load_development_connectomes_or_simulated(data_dir=tmp_path, verbose=False)


def test_fetch_haxby_reads_nilearns_layout_offline(tmp_path):
    data_dir = make_fake_haxby(tmp_path / "shared")
    result = run_offline("data", "fetch", "--dataset", "haxby", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr

    from nilearn.maskers import NiftiMasker

    haxby = load_fetched_haxby(data_dir)
    assert haxby is not None
    X = NiftiMasker(mask_img=haxby.mask_vt[0], standardize=None).fit_transform(haxby.func[0])
    labels = pd.read_csv(haxby.session_target[0], sep=" ")
    assert X.shape == (12, 8), "one row per volume, one column per ventral temporal voxel"
    assert len(labels) == X.shape[0] and set(labels["labels"]) == {"rest", "face", "house"}
    assert load_fetched_haxby(tmp_path / "empty") is None


def test_fetch_offline_fails_with_a_message_that_says_what_to_do(tmp_path):
    for dataset in ("haxby", "development_fmri"):
        result = run_offline("data", "fetch", "--dataset", dataset, "--data-dir", str(tmp_path / dataset))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"could not download {dataset!r}" in result.stderr
        assert "internet" in result.stderr and f"--dataset {dataset} --data-dir DIR" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_failed_fetch_leaves_no_empty_folders(tmp_path):
    """An offline fetch makes no folder a later run would take for data (nor clutters the shared one)."""
    for dataset in ("haxby", "development_fmri"):
        data_dir = tmp_path / "shared" / dataset / "data"
        result = run_offline("data", "fetch", "--dataset", dataset, "--data-dir", str(data_dir))
        assert result.returncode == 1, result.stdout + result.stderr
        assert not (tmp_path / "shared").exists(), sorted(map(str, (tmp_path / "shared").rglob("*")))
    # Folders that were there before stay.
    (tmp_path / "kept").mkdir()
    run_offline("data", "fetch", "--dataset", "haxby", "--data-dir", str(tmp_path / "kept"))
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


def test_unknown_dataset_is_refused_by_the_command(capsys):
    from primer.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["data", "fetch", "--dataset", "abide"])
    assert exit_.value.code == 2 and "invalid choice: 'abide'" in capsys.readouterr().err


def test_the_shared_data_folder_follows_the_hub_settings(monkeypatch, tmp_path):
    for variable in ("NILEARN_SHARED_DATA", "PRIMER_SHARED_DATA", "PRIMER_RUNTIME"):
        monkeypatch.delenv(variable, raising=False)
    assert default_data_dir() == Path("/srv/primer/shared-data")
    monkeypatch.setenv("PRIMER_RUNTIME", str(tmp_path / "runtime"))
    assert default_data_dir() == tmp_path / "runtime" / "shared-data"
    monkeypatch.setenv("PRIMER_SHARED_DATA", str(tmp_path / "primer"))
    assert default_data_dir() == tmp_path / "primer"
    monkeypatch.setenv("NILEARN_SHARED_DATA", str(tmp_path / "nilearn"))
    assert default_data_dir() == tmp_path / "nilearn", "inside a hub server, nilearn's own setting wins"
