"""What can be wrong with a submission, in words for the instructor."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Something wrong with a submission, in words for the instructor's class summary."""

    kind: str
    path: str
    message: str


class Skipped(Exception):
    """A file that is not staged; ``kind`` and the message become a Problem."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
