"""Commands the grading queue (root) runs as the course owner, with a time limit.

The record step (primer.queue.recorder), the class report and the cluster
dispatcher all run as the course owner: the gradebook and the course's files
are theirs, and root never parses what students' code produced. Each starts
with the owner's account, groups and a clean environment
(primer.accounts.user_environment), in a session of its own, so that when its
time is up it is stopped with everything it started.
"""
from __future__ import annotations

import asyncio
import os
import pwd
import signal
from dataclasses import dataclass
from pathlib import Path

from primer.accounts import kill_tree, user_environment

PIPE, DEVNULL = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL


async def start_as_owner(owner: str, argv: list[str], *, cwd: Path, env: dict[str, str],
                         stdin=DEVNULL, stdout=PIPE, stderr=PIPE, **options) -> asyncio.subprocess.Process:
    """``argv`` started as the Unix user ``owner``, with ``env`` on top of their clean environment
    (``options``: more of asyncio.create_subprocess_exec's)."""
    entry = pwd.getpwnam(owner)
    return await asyncio.create_subprocess_exec(
        *argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=str(cwd),
        env=user_environment(entry, env), user=entry.pw_uid, group=entry.pw_gid,
        extra_groups=os.getgrouplist(entry.pw_name, entry.pw_gid), start_new_session=True, **options)


async def stop(process: asyncio.subprocess.Process, grace: float = 0.0) -> None:
    """End ``process``: with ``grace``, SIGTERM and that many seconds to finish first; then
    SIGKILL to it and everything below it."""
    if grace and process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except asyncio.TimeoutError:
            pass
    kill_tree(process.pid)
    await process.wait()


@dataclass
class OwnerRun:
    returncode: int | None  # None: out of time, stopped
    out: bytes = b""
    err: bytes = b""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


async def run_as_owner(owner: str, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
                       grace: float = 0.0, stderr=PIPE, started=None) -> OwnerRun:
    """Run ``argv`` as ``owner`` to its end or for ``timeout`` seconds (then ``stop`` it, with
    ``grace``); ``started(process)`` is called once it runs (so the queue can stop it too)."""
    process = await start_as_owner(owner, argv, cwd=cwd, env=env, stderr=stderr)
    if started is not None:
        started(process)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        await stop(process, grace)
        return OwnerRun(None)
    return OwnerRun(process.returncode, out or b"", err or b"")
