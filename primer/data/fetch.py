"""Real public datasets for hubs that are online: download once, share, fall back offline.

``primer data fetch`` (run once, by whoever may write the shared data folder)
downloads a dataset with nilearn's own fetchers into the course's shared data
folder, so that 40 students do not download it 40 times. The notebooks then
use the real data when it is there and the simulated stand-in when it is not:

- ``development_fmri``: OpenNeuro ds000228 through
  :func:`nilearn.datasets.fetch_development_fmri` and the BASC 64-region
  atlas. After the download the 155 connectomes are computed once
  (:func:`primer.data.connectomes.load_development_connectomes_real`, a few
  minutes) and saved next to the data, so a notebook loads them in a second
  with :func:`load_development_connectomes_or_simulated`.
- ``haxby``: subject 2 of Haxby et al. 2001 (faces, houses, ... in ventral
  temporal cortex) through :func:`nilearn.datasets.fetch_haxby`; a notebook gets
  nilearn's bunch with :func:`load_fetched_haxby`, or ``None``.

The shared data folder is, in this order: ``NILEARN_SHARED_DATA`` (what every
server of the course hub has), ``PRIMER_SHARED_DATA``, or
``$PRIMER_RUNTIME/shared-data`` (default ``/srv/primer/shared-data``), the
folder the hub serves read-only to everyone (docs/workshop.md).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = [
    "DATASETS",
    "DataFetchError",
    "default_data_dir",
    "fetch_dataset",
    "load_development_connectomes_or_simulated",
    "load_fetched_haxby",
]

DATASETS = ("development_fmri", "haxby")

#: Where the computed development connectomes are kept, inside the data folder.
CONNECTOMES_FOLDER = Path("development_fmri") / "primer_connectomes_basc064"

_HAXBY_SUBJECT = 2
# What nilearn's fetch_haxby leaves for one subject (it needs all of them on disk).
_HAXBY_FILES = ("bold.nii.gz", "labels.txt", "mask4_vt.nii.gz", "mask8b_face_vt.nii.gz",
                "mask8b_house_vt.nii.gz", "mask8_face_vt.nii.gz", "mask8_house_vt.nii.gz", "anat.nii.gz")


_REAL_DESCR = """\
Development fMRI connectomes (REAL: OpenNeuro ds000228, Richardson et al. 2018)
X: ({n}, 2016) correlations between the time series of the 64 BASC regions,
lower triangle without the diagonal, one row per participant; phenotype:
participant_id, Age, AgeGroup, Child_Adult. Computed by `primer data fetch`
with nilearn and saved in {folder}.
"""


class DataFetchError(RuntimeError):
    """A dataset could not be downloaded; the message says what to do."""


def default_data_dir() -> Path:
    """The shared data folder: NILEARN_SHARED_DATA, PRIMER_SHARED_DATA or $PRIMER_RUNTIME/shared-data."""
    for variable in ("NILEARN_SHARED_DATA", "PRIMER_SHARED_DATA"):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    return Path(os.environ.get("PRIMER_RUNTIME", "/srv/primer")) / "shared-data"


def _offline_help(dataset: str, data_dir: Path, error: BaseException) -> str:
    return (
        f"could not download {dataset!r} into {data_dir} with nilearn "
        f"({type(error).__name__}: {str(error)[:300]}). This needs internet access. "
        "If this machine is offline (the course hub usually is), run "
        f"`primer data fetch --dataset {dataset} --data-dir DIR` on a computer that is online, "
        f"then copy DIR's contents into {data_dir}. The notebooks work without it: they use "
        "the simulated stand-in."
    )


def fetch_dataset(dataset: str, data_dir: Path | str | None = None) -> Path:
    """Download ``dataset`` (one of DATASETS) into ``data_dir`` once; return what it wrote.

    Files already there are not downloaded again (nilearn checks), so running
    it twice is cheap, and it works offline when everything is already there.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    existed = _folders(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataFetchError(f"cannot create the data folder {data_dir} ({error}); "
                             "run as a user who may write it (root on the hub) or pass --data-dir") from error
    try:
        if dataset == "haxby":
            return _fetch_haxby(data_dir)
        return _fetch_development_connectomes(data_dir)
    except DataFetchError:
        _remove_new_empty_folders(data_dir, existed)
        raise


def _folders(data_dir: Path) -> set[Path]:
    """``data_dir``, its parents and everything under it that exist now."""
    found = {p for p in (data_dir, *data_dir.parents) if p.is_dir()}
    return found | (set(data_dir.rglob("*")) if data_dir.is_dir() else set())


NILEARN_README = "# Nilearn data folder"  # nilearn marks every data folder it uses with one


def _remove_new_empty_folders(data_dir: Path, existed: set[Path]) -> None:
    """A failed fetch leaves no empty folder it made (the next fetch would trust them), nor
    the README nilearn adds to a data folder."""
    new = [p for p in _folders(data_dir) if p not in existed]
    for path in sorted(new, key=lambda p: len(p.parts), reverse=True):
        try:
            if path.name == "README.md" and path.read_text().startswith(NILEARN_README):
                path.unlink()
            elif path.is_dir():
                path.rmdir()  # only if empty: files nilearn did get stay for the next attempt
        except OSError:
            pass


def _fetch_haxby(data_dir: Path) -> Path:
    from nilearn.datasets import fetch_haxby

    try:
        haxby = fetch_haxby(data_dir=str(data_dir), subjects=(_HAXBY_SUBJECT,), verbose=0)
    except Exception as error:  # urllib, requests and OSError: offline has many faces
        raise DataFetchError(_offline_help("haxby", data_dir, error)) from error
    return Path(haxby.func[0]).parent


def _fetch_development_connectomes(data_dir: Path) -> Path:
    from primer.data.connectomes import load_development_connectomes_real

    try:
        bunch = load_development_connectomes_real(data_dir=data_dir)
    except RuntimeError as error:
        raise DataFetchError(_offline_help("development_fmri", data_dir, error.__cause__ or error)) from error
    folder = data_dir / CONNECTOMES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    # Plain files that any numpy/pandas reads; no pickles in a shared folder.
    np.save(folder / "X.npy", np.asarray(bunch.X, dtype=np.float64))
    bunch.phenotype.to_csv(folder / "phenotype.csv", index=False)
    return folder


def _data_dirs(data_dir) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    # A student's own nilearn folder counts too, after the shared one.
    dirs = [default_data_dir()]
    dirs += [Path(p) for p in os.environ.get("NILEARN_DATA", "").split(os.pathsep) if p]
    return dirs + [Path.home() / "nilearn_data"]


def load_development_connectomes_or_simulated(data_dir=None, verbose=True):
    """The REAL development-fMRI connectomes if ``primer data fetch`` saved them, else the simulation.

    Same bunch as :func:`primer.data.connectomes.load_development_connectomes`
    (``X`` of shape (n, 2016), ``phenotype``, ``edges``, ``region_names``,
    ``simulated``, ``DESCR``); ``simulated`` says which one you got, and with
    ``verbose`` a line says it too.
    """
    from primer.data import connectomes

    for folder in _data_dirs(data_dir):
        found = folder / CONNECTOMES_FOLDER
        if (found / "X.npy").is_file() and (found / "phenotype.csv").is_file():
            X = np.load(found / "X.npy", allow_pickle=False)
            phenotype = pd.read_csv(found / "phenotype.csv", dtype={"participant_id": str})
            if X.shape != (len(phenotype), connectomes.N_EDGES):
                raise DataFetchError(
                    f"{found} holds connectomes of shape {X.shape} for {len(phenotype)} participants, "
                    f"expected ({len(phenotype)}, {connectomes.N_EDGES}); run `primer data fetch` again")
            if verbose:
                print(f"Real development-fMRI connectomes (OpenNeuro ds000228) from {found}: "
                      f"{len(phenotype)} participants.")
            rows, cols = np.tril_indices(connectomes.N_REGIONS, k=-1)
            return Bunch(
                X=X, phenotype=phenotype, simulated=False,
                edges=pd.DataFrame({"region_a": rows, "region_b": cols}),
                region_names=[f"region_{i:02d}" for i in range(connectomes.N_REGIONS)],
                DESCR=_REAL_DESCR.format(n=len(phenotype), folder=found))
    if verbose:
        print("The real development-fMRI data are not on this hub (`primer data fetch` was not run, "
              "or it is offline): using the SIMULATED connectomes.")
    return connectomes.load_development_connectomes()


def load_fetched_haxby(data_dir=None):
    """nilearn's Haxby bunch (subject 2) if ``primer data fetch --dataset haxby`` ran, else ``None``.

    Only looks at the disk: it never tries to download, so it is quick offline.
    """
    from nilearn.datasets import fetch_haxby

    for folder in _data_dirs(data_dir):
        subject = folder / "haxby2001" / f"subj{_HAXBY_SUBJECT}"
        needed = [subject / name for name in _HAXBY_FILES]
        needed += [folder / "haxby2001" / name for name in ("mask.nii.gz", "MD5SUMS")]
        if all(path.is_file() for path in needed):
            return fetch_haxby(data_dir=str(folder), subjects=(_HAXBY_SUBJECT,), verbose=0)
    return None
