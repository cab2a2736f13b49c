"""Run each submission's kernel in a bubblewrap sandbox while nbgrader grades it.

Plugged into nbgrader through the course's nbgrader_config.py, so plain
``nbgrader autograde``, the formgrader's button and ``primer autograde`` all
grade the same way. The kernel of a student's notebook

* sees only the system's programs (read-only), the course environment
  (read-only) and a scratch copy of its own submission folder: not source/,
  not the gradebook, not other students, not any home folder;
* has no network (its own network namespace; it talks to the grader over
  Unix sockets, ZeroMQ's ``ipc`` transport);
* runs as an unprivileged account (``primer-sandbox`` when grading as root);
* has limits on memory, processes, file size, open files and CPU time, and
  the grader caps each cell's wall time (nbgrader's ``Execute.timeout``), the
  notebook's wall time and the size of the output it keeps;
* lives in its own PID namespace: when the kernel goes, everything it started
  goes with it.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from primer.hub.unix import chown_tree

SANDBOX_ACCOUNT = "primer-sandbox"  # + the worker's slot number: primer-sandbox0, 1, ...
GIB = 1024 ** 3
MIB = 1024 ** 2


class SandboxError(RuntimeError):
    pass


def sandbox_account(slot: int | None = None) -> str:
    """The account of a grading worker's kernels.

    Each parallel worker has its own (PRIMER_SANDBOX_SLOT), so the process
    limit of one student's fork bomb never starves another student's kernel.
    """
    if slot is None:
        slot = int(os.environ.get("PRIMER_SANDBOX_SLOT", "0"))
    return f"{SANDBOX_ACCOUNT}{slot}"


def _sandbox_identity() -> tuple[int, int] | None:
    """The (uid, gid) kernels run as when we are root; None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    account = sandbox_account()
    try:
        entry = pwd.getpwnam(account)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", account], capture_output=True)
        entry = pwd.getpwnam(account)  # made now, or by a parallel worker a moment ago
    return entry.pw_uid, entry.pw_gid


def _system_binds() -> list[str]:
    """Read-only views of the operating system, nothing of its users' data."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # The course environment and the Python it was made from, wherever they live.
    for prefix in {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
        if not str(prefix).startswith("/usr/"):
            args += ["--ro-bind", str(prefix), str(prefix)]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), sys.prefix]
    return args


def _threads_of(uid: int) -> int:
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


def _copy_without_links(source: Path, target: Path, max_bytes: int) -> None:
    """Copy regular files and folders only: a link or a device in a submission is never followed."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        mode = entry.stat(follow_symlinks=False).st_mode
        destination = target / entry.name
        if stat.S_ISDIR(mode):
            _copy_without_links(Path(entry.path), destination, max_bytes)
        elif stat.S_ISREG(mode) and entry.stat(follow_symlinks=False).st_size <= max_bytes:
            shutil.copyfile(entry.path, destination, follow_symlinks=False)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside bubblewrap, with limits."""

    memory_limit = Integer(6 * GIB, config=True, help="Address space of the kernel, in bytes.")
    max_processes = Integer(256, config=True, help="Processes and threads of the sandbox account.")
    max_file_size = Integer(100 * MIB, config=True, help="Largest file the kernel may write, bytes.")
    max_cpu_seconds = Integer(900, config=True, help="CPU time of the kernel process, seconds.")
    max_copied_file = Integer(50 * MIB, config=True,
                              help="Larger files of a submission are not copied into its sandbox.")

    _workdir: tempfile.TemporaryDirectory | None = None

    async def _async_pre_start_kernel(self, **kw):
        self._workdir = tempfile.TemporaryDirectory(prefix="primer-sandbox-")
        work = Path(self._workdir.name)
        sockets, scratch = work / "sockets", work / "scratch"
        sockets.mkdir()
        submission = Path(kw.get("cwd") or os.getcwd()).resolve()
        _copy_without_links(submission, scratch, self.max_copied_file)
        identity = _sandbox_identity()
        if identity:
            work.chmod(0o711)
            chown_tree(sockets, *identity)
            chown_tree(scratch, *identity)
        # ZeroMQ over Unix sockets in a folder both sides see.
        self.transport = "ipc"
        self.ip = str(sockets / "kernel")
        self.connection_file = str(sockets / "connection.json")

        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        if identity:
            os.chown(self.connection_file, *identity)
        kw["cwd"] = str(work)
        kw["env"] = {"PATH": "/usr/bin:/bin"}
        return self._wrap(kernel_cmd, submission, scratch, sockets, identity), kw

    def _wrap(self, kernel_cmd, submission: Path, scratch: Path, sockets: Path, identity) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxError("bubblewrap is not installed: apt-get install bubblewrap "
                               "(scripts/bootstrap installs it as root)")
        venv_bin = str(Path(sys.prefix) / "bin")
        environment = {
            "PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": "/tmp/home", "LANG": "C.UTF-8",
            "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
            "NILEARN_DATA": "/tmp/nilearn_data", "PYTHONDONTWRITEBYTECODE": "1",
            # One thread per library: parallel graders on few cores would oversubscribe.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
        }
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-specific safety settings
            if name in os.environ:
                environment[name] = os.environ[name]
        drop = []
        if identity:
            drop = ["setpriv", f"--reuid={identity[0]}", f"--regid={identity[1]}", "--clear-groups",
                    "--inh-caps=-all", "--"]
        # RLIMIT_NPROC counts every thread of the account: a dedicated sandbox
        # account starts from zero, our own account (not root) from what it runs now.
        processes = self.max_processes + (0 if identity else _threads_of(os.getuid()))
        limits = ["prlimit", f"--as={self.memory_limit}", f"--nproc={processes}",
                  f"--fsize={self.max_file_size}", "--nofile=1024", "--core=0",
                  f"--cpu={self.max_cpu_seconds}", "--"]
        sandbox = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                   *_system_binds(),
                   "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                   "--dir", "/tmp/home", "--bind", str(scratch), str(submission),
                   "--bind", str(sockets), str(sockets), "--chdir", str(submission),
                   "--clearenv"]
        for name, value in environment.items():
            sandbox += ["--setenv", name, value]
        return [*drop, *limits, *sandbox, "--", *kernel_cmd]

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._workdir is not None and not restart:
            self._workdir.cleanup()
            self._workdir = None


class SandboxedExecute(Execute):
    """nbgrader's Execute, with sandboxed kernels, a notebook time limit and an output cap."""

    notebook_timeout = Integer(600, config=True,
                               help="Wall time for a whole notebook, seconds; then the kernel is killed.")
    max_output_bytes = Integer(200_000, config=True,
                               help="Output kept per cell; the rest is dropped with a note.")
    output_cut_note = Unicode(
        "\n[output cut: this cell printed more than {limit} characters]\n", config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self._output_sizes: dict[int, int] = {}

    def preprocess(self, nb, resources=None, km=None):
        self._output_sizes = {}
        timer = threading.Timer(self.notebook_timeout, self._kill_kernel)
        timer.daemon = True
        timer.start()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            timer.cancel()

    def _kill_kernel(self) -> None:
        self.log.error("The notebook ran past %d s: stopping its kernel", self.notebook_timeout)
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None and process.poll() is None:
            # bwrap's --die-with-parent and PID namespace take the kernel's children along.
            process.send_signal(signal.SIGKILL)

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of a cell's output."""
        content = msg.get("content", {})
        used = self._output_sizes.get(cell_index, 0)
        if used > self.max_output_bytes:
            return None
        if msg["header"]["msg_type"] == "stream":
            size = len(content.get("text", ""))
        else:
            size = sum(len(str(value)) for value in content.get("data", {}).values())
        self._output_sizes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            room = max(self.max_output_bytes - used, 0)
            note = self.output_cut_note.format(limit=self.max_output_bytes)
            self._output_sizes[cell_index] = self.max_output_bytes + 1
            self.log.warning("Cell %d printed more than %d characters: the rest was cut",
                             cell_index, self.max_output_bytes)
            text = content.get("text", "")[:room] if msg["header"]["msg_type"] == "stream" else ""
            msg = {**msg, "header": {**msg["header"], "msg_type": "stream"},
                   "content": {"name": "stderr" if not text else content.get("name", "stdout"),
                               "text": text + note}}
        return super().output(outs, msg, display_id, cell_index)
