"""Warm judges: a notebook's imports and setup run once per class, and each submission's judge is a fork.  [TRUSTED SIDE]

Starting a judge costs its imports and the course's data loads (seconds for
01's nilearn, 02's connectomes), and on a 2-core grading machine that time
is taken from the notebooks being graded. While a class is graded, the grader
(primer.grading.parallel) keeps one *warm judge* per notebook of the release:
a ``python -I -m primer.grading.judge --warm`` process that ran the release's
imports and judge-setup cells once (primer.grading.judge.Prepared) and never
talks to a student's kernel itself. For each submission the grader hands it
three pipes; it forks a judge that serves them with its own copy-on-write
copy of the prepared namespace and then meets that one student's kernel.

No state passes from one student to the next: every judge is a fresh fork of
a process no student's code ever reached, and it ends with its notebook.
The grading queue keeps warm judges too (primer/queue/warm_pool.py: its warm
sandboxes inherit their request sockets). Where no warm judge runs (one
`primer grade-one`, a cluster task), ``JudgeProcess`` starts a cold one as before.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

from primer.grading.fork_server import ForkServer, requests

JUDGE_MEMORY = 8 * 1024 ** 3     # address space of every judge process, bytes
_warm: dict[str, "WarmJudge"] = {}  # plan key -> warm judge of this grading run (inherited by forks)


def judge_environment(folder: str) -> dict:
    """The judge's whole environment: nothing of the grader's, its home in its own empty folder."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": folder,
            "MPLCONFIGDIR": folder, "MPLBACKEND": "Agg", "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "NILEARN_DATA": os.path.join(folder, "nilearn")}


def limit_memory() -> None:
    """Run in the judge's process before it starts (preexec_fn); its forks inherit the limit."""
    resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY, JUDGE_MEMORY))


def plan_key(plan: dict) -> str:
    return json.dumps(plan, sort_keys=True)


# --------------------------------------------------------------------------- the warm process

def serve_forks(socket_fd: int, prepared, serve) -> None:
    """Fork one judge per request on ``socket_fd`` until every grader closed its end."""
    listener = socket.socket(fileno=socket_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished judges
    for message, fds in requests(listener):
        reply, stdin, stdout, stderr = fds
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                listener.close()
                os.close(reply)
                os.setsid()
                for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
                    os.dup2(fd, target)
                    os.close(fd)
                folder = json.loads(message)["folder"]
                os.chdir(folder)
                os.environ.update(judge_environment(folder))
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                serve(prepared)
            finally:
                os._exit(0)
        # The child waits for its first request, so it is alive to be opened here.
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(socket.socket(fileno=reply), [b"forked"], [pidfd])
        except OSError:
            os.kill(pid, signal.SIGKILL)
        finally:
            for fd in (pidfd, stdin, stdout, stderr):
                os.close(fd)


# --------------------------------------------------------------------------- the grader's side

class WarmJudge(ForkServer):
    """One warm judge process for one notebook's plan, for one grading run."""

    def __init__(self, plan: dict):
        super().__init__(["-I", "-m", "primer.grading.judge", "--warm"], plan, judge_environment,
                         "primer-warm-judge-", preexec_fn=limit_memory)

    def fork(self, folder: str, stderr: int) -> "ForkedJudge":
        """A judge forked for one submission, talking over two new pipes; OSError if it cannot."""
        to_judge, from_judge = os.pipe(), os.pipe()
        try:
            pidfd = self._fork(folder, to_judge[0], from_judge[1], stderr)
        except OSError:
            for fd in (*to_judge, *from_judge):
                os.close(fd)
            raise
        os.close(to_judge[0])  # the judge's ends: only the judge holds them now
        os.close(from_judge[1])
        return ForkedJudge(pidfd, os.fdopen(to_judge[1], "wb"), os.fdopen(from_judge[0], "rb"))

    def _fork(self, folder: str, stdin: int, stdout: int, stderr: int) -> int:
        """The pidfd of a judge forked to serve the given pipe ends."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours, theirs:
            socket.send_fds(self.requests, [json.dumps({"folder": folder}).encode()],
                            [theirs.fileno(), stdin, stdout, stderr])
            theirs.close()
            # The warm judge may still be importing: wait as long as a cold start would take.
            if not select.select([ours], [], [], 600)[0]:
                raise OSError("the warm judge did not fork a judge")
            message, fds, _, _ = socket.recv_fds(ours, 64, 1)
        if message != b"forked" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise OSError(f"the warm judge could not fork a judge: {self.stderr_tail()}")
        return fds[0]


class ForkedJudge:
    """What ``JudgeProcess`` needs of a process (poll, kill, wait), through a pidfd: never a reused PID."""

    def __init__(self, pidfd: int, stdin, stdout):
        self.pidfd, self.stdin, self.stdout = pidfd, stdin, stdout

    def poll(self):
        return 0 if select.select([self.pidfd], [], [], 0)[0] else None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def wait(self, timeout: float | None = None):
        if self.pidfd < 0:
            return 0
        if not select.select([self.pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired("judge", timeout)
        os.close(self.pidfd)
        self.pidfd = -1
        return 0


def warm_judge_for(plan: dict) -> WarmJudge | None:
    # Not process.poll(): in a forked grader the warm judge is not its child. A dead
    # one refuses the request instead, and the grader starts a cold judge.
    return _warm.get(plan_key(plan))


@contextlib.contextmanager
def warm_judges(plans: list[dict]):
    """Keep a warm judge for each plan while the block grades; stop them all after."""
    started = []
    try:
        for plan in plans:
            if plan_key(plan) not in _warm:
                _warm[plan_key(plan)] = WarmJudge(plan)
                started.append(plan_key(plan))
        yield
    finally:
        for key in started:
            _warm.pop(key).stop()
