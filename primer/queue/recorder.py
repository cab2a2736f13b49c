"""The course's recorder: the queue's record step (primer.queue.record), kept running between jobs.

    python -m primer.queue.recorder --course C      (started by the queue, as the course owner)

A fresh interpreter per record step paid nbgrader's imports (about 0.9 s of
CPU) for every submission. The recorder pays them once: the queue
(primer/queue/service.py) starts it as the course owner, with the same
account, environment and folder as the one-off record step had, and hands it
one job per line on stdin::

    {"assignment", "student", "submission", "result", "log", "show_scores"}

It answers each with one JSON line on stdout: ``primer.queue.record.record``'s
answer, or ``{"status": "failed", "error": ...}``, with ``"ends": true`` when it
exits after that answer. The job's checks are the
record step's own (the trusted merge). Nothing of one job reaches the next:

* every gradebook is opened and closed within its job; if one is still alive
  after the job, or the job raised, the recorder answers and exits, and the
  next job gets a fresh one;
* the folder and the environment are set back after each job, and after
  JOBS_PER_RECORDER jobs a fresh recorder takes over;
* on the queue's side (``Recorder``), a job that runs out of time or a
  recorder that dies is killed with everything it started, that job is
  reported failed as before, and the next job starts a fresh recorder.

``PRIMER_QUEUE_RECORDER=0`` gives a fresh recorder per job: the record step
until now (for benchmarks/queue_benchmark.py).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import traceback
from pathlib import Path

from primer.accounts import kill_tree

log = logging.getLogger("primer.queue")
JOB_FIELDS = {"assignment": str, "student": str, "submission": str, "result": str, "log": str,
              "show_scores": bool}
ANSWER_BYTES = 1024 * 1024  # one answer line at most
JOBS_PER_RECORDER = 500  # then a fresh one: whatever a library caches cannot grow for ever


# --------------------------------------------------------------------------- the owner's side

def read_job(line: str) -> dict:
    job = json.loads(line)
    if not isinstance(job, dict) or set(job) != set(JOB_FIELDS) or any(
            not isinstance(job[k], kind) for k, kind in JOB_FIELDS.items()):
        raise ValueError(f"not a recorder job: {line[:200]!r}")
    return job


def gradebooks_alive() -> int:
    """nbgrader Gradebooks still in memory after a job (each should be closed and gone)."""
    from nbgrader.api import Gradebook

    def count() -> int:
        return sum(isinstance(o, Gradebook) for o in gc.get_objects())

    if not count():  # about 0.03 s; a full collection first would cost twice that
        return 0
    gc.collect()  # closed ones may only wait for the cycle collector
    return count()


def serve(course: Path) -> int:
    from primer.queue import record as record_step

    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever nbgrader prints goes to the log: stdout carries answers only
    folder, environment, mask = os.getcwd(), dict(os.environ), os.umask(0o022)
    os.umask(mask)
    for number, line in enumerate(sys.stdin, 1):
        try:
            job = read_job(line)
            answer = record_step.record(course, job["assignment"], job["student"],
                                        Path(job["submission"]), Path(job["result"]),
                                        show_scores=job["show_scores"], log=Path(job["log"]))
        except Exception as error:  # noqa: BLE001 - said to the queue; this recorder ends with it
            traceback.print_exc()
            answers.write(json.dumps({"status": "failed", "error": f"{type(error).__name__}: "
                                      f"{str(error)[-1000:]}", "ends": True}) + "\n")
            answers.flush()
            return 1  # whatever the failed job left half-done ends with this process
        alive = gradebooks_alive()
        if alive:
            print(f"{alive} gradebook(s) outlived the job: the next job gets a fresh recorder",
                  file=sys.stderr, flush=True)
        ends = bool(alive) or number >= JOBS_PER_RECORDER
        answers.write(json.dumps({**answer, "ends": ends}) + "\n")
        answers.flush()
        if ends:
            return 1 if alive else 0
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        os.umask(mask)
    return 0


def warm_imports() -> None:
    """What every job needs, imported before the first one arrives."""
    import nbgrader.apps  # noqa: F401
    import nbgrader.converters  # noqa: F401

    import primer.grading.merge  # noqa: F401
    import primer.grading.parallel  # noqa: F401
    import primer.queue.feedback  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primer.queue.recorder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", required=True)
    args = parser.parse_args(argv)
    warm_imports()
    return serve(Path(args.course).resolve())


# --------------------------------------------------------------------------- the queue's side

class Recorder:
    """The queue's handle on the course's recorder: started when first needed, one job at a time."""

    def __init__(self, owner: str, course: Path, env: dict[str, str], log_path: Path,
                 timeout: float, keep: bool = True):
        self.owner, self.course, self.env, self.timeout, self.keep = owner, Path(course), env, timeout, keep
        self.log_path = Path(log_path)
        self.process: asyncio.subprocess.Process | None = None
        self.pids: list[int] = []  # of every recorder started, oldest first
        self.lock = asyncio.Lock()

    async def record(self, job: dict, failure_log: Path) -> dict:
        """The record step's answer for ``job`` (+ "recorded"), or a failed answer saying why."""
        async with self.lock:
            try:
                line = await self._exchange(job)
            except asyncio.TimeoutError:
                await self.close()
                return {"status": "failed", "recorded": False,
                        "notes": ["recording the result took too long"]}
            finally:
                if not self.keep:  # the record step until now: one interpreter per job
                    await self.close(finish=True)
            try:
                answer = json.loads(line)
                if not isinstance(answer, dict):
                    raise ValueError(line[:200])
            except ValueError:
                returncode = await self.close()
                error = f"the recorder ended without an answer (exit {returncode}); see {self.log_path}"
                answer = {"status": "failed", "error": error}
            if answer.pop("ends", False):  # it exits now: the next job starts a fresh one
                await self.close(finish=True)
            if "error" in answer:
                failure_log.write_text(str(answer["error"])[-20_000:])
                return {"status": "failed", "recorded": False,
                        "notes": ["recording the result failed: " + str(answer["error"])[-400:]]}
            answer["recorded"] = answer.get("status") in ("graded", "failed")
            return answer

    async def _exchange(self, job: dict) -> bytes:
        from primer.queue.as_owner import PIPE, start_as_owner

        if self.process is None or self.process.returncode is not None:
            with open(self.log_path, "ab") as log_file:  # the child keeps its own copy
                self.process = await start_as_owner(
                    self.owner, [sys.executable, "-m", "primer.queue.recorder", "--course", str(self.course)],
                    cwd=self.course, env=self.env, stdin=PIPE, stdout=PIPE, stderr=log_file,
                    limit=ANSWER_BYTES)
            self.pids.append(self.process.pid)
            log.info("the course's recorder started (pid %d)", self.process.pid)
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return b""
        try:
            return await asyncio.wait_for(self.process.stdout.readline(), self.timeout)
        except ValueError:  # longer than ANSWER_BYTES: not an answer
            return b""

    def kill(self) -> None:
        """Stop the recorder now (the service is stopping)."""
        if self.process is not None and self.process.returncode is None:
            kill_tree(self.process.pid)

    async def close(self, finish: bool = False) -> int | None:
        """Stop the recorder with everything it started (``finish``: let it end by itself
        first, as a one-off record step did); its exit status."""
        from primer.queue.as_owner import stop

        process, self.process = self.process, None
        if process is None:
            return None
        if finish and process.returncode is None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except asyncio.TimeoutError:
                pass
        await stop(process)
        return process.returncode


if __name__ == "__main__":
    sys.exit(main())
