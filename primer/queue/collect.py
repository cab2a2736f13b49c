"""Take one submission out of inbound/ with the course's own collect checks (primer.exchange).

The queue never trusts an inbound entry more than ``nbgrader collect`` does:
``SafeExchangeCollect`` vets its name, owner and completeness and copies it
with ``copy_tree`` (only files owned by the student, no links, size limits,
the trusted timestamp). What it would warn the instructor about becomes the
entry's notes in the journal.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from primer.exchange import TIMESTAMP, SafeExchangeCollect

INCOMPLETE = f"has no {TIMESTAMP}"  # SafeExchangeCollect's words for an entry still being written


class _Said(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@dataclass
class Vetted:
    entry: str
    student: str | None = None
    timestamp: datetime.datetime | None = None
    refused: str = ""  # why it is not a submission
    incomplete: bool = False  # still being written: look again later
    notes: list[str] = field(default_factory=list)


class InboundReader:
    """The course's inbound/ seen through SafeExchangeCollect, one entry at a time."""

    def __init__(self, config, exchange_course: Path):
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory

        self.config = config
        self.inbound = Path(exchange_course) / "inbound"
        self.coursedir = CourseDirectory(config=config)
        self.authenticator = Authenticator(config=config)

    def entries(self, assignment: str) -> list[str]:
        """Names in inbound/ that claim to be a submission of ``assignment``, oldest name first."""
        marker = f"+{assignment}+"
        with os.scandir(self.inbound) as scan:
            return sorted((item.name for item in scan
                           if marker in item.name and not item.name.startswith(".")),
                          key=lambda name: name.rsplit("+", 2)[-1])

    def _collector(self, assignment: str) -> tuple[SafeExchangeCollect, _Said]:
        said = _Said()
        # A logger of its own, outside logging's registry (getLogger would keep every one, and
        # an entry that stays half-written is looked at every second).
        logger = logging.Logger("primer.queue.collect")
        logger.addHandler(said)
        self.coursedir.assignment_id = assignment
        collector = SafeExchangeCollect(coursedir=self.coursedir, authenticator=self.authenticator,
                                        config=self.config)
        collector.log = logger
        collector.inbound_path = str(self.inbound)
        return collector, said

    def vet(self, entry: str, assignment: str) -> Vetted:
        collector, said = self._collector(assignment)
        vetted = collector._vetted(entry, assignment)
        if vetted is None:
            reason = " ".join(said.messages) or "refused by the collect checks"
            return Vetted(entry, refused=reason, incomplete=INCOMPLETE in reason)
        return Vetted(entry, vetted.username, vetted.timestamp, notes=said.messages)

    def take(self, entry: str, assignment: str, destination: Path) -> Vetted:
        """Vet ``entry`` again (it may have changed since) and copy it to ``destination``."""
        collector, said = self._collector(assignment)
        vetted = collector._vetted(entry, assignment)
        if vetted is None:
            return Vetted(entry, refused=" ".join(said.messages) or "refused by the collect checks")
        collector.src_records = [vetted.record()]
        destination.parent.mkdir(parents=True, exist_ok=True)
        collector.do_copy(str(self.inbound / entry), str(destination))
        if not (destination / TIMESTAMP).is_file():
            return Vetted(entry, vetted.username, refused=" ".join(said.messages) or
                          "the entry could not be copied")
        return Vetted(entry, vetted.username, vetted.timestamp, notes=said.messages)
