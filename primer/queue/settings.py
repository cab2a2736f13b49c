"""The grading queue's settings, from the hub's environment (docs/workshop.md, "Feedback minutes after Submit").

==========================  ==============================================  =====================
variable                    meaning                                         default
==========================  ==============================================  =====================
PRIMER_QUEUE_ASSIGNMENTS    assignments graded on submit (comma-separated); (none: the queue is
                            ``primer queue enable/disable`` change it on    off)
                            a running hub
PRIMER_QUEUE_WORKERS        submissions graded at once                      the cores
PRIMER_QUEUE_PER_HOUR       gradings per student per hour; later ones wait  6
PRIMER_QUEUE_WINDOW         the seconds that limit counts over              3600
PRIMER_QUEUE_TIMEOUT        seconds one grading may take before it is       900
                            stopped and reported as failed
PRIMER_QUEUE_SHOW_SCORES    1: feedback shows the provisional score;        1
                            0: only which tests passed
PRIMER_QUEUE_WARM           1: grade in warm sandboxes, started ahead and   1
                            used once (primer/queue/warm_pool.py); 0: start
                            a cold ``primer grade-one`` per submission
PRIMER_QUEUE_ZYGOTE         1: the kernels of warm sandboxes are forks of  1
                            one process per notebook that did its imports
                            once (primer/grading/kernel_zygote.py); 0: each
                            kernel does them itself
PRIMER_QUEUE_RECORDER       1: record results in the course's recorder,     1
                            kept running between submissions
                            (primer/queue/recorder.py); 0: a fresh record
                            step per submission
PRIMER_QUEUE_WARM_IDLE      seconds without a submission to an assignment   600
                            before its warm sandboxes are stopped (the next
                            submission starts them again)
PRIMER_QUEUE_WARM_RELEASES  assignments submitted to recently that keep     2
                            warm sandboxes
PRIMER_QUEUE_PORT           the service's port on 127.0.0.1                 PRIMER_HUB_PORT + 4
==========================  ==============================================  =====================
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

SERVICE_NAME = "grading-queue"  # /services/grading-queue/ on the hub


def _integer(variable: str, default: int, minimum: int) -> int:
    value = os.environ.get(variable, "").strip() or str(default)
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{variable}={value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{variable}={number} is too small: use at least {minimum}")
    return number


def _switch(variable: str) -> bool:
    """On unless the variable says 0, false or no."""
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no")


def default_workers() -> int:
    """One per core. Gradings run below the hub's priority (nice 10, the next warm sandbox
    nice 15), so the hub keeps answering; on 2 cores, 2 workers gave 30 students their
    feedback far sooner than 1 (`make bench-queue`, docs/workshop.md)."""
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class QueueSettings:
    assignments: tuple[str, ...] = ()
    workers: int = 1
    per_hour: int = 6
    window: int = 3600
    timeout: int = 900
    show_scores: bool = True
    warm: bool = True
    zygotes: bool = True
    keep_recorder: bool = True
    warm_idle: int = 600
    warm_releases: int = 2

    @classmethod
    def from_environment(cls) -> "QueueSettings":
        names = os.environ.get("PRIMER_QUEUE_ASSIGNMENTS", "")
        return cls(
            assignments=tuple(n.strip() for n in names.split(",") if n.strip()),
            workers=_integer("PRIMER_QUEUE_WORKERS", default_workers(), 1),
            per_hour=_integer("PRIMER_QUEUE_PER_HOUR", 6, 1),
            window=_integer("PRIMER_QUEUE_WINDOW", 3600, 1),
            timeout=_integer("PRIMER_QUEUE_TIMEOUT", 900, 10),
            show_scores=_switch("PRIMER_QUEUE_SHOW_SCORES"),
            warm=_switch("PRIMER_QUEUE_WARM"),
            zygotes=_switch("PRIMER_QUEUE_ZYGOTE"),
            keep_recorder=_switch("PRIMER_QUEUE_RECORDER"),
            warm_idle=_integer("PRIMER_QUEUE_WARM_IDLE", 600, 1),
            warm_releases=_integer("PRIMER_QUEUE_WARM_RELEASES", 2, 1),
        )


def queue_folder(runtime_root: Path) -> Path:
    """Where the queue keeps its journal and work: root's, under the hub's runtime folder."""
    return Path(runtime_root) / "queue"


def passed_on_environment() -> dict[str, str]:
    """The PRIMER_QUEUE_* variables of this process, and where its cluster is (grading on a
    cluster: primer/queue/cluster_dispatch.py), for the service's environment."""
    from primer.queue.cluster_dispatch import CLUSTER_ENVIRONMENT

    return {k: v for k, v in os.environ.items() if k.startswith("PRIMER_QUEUE_") or k in CLUSTER_ENVIRONMENT}


def service_definition(runtime, course: Path, owner: str) -> dict:
    """The hub's entry for this service (primer/hub/config.py): run as root, on 127.0.0.1."""
    from primer.hub.course_setup import course_config_file, server_config_path

    port = int(os.environ.get("PRIMER_QUEUE_PORT", "").strip() or runtime.port + 4)
    venv_bin = Path(sys.prefix) / "bin"
    return {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "primer.queue.service"],
        "environment": {
            **passed_on_environment(),
            "PRIMER_RUNTIME": str(runtime.root),
            "PRIMER_QUEUE_COURSE": str(course),
            "PRIMER_QUEUE_OWNER": owner,
            "PRIMER_QUEUE_COURSE_CONFIG": str(course_config_file(runtime)),
            "PRIMER_EXCHANGE_ROOT": str(runtime.exchange),
            "JUPYTER_CONFIG_PATH": server_config_path(runtime, "staff"),
            # /usr/sbin: the sandbox makes its accounts with useradd
            "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        },
        "oauth_no_confirm": True,
        "display": True,
    }
