"""A warm sandbox: one grading unit started ahead, used for exactly one submission, then thrown away.  [TRUSTED SIDE]

    python -m primer.grading.standby --release RELEASE --slot N [--judges FD,...] [--zygotes FD,...] [--wait S]

Started by the grading queue (primer/queue/warm_pool.py) before a submission
is there, it pays ahead what a cold ``primer grade-one`` pays per submission:
the interpreter, nbgrader's imports, and one sandboxed kernel per notebook of
the release, started in the sandbox as account ``primer-sandboxN``
(primer.grading.sandbox) with the release's own imports already done
(``warm_imports``: each in a namespace of its own, so the notebook still
imports every name it uses). Where the queue keeps a kernel zygote for a
notebook (``--zygotes``, primer.grading.kernel_zygote), its kernel is a fork of
that process, which did those imports once for every standby. Its judges are
forks of the queue's warm judges
(primer.grading.judge_zygote), whose request sockets it inherits (``--judges``,
in the order of ``unit.judge_plans``).

It prints ``ready`` and waits (at most ``--wait`` seconds) for one job line on
stdin: ``{"submission", "scratch", "result", "student", "log"}``. Then the
kernel gets that submission's files (``StandbyProvisioner.hand_over``: copied
into the read-only view, and by the kernel into its own tmpfs folder) and
``grade_one`` grades as a cold unit would. It exits after that one job.

No state passes from one student to the next: every kernel, and this process,
serves one submission; the queue then kills every process of the sandbox
account and wipes the standby's folder before the account is used again, and
the next student's standby runs under another account meanwhile.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import sys
import threading
from pathlib import Path

from traitlets import Integer

from primer.grading.kernel_zygote import ZygoteError, fork_kernel, placeholder_command, placeholder_pid
from primer.grading.sandbox import (SUBMISSION_VIEW, SandboxError, SandboxKernelSpecManager, SandboxProvisioner,
                                    _sandbox_identity, sandbox_environment)

STANDBY_FOLDER = "/run/primer-work"  # the kernel's own folder (a tmpfs) inside a warm sandbox
PROVISIONER_NAME = "primer-standby"  # entry point in pyproject.toml
_standby: dict[str, object] = {}  # notebook name -> its warm kernel's manager, until taken


class StandbyProvisioner(SandboxProvisioner):
    """The sandbox of primer.grading.sandbox, started before its submission is known: the kernel
    works in an empty tmpfs folder and its read-only view stays empty until ``hand_over``.

    With a kernel zygote (``zygote_fd``, primer.grading.kernel_zygote), the sandbox is started the
    same way but runs a placeholder, and the kernel is a fork of the zygote that enters it."""

    zygote_fd = Integer(-1, config=True, help="Request socket of this notebook's kernel zygote; -1: none.")
    _life: socket.socket | None = None  # the standby's end of the placeholder's socket
    _kernel_args: list[str] = []

    def _inside(self, kernel_cmd, submission: Path) -> list[str]:
        if self.zygote_fd < 0 or _sandbox_identity() is None or list(kernel_cmd[1:3]) != ["-m", "ipykernel_launcher"]:
            return super()._inside(kernel_cmd, submission)
        self._life, placeholder = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._life.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._placeholder_end = placeholder
        self._kernel_args = list(kernel_cmd[3:])
        self._submission = submission
        return placeholder_command(placeholder.fileno())

    async def pre_launch(self, **kwargs):
        kwargs = await super().pre_launch(**kwargs)
        if self._life is not None:
            kwargs["pass_fds"] = (self._placeholder_end.fileno(),)
        return kwargs

    async def launch_kernel(self, cmd, **kwargs):
        info = await super().launch_kernel(cmd, **kwargs)
        if self._life is None:
            return info
        self._placeholder_end.close()
        try:
            pid = placeholder_pid(self._life, timeout=60)
            identity = _sandbox_identity()
            fork_kernel(self.zygote_fd, {
                "pid": pid, "uid": identity[0], "gid": identity[1],
                "cgroup_procs": [str(g / "cgroup.procs") for g in (self._cgroup.groups if self._cgroup else [])],
                "rlimits": self.rlimits(identity), "environment": sandbox_environment(),
                "cwd": str(self._submission), "view": SUBMISSION_VIEW,
                "max_copied_file": self.max_copied_file, "kernel_args": self._kernel_args}, self._life)
        except (OSError, ZygoteError) as error:
            self._stop_kernel()
            self.process.wait()
            await self.cleanup()
            raise SandboxError(f"the warm kernel could not start: {error}") from error
        finally:
            self._life.close()
            self._life = None
        return info

    def _kernel_folder(self, kwargs) -> Path:
        return Path(STANDBY_FOLDER)

    def _fill_view(self, submission: Path, view: Path) -> None:
        view.mkdir()

    def hand_over(self, executor, folder: Path) -> None:
        """Give the kernel ``folder``'s files (never its notebooks); start the notebook's clock."""
        from primer.accounts import chown_tree

        view = self._workdir / "submission"  # empty, mounted read-only in the sandbox
        SandboxProvisioner._fill_view(self, folder, view)
        identity = _sandbox_identity()
        if identity:
            chown_tree(view, *identity)
        reply = _run(executor.kc, executor.wait_for_reply,
                     f"copy_in({SUBMISSION_VIEW!r}, {self.max_copied_file})")
        if reply is None or reply["content"].get("status") != "ok":
            raise SandboxError("the warm sandbox could not take the submission's files")
        executor.shutdown_kernel = "immediate"  # thrown away after: no graceful exit to wait for
        # The sandbox's own wall limit began when it was started ahead: this one begins now.
        timer = threading.Timer(executor.notebook_timeout, self._stop_kernel)
        timer.daemon = True
        timer.start()

    def _stop_kernel(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # `timeout`, the sandbox's outermost process: bwrap dies with it


class StandbyKernelSpecManager(SandboxKernelSpecManager):
    """Kernel specs as installed, each launched through ``StandbyProvisioner`` (forked from the
    kernel zygote on ``zygote_fd``, if one is given)."""

    zygote_fd = Integer(-1)

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        spec.metadata = {**spec.metadata, "kernel_provisioner": {
            "provisioner_name": PROVISIONER_NAME, "config": {"zygote_fd": self.zygote_fd}}}
        return spec


def _run(client, wait_for_reply, call: str):
    """Run ``primer.grading.sandbox_start.<call>`` in the kernel, binding no name there."""
    code = f"__import__('primer.grading.sandbox_start', fromlist=['x']).{call}"
    return wait_for_reply(client.execute(code, silent=True, store_history=False))


def take_standby_kernel(notebook: str | None):
    """The warm kernel started for ``notebook`` in this process, once; None: start a cold one."""
    return _standby.pop(notebook, None) if notebook else None


# --------------------------------------------------------------------------- the process

def start_kernels(release: Path, wait: float, zygotes: list[int]) -> None:
    """One warm kernel per notebook of the release, its imports done (forks of the queue's kernel
    zygotes, one request socket per notebook in order, where given)."""
    from traitlets.config.loader import PyFileConfigLoader

    from primer.grading.judge_client import judge_plan, read_release
    from primer.grading.unit import CONFIG

    config = PyFileConfigLoader(CONFIG, path=str(release)).load_config()
    notebook_timeout = config.get("SandboxedExecute", {}).get("notebook_timeout", 600)
    config.SandboxProvisioner.wall_seconds = int(wait + notebook_timeout + 60)

    for index, path in enumerate(sorted((release / "release").glob("*/*.ipynb"))):
        notebook = read_release(path)
        name = notebook.metadata.get("kernelspec", {}).get("name") or "python3"
        zygote = zygotes[index] if index < len(zygotes) else -1
        _standby[path.stem] = warm_kernel(name, config, judge_plan(notebook)["imports"], zygote)


def warm_kernel(name: str, config, imports: list[str], zygote_fd: int = -1):
    """A kernel in a standby sandbox, ``imports`` done: a fork of the kernel zygote on ``zygote_fd``
    if there is one and it forks, else a kernel of its own (said in the log)."""
    if zygote_fd >= 0:
        try:
            return _started_kernel(name, config, imports, zygote_fd)
        except Exception as error:  # noqa: BLE001 - the zygote is an optimisation: never a failure
            print(f"the kernel zygote gave no kernel ({error}): starting one of its own", file=sys.stderr)
    return _started_kernel(name, config, imports, -1)


def _started_kernel(name: str, config, imports: list[str], zygote_fd: int):
    from jupyter_core.utils import run_sync

    from primer.grading.sandbox import SandboxedKernelManager

    km = SandboxedKernelManager(kernel_name=name, config=config)
    km.kernel_spec_manager = StandbyKernelSpecManager(parent=km, zygote_fd=zygote_fd)
    run_sync(km.start_kernel)()
    client = km.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=120)
        km.provisioner.seal_sockets()
        run_sync(_warm_up)(client, imports)
    except BaseException:
        with contextlib.suppress(Exception):
            run_sync(km.shutdown_kernel)(now=True)
        raise
    finally:
        client.stop_channels()
    return km


async def _warm_up(client, imports: list[str]) -> None:
    msg_id = client.execute(f"__import__('primer.grading.sandbox_start', fromlist=['x'])"
                            f".warm_imports({imports!r})", silent=True, store_history=False)
    while True:
        reply = await client.get_shell_msg(timeout=300)
        if reply["parent_header"].get("msg_id") == msg_id:
            return


def shared_judges(release: Path, fds: list[int]) -> None:
    """The queue's warm judges for this release (their request sockets, inherited)."""
    import socket

    from primer.grading import judge_zygote
    from primer.grading.unit import judge_plans

    for plan, fd in zip(judge_plans(release), fds):
        judge = judge_zygote.WarmJudge.__new__(judge_zygote.WarmJudge)
        judge.requests = socket.socket(fileno=fd)
        judge.stderr_tail = lambda: "the queue's warm judge refused (its log is the queue's)"
        judge_zygote._warm[judge_zygote.plan_key(plan)] = judge


def stop_untaken() -> None:
    from jupyter_core.utils import run_sync

    for km in list(_standby.values()):
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the queue kills the account's processes anyway
            pass
    _standby.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True, type=Path)
    parser.add_argument("--slot", required=True, type=int, help="sandbox account primer-sandboxN")
    parser.add_argument("--judges", default="", help="request sockets of warm judges, in plan order")
    parser.add_argument("--zygotes", default="",
                        help="request sockets of kernel zygotes, one per notebook in name order")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for a job, then quit")
    args = parser.parse_args(argv)
    os.environ["PRIMER_SANDBOX_SLOT"] = str(args.slot)
    # stdout is the queue's pipe, for "ready" only: the kernels print to the log (stderr).
    to_queue = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import nbgrader.apps  # noqa: F401 - paid ahead, like the rest

    from primer.grading.unit import grade_one

    release = args.release.resolve()
    shared_judges(release, [int(fd) for fd in args.judges.split(",") if fd])
    try:
        start_kernels(release, args.wait, [int(fd) for fd in args.zygotes.split(",") if fd])
        print("ready", file=to_queue, flush=True)
        to_queue.close()
        if not select.select([sys.stdin], [], [], args.wait)[0]:
            return 0
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        job = json.loads(line)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        record = grade_one(release, Path(job["submission"]), Path(job["scratch"]),
                           Path(job["result"]), student=job["student"])
        print(json.dumps({"student": record["student"], "success": record["success"],
                          "graded": record["graded"]}), flush=True)
    finally:
        stop_untaken()
    sys.stderr.flush()
    os._exit(0)  # the result is written; the queue kills what is left of this standby anyway


if __name__ == "__main__":
    # The module's own copy, not __main__'s: SandboxedExecute takes its kernels from that one.
    from primer.grading.standby import main as standby_main

    sys.exit(standby_main())
