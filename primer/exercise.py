"""Keep a notebook going when one exercise is not answered yet.

A later step often needs an earlier exercise's result (a train/test split, a
fitted model). If that exercise is still ``raise NotImplementedError()``, or
raises, the notebook would fail from there on and the student would lose every
later exercise too. ``answer_or_provided`` runs the student's step; when it
cannot, it says so plainly and hands back a result the course ships
(``primer/provided/``), which is never the exercise's reference code.

    X_train, X_test, y_train, y_test = answer_or_provided(
        "Exercise 2 (the split)",
        lambda: split_subjects(X, y),
        lambda: load_provided("02_split"),
    )
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

PROVIDED = Path(__file__).parent / "provided"
T = TypeVar("T")


def answer_or_provided(exercise: str, answer: Callable[[], T], provided: Callable[[], T]) -> T:
    """``answer()`` if it runs; otherwise ``provided()``, with a note for the student."""
    try:
        return answer()
    except NotImplementedError:
        reason = "is not answered yet"
    except Exception as error:  # noqa: BLE001 - any mistake: the next exercises still work
        reason = f"raised {type(error).__name__}: {error}"
    print(f"Note: {exercise} {reason}. The cells below use a result the course provides, "
          "so you can go on with the next exercises. Come back to it later: once your "
          "answer runs, the cells below use your own result.")
    return provided()


def load_provided(name: str) -> dict[str, np.ndarray] | tuple:
    """A result the course ships, from ``primer/provided/<name>.npz``.

    Arrays named ``0``, ``1``, ... come back as a tuple in that order, any
    other names as a dict.
    """
    path = PROVIDED / f"{name}.npz"
    if not path.is_file():
        known = sorted(p.stem for p in PROVIDED.glob("*.npz"))
        raise FileNotFoundError(f"the course provides no result called {name!r} "
                                f"(known: {', '.join(known) or 'none'}); reinstall the course package")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    if arrays and all(key.isdigit() for key in arrays):
        return tuple(arrays[str(i)] for i in range(len(arrays)))
    return arrays
