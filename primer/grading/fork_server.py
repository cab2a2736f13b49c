"""A warm process that forks on request: the shared part of warm judges and kernel zygotes.  [TRUSTED SIDE]

Both primer.grading.judge_zygote (a judge per submission) and
primer.grading.kernel_zygote (a kernel per warm sandbox) keep a process that did
its imports once and forks one child per request. Such a process is started
with a job on its stdin and one end of a packet socket; each request on that
socket is a JSON message carrying four file descriptors. This module holds the
grader's handle on such a process (``ForkServer``) and the loop that reads its
requests (``requests``).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Callable, Iterator

REQUEST_BYTES = 64 * 1024
REQUEST_FDS = 4  # the reply socket and three more, by each kind's own meaning


class ForkServer:
    """A forking process started as ``python [flags] COMMAND... FD`` in a folder of its own, with
    ``job`` as one JSON line on its stdin; ``requests`` is the grader's end of its socket."""

    def __init__(self, command: list[str], job, environment: Callable[[str], dict], prefix: str,
                 preexec_fn: Callable[[], None] | None = None):
        self.folder = tempfile.mkdtemp(prefix=prefix)
        self.requests, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, *command, str(theirs.fileno())],
            cwd=self.folder, env=environment(self.folder), stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=self.errors, pass_fds=[theirs.fileno()],
            preexec_fn=preexec_fn, start_new_session=True)
        theirs.close()
        self.process.stdin.write((json.dumps(job) + "\n").encode())
        self.process.stdin.close()

    def stderr_tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read()[-2000:].decode(errors="replace").strip() or "no message"

    def stop(self) -> None:
        self.requests.close()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)
        self.errors.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def requests(listener: socket.socket) -> Iterator[tuple[bytes, list[int]]]:
    """Each well-formed request on ``listener`` (its message and its four descriptors) until every
    grader closed its end; a request with another number of descriptors is dropped."""
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(listener, REQUEST_BYTES, REQUEST_FDS)
        except InterruptedError:
            continue
        if not message:
            return
        if len(fds) != REQUEST_FDS:
            for fd in fds:
                os.close(fd)
            continue
        yield message, fds
