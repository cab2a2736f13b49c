"""Where the CPU of a running hub goes, by kind of process (for benchmarks/queue_benchmark.py --cpu).

A thread samples every process below the hub (its services, the queue's units, warm
sandboxes and their kernels, judges, record steps) every ``every`` seconds and keeps each
one's last user+system CPU time. Processes that live less than a sample are missed, and
the last ``every`` seconds of each are lost: the figures are a lower bound, good for
comparing kinds, not for exact totals.
"""
from __future__ import annotations

import threading

import psutil

# (kind, what its command line contains), first match wins
KINDS = (
    ("record step", "primer.queue.record"),
    ("standby unit", "primer.grading.standby"),
    ("cold unit", "grade-one"),
    ("kernel", "ipykernel"),
    ("kernel zygote", "primer.grading.kernel_zygote"),  # and, as a sandbox account, its forked kernels
    ("judge", "primer.grading.judge"),
    ("queue service", "primer.queue.service"),
    ("user servers", "jupyterhub-singleuser"),
    ("hub", "jupyterhub"),
    ("proxy", "course-proxy"),
)


def kind_of(cmdline: list[str], uid: int = 0) -> str:
    line = " ".join(cmdline)
    for kind, marker in KINDS:
        if marker in line:
            return "kernel" if kind == "kernel zygote" and uid != 0 else kind  # a fork: the kernel
    return "other: " + (cmdline[0].rsplit("/", 1)[-1] if cmdline else "?")


class ProcessCpu:
    """Sample the CPU of the process tree below ``root_pid`` until stopped."""

    def __init__(self, root_pid: int, every: float = 0.1):
        self.root, self.every = psutil.Process(root_pid), every
        # (pid, start) -> [kind, CPU seconds when first seen (0 if started later), last seen]
        self.seen: dict[tuple[int, float], list] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ProcessCpu":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        first = True  # what ran before the sampling started counts from then on
        while not self.stopping.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    with process.oneshot():
                        key = (process.pid, process.create_time())
                        times = process.cpu_times()
                        cpu = times.user + times.system
                        if key not in self.seen:
                            self.seen[key] = [kind_of(process.cmdline(), process.uids().real), cpu if first else 0.0, cpu]
                        self.seen[key][2] = cpu
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            first = False
            self.stopping.wait(self.every)

    def by_kind(self) -> dict[str, tuple[int, float]]:
        """kind -> (processes, CPU seconds), largest first."""
        totals: dict[str, list] = {}
        for kind, before, last in self.seen.values():
            entry = totals.setdefault(kind, [0, 0.0])
            entry[0] += 1
            entry[1] += last - before
        return dict(sorted(((k, (n, s)) for k, (n, s) in totals.items()), key=lambda i: -i[1][1]))
