"""The grader's peak memory while it grades: for the flood test and its benchmark."""
from __future__ import annotations

import os
import threading
import time

import psutil


def watch_grader_peak_rss(pid: int, peak: dict, done: threading.Event, interval: float = 0.1) -> None:
    """Keep in ``peak["bytes"]`` the largest resident size of process ``pid`` or any of its
    children running as us (the grader, not the sandboxes' accounts), until ``done`` is set."""
    me = os.geteuid()
    peak.setdefault("bytes", 0)
    while not done.is_set():
        try:
            family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for member in family:
            try:
                if member.uids().real == me:
                    peak["bytes"] = max(peak["bytes"], member.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(interval)
