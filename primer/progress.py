"""How far a long job is: a tqdm bar on a terminal, plain lines in a log or CI.

Every long command uses this one class (`primer autograde` on each backend,
`primer release`), so they all look and behave the same. On a terminal tqdm
redraws one line in place; written to a file or pipe, a redraw would leave
carriage returns in the log, so each step is then one whole line, worded by
tqdm's own meter (done/total, elapsed, time left).
"""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

PLAIN_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"


class Progress:
    """``total`` steps of ``what`` (e.g. "03_ml_evaluation: autograde"), shown on ``stream``
    (default: stderr, so the command's own output on stdout stays clean)."""

    def __init__(self, total: int, what: str, unit: str = "submission", stream=None):
        self.stream = stream or sys.stderr
        self.total, self.what, self.done = total, what, 0
        self.started = time.monotonic()
        self.terminal = _is_terminal(self.stream)
        tqdm.monitor_interval = 0  # no monitor thread: the local backend forks its workers
        self.bar = tqdm(total=total, desc=what, unit=unit, file=self.stream,
                        dynamic_ncols=True, leave=True) if self.terminal else None

    def step(self, note: str = "") -> None:
        """One more step done; ``note`` says which (a student, an assignment) and how it went."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)
        else:
            self._line(note)

    def status(self, note: str) -> None:
        """What is going on between steps (e.g. "2 running, 3 waiting" on a cluster)."""
        if self.bar is not None:
            self.bar.set_postfix_str(note)
        else:
            self._line(note)

    def say(self, message: str) -> None:
        """A message of its own (not a step), printed above the bar on a terminal."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self, note: str) -> None:
        meter = tqdm.format_meter(self.done, self.total, time.monotonic() - self.started,
                                  prefix=self.what, bar_format=PLAIN_FORMAT)
        print(f"{meter} {note}".rstrip(), file=self.stream, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
