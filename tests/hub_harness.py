"""Moved to primer.testing.hub (the benchmarks use it too) and to conftest.py's fixtures.

Kept for test modules not yet switched; new code imports from primer.testing.hub
and takes the ``hub`` and ``students`` fixtures.
"""
from __future__ import annotations

from primer.testing.hub import (PASSWORD_INSTRUCTOR, PASSWORD_STUDENT, CourseHub,  # noqa: F401
                                HubUser, execute, feedback_score, free_port_block, start_kernel,
                                wait_for)


def shared_hub(request) -> CourseHub:
    """The session's course hub (conftest.py's ``course_hub`` fixture)."""
    return request.getfixturevalue("course_hub")
