"""Warm sandboxes for the grading queue: grading units started ahead, each used once.  [TRUSTED SIDE]

The queue (primer/queue/service.py) grades each submission in a *standby*
(primer.grading.standby): a unit process that has already imported nbgrader
and started its sandboxed kernels, with the release's imports done, before the
submission arrived. The pool keeps one standby ready per worker for the
release submitted to last, and one warm judge per notebook of that release
(primer.grading.judge_zygote: each test judge is a fresh fork of it); the
releases submitted to just before it (``releases`` in all) keep theirs too,
as far as free sandbox accounts allow, so two assignments submitted in turn
do not throw each other's standbys away. A release with no submission for
``idle`` seconds (10 minutes by default) has its standbys and judges stopped:
the next submission to it starts them again (and is graded in the first one,
as soon as it is ready).

Isolation, one student from the next:

* every standby, and every kernel in it, serves exactly one submission;
* the pool has twice as many sandbox accounts as workers
  (``primer-sandbox<first>`` and up): a standby waits under an account no
  grading is using, so a student's kernel never shares its account (its
  process limit, its signals) with the next student's kernel;
* when a grading ends, its standby's process tree is killed, then every
  process of its sandbox account (whatever escaped the tree), and its folder
  (the sandboxes' sockets and views, the judges' folders) is wiped; only
  then is the account used again.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from primer.accounts import descendants, kill_tree, processes_of

log = logging.getLogger("primer.queue")
READY_TIMEOUT = 600  # seconds a standby may take to start its kernels
# A grading runs below the hub (nice 10, as a cold unit did); a standby getting ready for the
# next submission runs below the gradings under way, until it is handed its submission.
GRADING_NICENESS, STANDBY_NICENESS = 10, 15
BROKEN_PAUSE = 300  # seconds without warm sandboxes of a release after one failed to start
IDLE_SECONDS = 600  # without a submission to a release, its standbys are stopped (PRIMER_QUEUE_WARM_IDLE)
RELEASES_KEPT = 2  # releases submitted to recently that keep standbys (PRIMER_QUEUE_WARM_RELEASES)


@dataclass
class Standby:
    account: int  # the N of its sandbox account primer-sandboxN
    release: Path
    folder: Path
    process: asyncio.subprocess.Process
    ready: asyncio.Future = field(default=None)  # True once its kernels are warm

    def is_ready(self) -> bool:
        return (self.ready.done() and not self.ready.cancelled() and self.ready.exception() is None
                and self.ready.result())

    async def wait_ready(self) -> None:
        if not await asyncio.wait_for(asyncio.shield(self.ready), READY_TIMEOUT):
            raise RuntimeError("the warm sandbox did not start: "
                               + (self.folder / "standby.log").read_text(errors="replace")[-600:])


class WarmPool:
    def __init__(self, logs: Path, size: int, first_account: int, wait: float = 900,
                 idle: float = IDLE_SECONDS, releases: int = RELEASES_KEPT, zygotes: bool = True):
        """``size`` standbys per release; ``idle``: seconds without a submission to a release
        before its standbys and judges are stopped; ``releases``: how many releases submitted to
        recently keep standbys (students submitting two assignments in turn cause no churn);
        ``zygotes``: the standbys' kernels are forks of a kernel zygote per notebook of the release
        (primer.grading.kernel_zygote), which did the notebook's imports once."""
        self.logs, self.size, self.wait = Path(logs), size, wait
        self.idle, self.releases = idle, max(1, releases)
        self.free = list(range(first_account, first_account + 2 * size))
        self.ready: list[Standby] = []
        self.in_use: list[Standby] = []  # taken for a submission, until ``done``
        self.judges: dict[Path, list] = {}  # release -> its warm judges (judge_zygote.WarmJudge)
        self.use_zygotes = zygotes
        self.zygotes: dict[Path, list] = {}  # release -> its kernel zygotes, one per notebook
        self.recent: dict[Path, float] = {}  # release -> its last submission (monotonic), oldest first
        self.broken_at: dict[Path, float] = {}  # release -> when a standby of it failed to start
        self.watcher: asyncio.Task | None = None  # retires releases gone quiet
        self.stopped = False

    # ------------------------------------------------------------------ standbys
    def prepare(self, release: Path) -> None:
        """A submission to ``release`` now: keep ``size`` standbys ready for it from now on (and
        for the other releases submitted to recently, while accounts are free)."""
        self.recent.pop(release, None)
        self.recent[release] = time.monotonic()
        while len(self.recent) > self.releases:
            self.retire(next(iter(self.recent)))  # the one submitted to longest ago
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.ensure_future(self._watch())
        self.fill()

    def fill(self) -> None:
        """Start standbys for the recent releases, the latest first, while accounts are free."""
        if self.stopped:
            return
        for release in sorted(self.recent, key=self.recent.get, reverse=True):
            if time.monotonic() - self.broken_at.get(release, -BROKEN_PAUSE) < BROKEN_PAUSE:
                continue  # its last standby failed: the queue grades cold for a while, no restart loop
            while self.free and sum(s.release == release for s in self.ready) < self.size:
                self.ready.append(self._start(release))

    def retire(self, release: Path) -> None:
        """No standbys for ``release`` any more (gone quiet, or pushed out by newer ones); its
        warm judges stop once no grading uses them."""
        self.recent.pop(release, None)
        for standby in [s for s in self.ready if s.release == release]:
            self.ready.remove(standby)
            asyncio.ensure_future(self.done(standby))
        self._stop_warm_processes_if_unused(release)

    async def _watch(self) -> None:
        """Retire each release that had no submission for ``idle`` seconds: its standbys hold a
        kernel per notebook each (hundreds of MiB) that nobody may need for hours."""
        while self.recent and not self.stopped:
            await asyncio.sleep(min(self.idle / 2, 30))
            now = time.monotonic()
            for release in [r for r, last in self.recent.items() if now - last >= self.idle]:
                log.info("no submission to %s for %d s: its warm sandboxes are stopped until the next",
                         _assignment(release), self.idle)
                self.retire(release)

    async def take(self, release: Path) -> Standby:
        """A standby for ``release``: a ready one, else one started now (used at once)."""
        self.prepare(release)
        alive = self._alive(release)
        if not alive and not self.free:  # every account holds another release's standby: free one
            others = [s for s in self.ready if s.release != release]
            if others:
                oldest = min(others, key=lambda s: self.recent.get(s.release, 0.0))
                self.ready.remove(oldest)
                await self.done(oldest)  # its fill() starts one for this release, the latest
                alive = self._alive(release)
        started = [s for s in alive if s.is_ready()]
        if not (started or alive):
            if not self.free or release in self.broken_at and time.monotonic() - self.broken_at[release] < BROKEN_PAUSE:
                raise RuntimeError("no warm sandbox can start now (no free account, or the last "
                                   "one failed to start)")
            alive = [self._start(release)]
            self.ready += alive
        standby = (started or alive)[0]
        self.ready.remove(standby)
        self.in_use.append(standby)
        self.fill()  # the next one starts now, under another account
        return standby

    def _alive(self, release: Path) -> list[Standby]:
        return [s for s in self.ready if s.release == release
                and (s.process is None or s.process.returncode is None)]

    async def run(self, standby: Standby, job: dict) -> asyncio.subprocess.Process:
        """Hand ``job`` (submission, scratch, result, student, log) to ``standby``: its process."""
        await standby.wait_ready()
        for pid in (standby.process.pid, *descendants(standby.process.pid)):  # its kernels too
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, GRADING_NICENESS)
        standby.process.stdin.write((json.dumps(job) + "\n").encode())
        await standby.process.stdin.drain()
        standby.process.stdin.close()
        return standby.process

    async def done(self, standby: Standby) -> None:
        """Throw ``standby`` away: its processes, everything of its account, its folder."""
        with contextlib.suppress(Exception):
            await standby.ready  # started, or failed to
        if standby.process is not None:
            kill_tree(standby.process.pid)
            await standby.process.wait()
        await asyncio.to_thread(sweep_account, standby.account)
        if not standby.is_ready():
            with contextlib.suppress(OSError):  # why it never got ready: for the staff
                shutil.copyfile(standby.folder / "standby.log", self.logs / f"{standby.folder.name}.log")
        shutil.rmtree(standby.folder, ignore_errors=True)
        self.free.append(standby.account)
        if standby in self.in_use:
            self.in_use.remove(standby)
        self._stop_warm_processes_if_unused(standby.release)
        self.fill()

    def _start(self, release: Path) -> Standby:
        account = self.free.pop(0)
        # Short (a kernel's socket path must fit in 108 bytes), new, and wiped after its one use.
        folder = Path(tempfile.mkdtemp(prefix=f"primer-standby{account}-"))
        folder.chmod(0o711)  # the sandbox account reaches its sockets folder below
        judges, zygotes = self._warm_processes(release)
        fds = [judge.requests.fileno() for judge in judges]
        zygote_fds = [zygote.requests.fileno() for zygote in zygotes]
        log_file = open(folder / "standby.log", "wb")  # its kernels' start; kept if it fails
        starting = asyncio.create_subprocess_exec(
            "nice", "-n", str(STANDBY_NICENESS), sys.executable, "-m", "primer.grading.standby",
            "--release", str(release), "--slot", str(account), "--wait", str(self.wait),
            "--judges", ",".join(map(str, fds)), "--zygotes", ",".join(map(str, zygote_fds)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file,
            start_new_session=True, cwd=str(folder), pass_fds=fds + zygote_fds,
            env={**os.environ, "TMPDIR": str(folder)})
        standby = Standby(account, release, folder, None)
        standby.ready = asyncio.ensure_future(self._started(standby, starting, log_file))
        return standby

    async def _started(self, standby: Standby, starting, log_file) -> bool:
        try:
            standby.process = await starting
        finally:
            log_file.close()
        line = await standby.process.stdout.readline()
        if line.strip() != b"ready":
            self.broken_at[standby.release] = time.monotonic()
            return False
        asyncio.ensure_future(self._recycle_when_gone(standby))
        return True

    async def _recycle_when_gone(self, standby: Standby) -> None:
        """A ready standby that ended unused (it waited ``wait`` s, or died): replaced."""
        await standby.process.wait()
        if standby in self.ready:
            self.ready.remove(standby)
            await self.done(standby)

    # ------------------------------------------------------------------ judges
    def _warm_processes(self, release: Path) -> tuple[list, list]:
        """The warm judges and kernel zygotes of ``release`` (started at its first use); those of
        an older release of the same assignment are stopped (a standby still holding one falls
        back to a cold judge, or a kernel of its own)."""
        from primer.grading.judge_zygote import WarmJudge
        from primer.grading.kernel_zygote import KernelZygote, release_imports
        from primer.grading.unit import judge_plans

        if release not in self.judges:
            assignment = _assignment(release)
            for old in [r for r in self.judges if _assignment(r) == assignment]:
                self._stop_warm_processes(old)
            self.judges[release] = [WarmJudge(plan) for plan in judge_plans(release)]
            self.zygotes[release] = ([KernelZygote(imports) for imports in release_imports(release)]
                                     if self.use_zygotes else [])
            for warm in self.judges[release] + self.zygotes[release]:  # its forks inherit it
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, warm.process.pid, GRADING_NICENESS)
        return self.judges[release], self.zygotes[release]

    def _stop_warm_processes_if_unused(self, release: Path) -> None:
        if release not in self.recent and not any(s.release == release for s in self.in_use + self.ready):
            self._stop_warm_processes(release)

    def _stop_warm_processes(self, release: Path) -> None:
        """Stop the warm judges and kernel zygotes of ``release``."""
        for warm in self.judges.pop(release, []) + self.zygotes.pop(release, []):
            warm.stop()

    async def close(self) -> None:
        """Throw away every standby and stop the warm judges (no new standby is started)."""
        self.stopped = True
        self.recent.clear()
        while self.ready:
            await self.done(self.ready.pop())
        self.stop()

    def stop(self) -> None:
        """Stop every standby and warm judge (the service is stopping)."""
        self.stopped = True  # a grading cut short gives its standby back: none is started again
        self.recent.clear()
        if self.watcher is not None:
            self.watcher.cancel()
        for standby in self.ready:
            if standby.process is not None:
                kill_tree(standby.process.pid)
        for release in list(self.judges):
            self._stop_warm_processes(release)


def _assignment(release: Path) -> str:
    return next((p.name for p in (release / "release").iterdir() if p.is_dir()), "")


def sweep_account(account: int, rounds: int = 20) -> None:
    """SIGKILL every process of sandbox account ``primer-sandbox<account>`` until none is left."""
    from primer.grading.sandbox import sandbox_account

    try:
        uid = pwd.getpwnam(sandbox_account(account)).pw_uid
    except KeyError:
        return  # never made: nothing of it can run
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    log.error("processes of %s outlived %d rounds of SIGKILL", sandbox_account(account), rounds)
