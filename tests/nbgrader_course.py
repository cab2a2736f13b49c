"""A scratch nbgrader course directory of this repository (primer.testing.scratch_course)."""
from __future__ import annotations

from pathlib import Path

from conftest import REPO
from primer.testing.scratch_course import ScratchCourse as _ScratchCourse
from primer.testing.scratch_course import solved_release  # noqa: F401 (the tests import it here)


class ScratchCourse(_ScratchCourse):
    def __init__(self, root: Path):
        super().__init__(root, REPO)
