"""The grader's side of the judge: start it for a notebook, hand it test cells, read verdicts.  [TRUSTED SIDE]

``SandboxedExecute`` (primer.grading.sandbox) uses this for every notebook
whose release it finds: every autograded test cell runs in the judge process
(primer.grading.judge) instead of the student's kernel, and the cell's outputs are written from the
judge's verdict alone: its printed text and, on failure, an error. Nothing
the student's code displays can reach a test cell's outputs, so no display
or ``execute_result`` can earn points (nbgrader's ``determine_grade`` would
pay for one).

What the judge is told comes from the release notebook (the trusted copy the
grading runs against), never from the submission.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from primer.grading.judge import bound_names, import_statements
from primer.grading.judge_zygote import judge_environment, limit_memory, warm_judge_for

_MAX_ANSWER = 1024 ** 2          # bytes of one verdict line


class JudgeFailed(RuntimeError):
    """The judge process itself failed (not a test): nobody can say whether the answer was right."""


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def judge_plan(release_nb) -> dict:
    """What the judge needs to know of a release notebook: imports, setup cells, answer names."""
    imports, setup, student_names = [], [], set()
    for cell in release_nb.cells:
        if cell.cell_type != "code":
            continue
        if _nbgrader(cell).get("solution"):
            student_names |= bound_names(cell.source)
            continue
        imports += import_statements(_without_magics(cell.source))
        if (cell.metadata.get("primer", {}) or {}).get("judge") == "setup":
            # IPython's magics (%matplotlib inline) mean nothing to the judge.
            setup.append("\n".join(line for line in cell.source.splitlines()
                                    if not line.lstrip().startswith(("%", "!"))))
    return {"imports": list(dict.fromkeys(imports)), "setup": setup,
            "student_names": sorted(student_names)}


def _without_magics(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def read_release(path: Path):
    return nbformat.read(path, as_version=4) if path.is_file() else None


class JudgeProcess:
    """One judge for one notebook: started when the kernel is, stopped with it."""

    def __init__(self, plan: dict, connection: dict, timeout: float):
        self.timeout = timeout
        self.folder = tempfile.mkdtemp(prefix="primer-judge-")
        self.errors = tempfile.TemporaryFile()
        self.process = self._fork_warm(plan) or self._start_cold()
        self._buffer = b""
        connection = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in connection.items()}
        self._send({"op": "start", "connection": connection, "timeout": timeout, **plan})
        self._ready = False

    def _start_cold(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-I", "-m", "primer.grading.judge"], cwd=self.folder,
            env=judge_environment(self.folder), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, preexec_fn=limit_memory, start_new_session=True)

    def _fork_warm(self, plan: dict):
        """A fork of this class's warm judge for the plan (primer.grading.judge_zygote), or None."""
        warm = warm_judge_for(plan)
        if warm is None:
            return None
        try:
            return warm.fork(self.folder, self.errors.fileno())
        except OSError as error:
            print(f"primer: a cold judge instead of the warm one ({error})", file=sys.stderr)
            return None

    def _send(self, request: dict) -> None:
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        out = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JudgeFailed(f"the judge did not answer within {timeout:.0f} s")
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                chunk = os.read(out, 65536)
                if not chunk:
                    raise JudgeFailed(f"the judge stopped: {self.stderr_tail()}")
                self._buffer += chunk
                if len(self._buffer) > _MAX_ANSWER:
                    raise JudgeFailed("the judge's answer was too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def stderr_tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read()[-2000:].decode(errors="replace").strip() or "no message"

    def run_test(self, source: str) -> dict:
        if not self._ready:
            answer = self._read(600)  # imports and setup; the notebook's own cells ran meanwhile
            if answer.get("status") != "ready":
                raise JudgeFailed(f"the judge could not start: {self.stderr_tail()}")
            self._ready = True
        self._send({"op": "test", "source": source})
        # The judge bounds each call into the student's code by ``timeout``; its own
        # checks are the course's and quick: allow a few calls' worth.
        return self._read(self.timeout * 3 + 30)

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            try:
                stream.close()
            except OSError:
                pass
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def verdict_outputs(answer: dict) -> list:
    """A test cell's outputs, made from the judge's verdict only (never the student's output)."""
    outputs = []
    if answer.get("stdout"):
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=answer["stdout"]))
    if answer.get("status") != "ok":
        name, message = str(answer.get("ename", "Error")), str(answer.get("evalue", ""))
        outputs.append(nbformat.v4.new_output("error", ename=name, evalue=message,
                                              traceback=[f"{name}: {message}" if message else name]))
    return outputs
