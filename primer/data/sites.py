"""Simulated multi-site data: every scanner shifts the features, and sites differ in their share of patients.

Used by the optional "site effects" section of ``04_ml_tuning``. **The data are
simulated**: the course hub is offline and no real multi-site dataset ships
with the course, and a simulation lets us state exactly how strong the site
effect and the disease effect are.

How a person is made: features are independent standard normal noise; each
site adds its own offset vector (one value per feature, drawn once from a
normal distribution with standard deviation ``site_shift``: the "scanner
effect"); patients get ``disease_effect`` (in units of the noise's standard
deviation) added to the first ``n_informative`` features only. Site ``k`` holds
exactly ``round(patient_share[k] * n_per_site)`` patients, so when the shares
differ the site alone predicts the diagnosis.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SiteData", "make_site_data"]


@dataclass(frozen=True)
class SiteData:
    X: np.ndarray             # (n_sites * n_per_site, n_features) features
    diagnosis: np.ndarray     # 1 for a patient, 0 for a control
    site: np.ndarray          # site label of each person, "site A", "site B", ...
    site_offsets: np.ndarray  # (n_sites, n_features) the shift each site adds
    DESCR: str = "SIMULATED multi-site data (primer.data.sites): site offsets plus a small disease effect."


def make_site_data(n_per_site: int = 80, patient_share=(0.15, 0.3, 0.7, 0.85), n_features: int = 10,
                   site_shift: float = 1.5, disease_effect: float = 0.5, n_informative: int = 3,
                   random_state: int = 0) -> SiteData:
    """People from ``len(patient_share)`` sites; see the module docstring for how they are made."""
    shares = np.asarray(patient_share, dtype=float)
    if shares.ndim != 1 or shares.size < 2 or ((shares <= 0) | (shares >= 1)).any():
        raise ValueError("patient_share: give one share per site (at least 2 sites), each strictly between 0 and 1")
    if not 0 <= n_informative <= n_features:
        raise ValueError(f"n_informative must be between 0 and n_features ({n_features})")
    n_patients = np.round(shares * n_per_site).astype(int)
    if (n_patients == 0).any() or (n_patients == n_per_site).any():
        raise ValueError("every site needs patients and controls: raise n_per_site or move the shares away from 0 and 1")
    rng = np.random.default_rng(random_state)
    offsets = rng.normal(0.0, site_shift, size=(shares.size, n_features))
    site_index = np.repeat(np.arange(shares.size), n_per_site)
    diagnosis = np.concatenate([rng.permutation(np.arange(n_per_site) < k) for k in n_patients]).astype(int)
    X = rng.standard_normal((site_index.size, n_features)) + offsets[site_index]
    X[:, :n_informative] += disease_effect * diagnosis[:, None]
    names = np.array([f"site {chr(ord('A') + k)}" for k in range(shares.size)])
    return SiteData(X=X, diagnosis=diagnosis, site=names[site_index], site_offsets=offsets)
