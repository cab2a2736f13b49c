"""The course's nbgrader settings and gradebook, as nbgrader itself would read them.  [TRUSTED SIDE]

A module of its own so that the grading layers (the unit, the merge, the
parallel pool, the backends, the queue) all read settings from one place
without importing each other.
"""
from __future__ import annotations

from pathlib import Path


def course_config(course: Path):
    """nbgrader's configuration for ``course``, as `nbgrader` started in it would read it:
    the Jupyter config folders (the course venv's etc/jupyter), then the course's
    own nbgrader_config.py, which wins; wherever this process was started."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course)]:
        if (Path(folder) / "nbgrader_config.py").is_file():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    config.CourseDirectory.root = str(course)
    return config


def gradebook_url(course: Path) -> str:
    """The gradebook nbgrader itself would use for ``course`` (its config may name PostgreSQL)."""
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=course_config(course)).db_url
