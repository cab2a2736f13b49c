#!/usr/bin/env python3
"""Regenerate 06_dl_training's precomputed results in primer/provided/ (offline, a few minutes).

Runs the solution notebook's code cells (source/06_dl_training/dl_training.ipynb) in
order, with RECOMPUTE_SLICE_CV = True, and saves what the notebook loads when a
computation is too slow for class or an exercise is not done yet:
  06_slice_cv       the CNN's leave-one-slice-out predictions (cnn_leave_one_slice_out())
  06_matched_filter the matched filter's out-of-slice predictions (the stand-in of Exercise 10)
  06_transfer       per seed and held-out image: prediction correct? (transfer_experiment())
  06_baseline       adds test_correct (the tuned baseline's test predictions correct?)
Usage: .venv/bin/python scripts/precompute-06.py
"""
import json
import os
from pathlib import Path

import sys

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "source/06_dl_training/dl_training.ipynb"
PROVIDED = ROOT / "primer/provided"
sys.path.insert(0, str(ROOT))  # this checkout's primer package, not an installed copy


def run_solution_notebook():
    namespace = {"__name__": "__main__"}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]).replace("RECOMPUTE_SLICE_CV = False", "RECOMPUTE_SLICE_CV = True")
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            continue  # test cells check answers; they compute nothing the notebook keeps
        exec(compile(source, f"<{cell['metadata'].get('nbgrader', {}).get('grade_id', 'cell')}>", "exec"), namespace)
    return namespace


def main():
    ns = run_solution_notebook()
    reference_split = [np.asarray(part) for part in (ns["train_idx"], ns["val_idx"], ns["test_idx"])]
    provided_split = np.load(PROVIDED / "06_splits.npz")
    if not all(np.array_equal(a, provided_split[str(i)]) for i, a in enumerate(reference_split)):
        raise SystemExit("the provided split (06_splits) differs from the solution's: regenerate it first")
    np.savez_compressed(PROVIDED / "06_slice_cv.npz", cnn_predictions=ns["cnn_pred"].astype(np.int8))
    np.savez_compressed(PROVIDED / "06_matched_filter.npz", predictions=np.asarray(ns["filter_pred"], dtype=np.int8))
    np.savez_compressed(PROVIDED / "06_transfer.npz", **{k: v.astype(bool) for k, v in ns["transfer"].items()})
    baseline = dict(np.load(PROVIDED / "06_baseline.npz"))
    baseline["test_correct"] = np.asarray(ns["baseline_correct"], dtype=bool)
    np.savez_compressed(PROVIDED / "06_baseline.npz", **baseline)
    print("CNN leave-one-slice-out accuracy:", np.mean(ns["cnn_pred"] == ns["y"]))


if __name__ == "__main__":
    main()
