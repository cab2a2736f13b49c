"""The course's late policy: nbgrader's LateSubmissionPlugin with a penalty per started day.  [TRUSTED SIDE]

nbgrader's AssignLatePenalties asks the plugin for each late notebook's
penalty, with the seconds it is late past the student's own due date (the
assignment's ``duedate`` plus the student's extension, ``primer extend``).
Lateness is measured on the timestamp collect wrote (primer/exchange.py), never
on one the student wrote. nbgrader caps a penalty at the notebook's score, so a
score never goes below 0; ``max_percent`` caps it lower if wanted.

Set it in nbgrader_config.py::

    c.AssignLatePenalties.plugin_class = "primer.grading.late_penalty.PenaltyPerPeriod"
    c.PenaltyPerPeriod.percent = 10       # of the notebook's score ...
    c.PenaltyPerPeriod.period_hours = 24  # ... per started day late
    c.PenaltyPerPeriod.max_percent = 100
"""
from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, validate


class PenaltyPerPeriod(LateSubmissionPlugin):
    """A share of the score per started period late, at most ``max_percent`` of it."""

    percent = Float(10.0, config=True, help="Percent of the notebook's score lost per started period late.")
    period_hours = Float(24.0, config=True, help="Length of one period, in hours.")
    max_percent = Float(100.0, config=True, help="The most a late notebook loses, in percent of its score.")

    @validate("percent", "max_percent")
    def _a_percentage(self, proposal):
        if not 0 <= proposal.value <= 100:
            raise ValueError(f"{proposal.trait.name} must be between 0 and 100, not {proposal.value}")
        return proposal.value

    @validate("period_hours")
    def _positive(self, proposal):
        if proposal.value <= 0:
            raise ValueError(f"period_hours must be more than 0, not {proposal.value}")
        return proposal.value

    def periods_late(self, total_seconds_late: float) -> int:
        return math.ceil(max(total_seconds_late, 0) / (3600 * self.period_hours))

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        share = min(self.percent * self.periods_late(total_seconds_late), self.max_percent) / 100
        return max(score or 0.0, 0.0) * share

    def describe(self) -> str:
        """The policy in words, for students (the overview) and the docs."""
        period = ("day" if self.period_hours == 24 else "hour" if self.period_hours == 1
                  else f"{self.period_hours:g} hours")
        return (f"{self.percent:g}% of the score per started {period} late, "
                f"at most {self.max_percent:g}%")
