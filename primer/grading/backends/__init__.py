"""Grading backends beyond this machine: Slurm and Kubernetes run primer.grading.unit per submission.

Both read their settings from the course's nbgrader configuration
(``c.ClusterGrading.*`` in nbgrader_config.py), prepare a *run folder* on a
filesystem the cluster's nodes share (the grading release, one result folder
per submission), and merge each result into the gradebook on this, trusted,
side as soon as it is there (primer.grading.merge).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from traitlets import Enum, Integer, Unicode
from traitlets.config import Configurable


QUEUE_BACKENDS = ("local", "slurm", "kubernetes")


class ClusterGrading(Configurable):
    """Where and with what resources a cluster grades (``c.ClusterGrading.*`` in nbgrader_config.py)."""

    run_folder = Unicode("", config=True,
                         help="Folder for grading runs, on a filesystem every node mounts at the same "
                              "path (default: <course>/.primer-cluster).")
    python = Unicode(sys.executable, config=True,
                     help="The course venv's python, at the same path on every node (Slurm).")
    scratch = Unicode("/tmp", config=True, help="Node-local folder each task grades in (Slurm).")
    partition = Unicode("", config=True, help="Slurm partition (default: the cluster's default).")
    cpus_per_task = Integer(1, config=True, help="CPUs of one submission's grading.")
    memory = Unicode("4G", config=True, help="Memory of one submission's grading (Slurm --mem, "
                                              "Kubernetes requests and limits: 4G is 4Gi).")
    time_limit_minutes = Integer(30, config=True, help="Wall time of one submission's grading.")
    max_parallel = Integer(0, config=True, help="At most this many submissions at once (0: no limit).")
    image = Unicode("", config=True, help="Kubernetes: container image with the course venv.")
    namespace = Unicode("primer-grading", config=True, help="Kubernetes namespace of the grading Jobs.")
    volume_claim = Unicode("primer-grading", config=True,
                           help="Kubernetes: ReadWriteMany PersistentVolumeClaim holding run_folder.")
    run_as_user = Integer(1000, config=True, help="Kubernetes: the non-root UID of grading pods.")
    queue_backend = Enum(QUEUE_BACKENDS, default_value="local", config=True,
                         help="Where the grading queue (grading on submit) grades each submission: "
                              "local (the hub's machine), slurm or kubernetes (one task of the "
                              "unit per submission, with these settings; docs/cluster.md).")


def cluster_settings(course: Path) -> ClusterGrading:
    from primer.grading.course_settings import course_config

    return ClusterGrading(config=course_config(course))


RUNS = "runs"  # each run is runs/<name> under the run folder: on Kubernetes, the claim's root


def runs_root(course: Path, settings: ClusterGrading) -> Path:
    """Where grading runs go: c.ClusterGrading.run_folder, default <course>/.primer-cluster
    (git-ignored: every run holds copies of submissions)."""
    return Path(settings.run_folder or course / ".primer-cluster")


def new_run_folder(course: Path, settings: ClusterGrading, assignment: str) -> Path:
    """A fresh folder for one grading run of ``assignment``, on the shared filesystem."""
    root = runs_root(course, settings)
    folder = root / RUNS / f"{assignment}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 100000}"
    folder.mkdir(parents=True)
    for parent in (root, root / RUNS):
        if parent.stat().st_uid == os.geteuid():
            parent.chmod(0o700)
    folder.chmod(0o700)  # students' work: only the grader reads it
    return folder
