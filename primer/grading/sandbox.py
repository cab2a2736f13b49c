"""Run each submission's kernel in a bubblewrap sandbox while nbgrader grades it.

Plugged into nbgrader through the course's nbgrader_config.py, so plain
``nbgrader autograde``, the formgrader's button and ``primer autograde`` all
grade the same way. The kernel of a student's notebook

* sees only the system's programs (read-only), the course environment
  (read-only) and its own copy of its submission folder: not source/, not the
  gradebook, not other students, not any home folder;
* has no network (its own network namespace; it talks to the grader over
  Unix sockets, ZeroMQ's ``ipc`` transport);
* runs as an unprivileged account (``primer-sandboxN`` when grading as root);
* cannot import anything from its own folder (``PYTHONSAFEPATH``: neither
  Python nor IPython puts the working folder on ``sys.path``), so a file
  submitted beside the notebook (``numpy.py``, ``primer/``,
  ``ipykernel_launcher.py``, ``sitecustomize.py``) never replaces the
  course's code or the kernel's launcher;
* has limits on address space, processes, file size, open files, CPU time and
  wall time (``timeout`` around the whole sandbox), and every place it can
  write is a size-capped tmpfs (its folder, /tmp, /dev/shm): the sandbox's
  own root and /dev are read-only, and (as root) the sockets folder is
  handed back to the grader once the kernel's sockets exist; as root the
  whole sandbox also sits in a memory cgroup, which counts tmpfs too;
* lives in its own PID namespace: when the kernel goes, everything it started
  goes with it.

The kernel command is wrapped by a jupyter_client kernel provisioner
(``SandboxProvisioner``, the public way to change how a kernel starts).
``SandboxedExecute`` adds the grader's side: a notebook time limit, caps on
the size of each output message and each reply (ZeroMQ's MAXMSGSIZE on the grader's
iopub and shell sockets, primer.grading.capped_client) and on
the output and number of messages of each cell, test cells whose rich outputs
are kept as plain text only (nbgrader pays full points for a test cell whose
first output is an ``execute_result``, whatever error follows), and tamper
checks around every test cell (primer.grading.kernel_guard).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.utils import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Type, Unicode, default

from primer.grading import cgroups
from primer.grading.capped_client import CappedKernelClient
from primer.grading.judge_client import JudgeFailed, JudgeProcess, judge_plan, read_release, verdict_outputs
from primer.safecopy import Limits, copy_tree
from primer.accounts import chown_tree

SANDBOX_ACCOUNT = "primer-sandbox"  # + the worker's slot number: primer-sandbox0, 1, ...
PROVISIONER_NAME = "primer-sandbox"  # entry point in pyproject.toml
SUBMISSION_VIEW = "/run/primer-submission"  # the submission folder, read-only, inside the sandbox
GIB = 1024 ** 3
MIB = 1024 ** 2


class SandboxError(RuntimeError):
    pass


# What happened while grading in this process (time limits, dead kernels, cut
# output), for primer autograde's workers to report without reading logs.
GRADING_EVENTS: list[str] = []
NO_MEMORY_CGROUP = "no-memory-cgroup"  # the sandbox ran without its cgroup (cgroups.create says why)


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


def sandbox_environment() -> dict[str, str]:
    """The whole environment of a kernel in the sandbox."""
    venv_bin = str(Path(sys.prefix) / "bin")
    environment = {
        "PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": "/tmp/home", "LANG": "C.UTF-8",
        "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
        "NILEARN_DATA": "/tmp/nilearn_data", "PYTHONDONTWRITEBYTECODE": "1",
        # The kernel's folder (the submission) is never importable: Python -m and
        # IPython both leave the working folder off sys.path; no user site either.
        "PYTHONSAFEPATH": "1", "PYTHONNOUSERSITE": "1",
        # One thread per library: parallel graders on few cores would oversubscribe.
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-specific safety settings
        if name in os.environ:
            environment[name] = os.environ[name]
    return environment


def _threads_of(uid: int) -> int:
    total = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        uids = process.info["uids"]
        if uids is not None and uids.real == uid:
            total += process.info["num_threads"] or 1
    return total


class SandboxKernelSpecManager(KernelSpecManager):
    """Kernel specs as installed, each launched through the sandbox provisioner."""

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME}}
        return spec


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start through ``SandboxProvisioner``, and whose clients
    refuse output messages larger than ``CappedKernelClient.max_message_bytes``."""

    client_factory = Type(CappedKernelClient, klass=AsyncKernelClient)

    @default("kernel_spec_manager")
    def _sandbox_kernel_specs(self):
        return SandboxKernelSpecManager(data_dir=self.data_dir, parent=self)


class SandboxProvisioner(LocalProvisioner):
    """Launch the kernel inside bubblewrap, with limits; clean everything up after."""

    memory_limit = Integer(6 * GIB, config=True,
                           help="Address space of each process, and (as root) memory of the "
                                "whole sandbox including its tmpfs files, in bytes.")
    max_processes = Integer(256, config=True, help="Processes and threads of the sandbox account.")
    max_file_size = Integer(100 * MIB, config=True, help="Largest file the kernel may write, bytes.")
    max_cpu_seconds = Integer(900, config=True, help="CPU time of the kernel process, seconds.")
    wall_seconds = Integer(660, config=True,
                           help="Wall time of the whole sandbox, seconds; then it is killed.")
    folder_size = Integer(512 * MIB, config=True,
                          help="Size of the kernel's own copy of the submission folder (tmpfs), bytes.")
    tmp_size = Integer(512 * MIB, config=True, help="Size of /tmp in the sandbox (tmpfs), bytes.")
    shm_size = Integer(64 * MIB, config=True, help="Size of /dev/shm in the sandbox (tmpfs), bytes.")
    max_copied_file = Integer(50 * MIB, config=True,
                              help="Larger files of a submission are not copied into its sandbox.")

    _workdir: Path | None = None
    _cgroup: cgroups.KernelCgroup | None = None

    async def pre_launch(self, **kwargs):
        km = self.parent
        self._workdir = Path(tempfile.mkdtemp(prefix="primer-sandbox-"))
        sockets = self._workdir / "sockets"
        sockets.mkdir()
        submission = self._kernel_folder(kwargs)
        identity = _sandbox_identity()
        view = self._workdir / "submission"
        self._fill_view(submission, view)
        if identity:
            self._workdir.chmod(0o711)
            os.chown(sockets, *identity)
            chown_tree(view, *identity)
        # ZeroMQ over Unix sockets in a folder both sides see.
        km.transport = "ipc"
        km.ip = str(sockets / "kernel")
        km.connection_file = str(sockets / "connection.json")
        kwargs = await super().pre_launch(**kwargs)
        if identity:
            os.chown(km.connection_file, *identity)
        kwargs["cmd"] = self._wrap(kwargs["cmd"], submission, view, sockets, identity)
        kwargs["cwd"] = str(self._workdir)
        kwargs["env"] = {"PATH": "/usr/bin:/bin"}
        return kwargs

    def _kernel_folder(self, kwargs) -> Path:
        """Where the kernel works inside the sandbox: the submission's own path."""
        return Path(kwargs.get("cwd") or os.getcwd()).resolve()

    def _fill_view(self, submission: Path, view: Path) -> None:
        """The course folder is private to its instructor: the sandbox account reads a copy
        (regular files and folders only), mounted read-only in the sandbox."""
        # Never the notebooks: the one being graded holds the hidden tests nbgrader put back.
        copy_tree(submission, view, limits=Limits(max_file_bytes=self.max_copied_file), ignore=["*.ipynb"])

    def _wrap(self, kernel_cmd, submission: Path, view: Path, sockets: Path, identity) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxError("bubblewrap is not installed: apt-get install bubblewrap "
                               "(scripts/bootstrap installs it as root)")
        environment = sandbox_environment()
        join_cgroup = self._memory_cgroup_prefix() if identity else []
        drop = []
        if identity:
            drop = ["setpriv", f"--reuid={identity[0]}", f"--regid={identity[1]}", "--clear-groups",
                    "--inh-caps=-all", "--"]
        limits = ["prlimit", *(f"--{name}={value}" for name, value in self.rlimits(identity).items()), "--"]
        wall = ["timeout", "--signal=KILL", str(self.wall_seconds)]
        # Order matters: a later mount hides what an earlier one put beneath it, so
        # /tmp comes first (a course or its venv may live under /tmp), and the
        # sandbox's own root and /dev are made read-only last: every place left
        # writable is a tmpfs with a size.
        sandbox = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                   "--size", str(self.tmp_size), "--tmpfs", "/tmp", "--dir", "/tmp/home",
                   *_system_binds(),
                   "--proc", "/proc", "--dev", "/dev",
                   "--size", str(self.shm_size), "--tmpfs", "/dev/shm",
                   "--ro-bind", str(view), SUBMISSION_VIEW,
                   "--size", str(self.folder_size), "--tmpfs", str(submission),
                   "--bind", str(sockets), str(sockets), "--chdir", str(submission),
                   "--remount-ro", "/dev", "--remount-ro", "/",
                   "--clearenv"]
        for name, value in environment.items():
            sandbox += ["--setenv", name, value]
        return [*join_cgroup, *drop, *limits, *wall, *sandbox, "--", *self._inside(kernel_cmd, submission)]

    def _inside(self, kernel_cmd, submission: Path) -> list[str]:
        """What runs in the sandbox: copy the submission into its tmpfs folder (links never
        followed), then the kernel."""
        return [sys.executable, "-m", "primer.grading.sandbox_start", SUBMISSION_VIEW, str(submission),
                str(self.max_copied_file), "--", *kernel_cmd]

    def rlimits(self, identity) -> dict[str, int]:
        """The kernel's resource limits, by prlimit's names."""
        # RLIMIT_NPROC counts every thread of the account: a dedicated sandbox
        # account starts from zero, our own account (not root) from what it runs now.
        processes = self.max_processes + (0 if identity else _threads_of(os.getuid()))
        return {"as": self.memory_limit, "nproc": processes, "fsize": self.max_file_size,
                "nofile": 1024, "core": 0, "cpu": self.max_cpu_seconds}

    def seal_sockets(self) -> None:
        """Once the kernel's sockets exist, take its folder back: the kernel cannot fill it.

        The folder is on the host's disk (both sides must see the sockets). As
        root it becomes the grader's, read-only to the sandbox account; the
        sockets already bound keep working. Running as ourselves, the kernel
        shares our uid and no such hand-over exists: only its tmpfs caps hold.
        """
        if self._workdir is None or os.geteuid() != 0:
            return
        sockets = self._workdir / "sockets"
        os.chown(sockets, 0, 0)
        sockets.chmod(0o755)

    def _memory_cgroup_prefix(self) -> list[str]:
        """As root: the sandbox joins a cgroup of its own (v1 or v2, primer/grading/cgroups.py)."""
        # pids: the account's processes and threads, plus the wrappers (timeout, bwrap, ...) run as root
        self._cgroup, why = cgroups.create(self.memory_limit, self.max_processes + 16)
        if self._cgroup is None:  # the tmpfs sizes and rlimits still hold; the summary says so
            self.log.warning("no memory cgroup for this kernel: %s", why)
            GRADING_EVENTS.append(NO_MEMORY_CGROUP)
            return []
        return self._cgroup.join_prefix()

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if restart:
            return
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


class SandboxedExecute(Execute):
    """nbgrader's Execute with sandboxed kernels, an output cap and tamper checks.

    Around every autograded test cell the grader runs its own checks (see
    primer.grading.kernel_guard) with fresh random tokens. A test cell whose
    checks do not come back as they must is failed with a
    ``GradingIntegrityError`` output (0 points), and every finding goes to
    ``resources["primer_integrity"]`` for primer.grading.integrity to record.
    """

    notebook_timeout = Integer(600, config=True,
                               help="Wall time for a whole notebook, seconds; then the kernel is killed.")
    max_output_bytes = Integer(200_000, config=True,
                               help="Output kept per cell; the rest is dropped with a note.")
    output_cut_note = Unicode(
        "\n[output cut: this cell printed more than {limit} characters]\n", config=True)
    # A cell that printed a lot has its reply in before all its output is read:
    # leave time to drain (and drop) the rest, even on a busy machine.
    iopub_timeout = Integer(30, allow_none=True, config=True,
                            help="Seconds to wait for a cell's remaining output after its reply.")
    judge_tests = Bool(True, config=True,
                       help="Run every autograded test cell in the judge, outside the student's "
                            "interpreter (primer.grading.judge); False: in the kernel, as nbgrader does.")
    max_messages = Integer(10_000, config=True,
                           help="Output messages kept per cell (prints are batched by the kernel: "
                                "honest cells send a few hundred at most); the rest are dropped.")
    max_error_chars = Integer(20_000, config=True,
                              help="Characters kept of an error's message and of its traceback.")
    # A message over the size cap is dropped with its connection, and what the kernel sent
    # meanwhile (the cell's end) is lost: nbgrader's raise_on_iopub_timeout (on) then fails
    # the notebook; if it is turned off, the cell ends with a note and an error the reply
    # reports is put back (see _check_raise_for_error).
    output_lost_note = Unicode(
        "\n[output lost: the kernel sent a message larger than the grader accepts, or its output "
        "did not all arrive]\n", config=True)
    tamper_checks = Bool(True, config=True,
                         help="Check, around every test cell, that the notebook's code did not "
                              "change how cells are run or judged.")

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self._output_sizes: dict[int, int] = {}
        self._message_counts: dict[int, int] = {}
        self._ended: set[int] = set()  # cells whose end (status idle) arrived
        # Widget state and output widgets would keep whatever the kernel sends, uncapped.
        self.store_widget_state = False
        self.comm_open_handlers = {}

    def create_kernel_manager(self):
        # A warm sandbox started ahead for this notebook (primer.grading.standby), if any.
        from primer.grading.standby import take_standby_kernel

        self.km = take_standby_kernel((self.resources.get("nbgrader") or {}).get("notebook"))
        return self.km or super().create_kernel_manager()

    def start_new_kernel_client(self):
        client = super().start_new_kernel_client()
        seal = getattr(self.km.provisioner, "seal_sockets", None)
        if seal is not None:  # the kernel is up: its sockets folder is the grader's again
            seal()
        hand_over = getattr(self.km.provisioner, "hand_over", None)
        if hand_over is not None:  # a warm sandbox: give it this submission's files now
            hand_over(self, Path(self.resources.get("metadata", {}).get("path") or os.getcwd()))
        return client

    @property
    def findings(self) -> dict:
        return self.resources.setdefault("primer_integrity", {"flags": [], "voided": [], "events": []})

    def preprocess(self, nb, resources=None, km=None):
        self._output_sizes = {}
        self._message_counts = {}
        self._installed = False
        self.config.SandboxProvisioner.wall_seconds = self.notebook_timeout
        self._judge_plan = self._release_judge_plan(resources)
        self._judge_process = None
        started = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        except Exception as error:
            if time.monotonic() - started >= self.notebook_timeout - 1:
                self.log.error("The notebook ran past %d s: its kernel was stopped", self.notebook_timeout)
                self._event("notebook-timeout")
            self._event(type(error).__name__)
            raise
        finally:
            self._stop_judge()

    def _event(self, event: str) -> None:
        self.findings["events"].append(event)
        GRADING_EVENTS.append(event)

    # -- tamper checks ----------------------------------------------------------
    # -- the judge: test cells outside the student's interpreter ------------------
    def _release_judge_plan(self, resources) -> dict | None:
        """What the judge needs, read from the release notebook (the trusted copy); None without one."""
        ids = (resources or {}).get("nbgrader")
        if not self.judge_tests or not ids or "assignment" not in ids or "notebook" not in ids:
            return None
        from primer.grading.integrity import course_directory

        coursedir = course_directory(self)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", ids["assignment"]))
        release_nb = read_release(release / f"{ids['notebook']}.ipynb")
        if release_nb is None:
            self.findings["flags"].append(
                f"{ids['notebook']}: graded inside the notebook's interpreter, without the judge: the "
                f"release notebook {release / (ids['notebook'] + '.ipynb')} is missing; a person must check "
                "the scores")
            return None
        return judge_plan(release_nb)

    def _judge_test(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", f"cell {index + 1}")
        try:
            self._start_judge()
            answer = self._judge_process.run_test(cell.source)
        except (JudgeFailed, OSError, ValueError) as error:
            self.log.error("%s: the judge failed: %s", grade_id, error)
            self._stop_judge()
            answer = {"status": "error", "ename": "GradingError", "grader_error": True,
                      "evalue": "the grader could not judge this test; a person will check it"}
            self._event("judge-failed")
        if answer.get("grader_error"):
            self.findings["flags"].append(f"{grade_id}: the grader could not judge this test "
                                          f"({answer.get('evalue', '')[:300]}): a person must check it")
        if answer.get("interrupt"):
            run_sync(self.km.interrupt_kernel)()
        cell.outputs = verdict_outputs(answer)
        return cell, resources

    def _start_judge(self) -> None:
        """Start the judge (it imports and loads the course's data while the notebook runs)."""
        if self._judge_process is None:
            self._judge_process = JudgeProcess(self._judge_plan, self.km.get_connection_info(),
                                               timeout=float(self.timeout or 120))

    def _stop_judge(self) -> None:
        if getattr(self, "_judge_process", None) is not None:
            self._judge_process.stop()
            self._judge_process = None

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if self.tamper_checks and not self._installed:
            self._run_check(index, "install", "Grading could not start its checks in this kernel")
            self._installed = True
            if self._judge_plan is not None:
                try:
                    self._start_judge()
                except OSError as error:  # tried again, and reported, at the first test
                    self.log.warning("the judge could not start yet: %s", error)
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution")):
            return super().preprocess_cell(cell, resources, index)
        grade_id = meta.get("grade_id", f"cell {index + 1}")
        before = self._run_check(index, "guard") if self.tamper_checks else None
        if self._judge_plan is not None:
            # The judge decides; what the in-kernel check saw only asks a person to look.
            if before is not None:
                self._flag_tampering(grade_id, before)
            return self._judge_test(cell, resources, index)
        cell, resources = super().preprocess_cell(cell, resources, index)
        if before is not None:
            error_token = secrets.token_hex(8)
            after = self._run_check(index, "canary", error_token=error_token)
            self._judge(cell, grade_id, before, after)
        return cell, resources

    def _flag_tampering(self, grade_id: str, before: dict) -> None:
        report = before["report"]
        if report is None:
            seen = "stopped the grader's own check from running"
        else:
            seen = _listed(report["changed"] + report["lost"]) if report["changed"] or report["lost"] else ""
            seen = f"changed {seen}" if seen else ""
        if seen:
            self.findings["flags"].append(
                f"{grade_id}: before this test, the notebook's code {seen} (the test was judged "
                "outside the notebook's interpreter; a person may want to look)")

    def _run_check(self, index: int, kind: str, fail_message: str | None = None,
                   error_token: str | None = None) -> dict:
        """Run one of kernel_guard's checks in a cell of the grader's own; its report or None."""
        token = secrets.token_hex(12)
        args = f"{token!r}" + (f", {error_token!r}" if error_token else "")
        check = NotebookNode(cell_type="code", source=(
            f"import primer.grading.kernel_guard as __primer_guard\n"
            f"__primer_guard.{kind}({args})"), metadata={}, outputs=[], execution_count=None, id="x")
        # nbclient puts the cell it ran at its index: put the notebook's own cell back,
        # and keep the check's output out of that cell's output cap.
        own_cell, used = self.nb.cells[index], self._output_sizes.pop(index, 0)
        try:
            self.execute_cell(check, index, store_history=False)
        finally:
            self.nb.cells[index] = own_cell
            self._output_sizes[index] = used
        report = None
        for output in check.outputs:
            if output.get("output_type") == "stream":
                for line in output.get("text", "").splitlines():
                    if line.startswith(token + " "):
                        report = json.loads(line[len(token) + 1:])
        failed_as_told = any(o.get("output_type") == "error" and o.get("ename") == "AssertionError"
                             and o.get("evalue") == error_token for o in check.outputs)
        if report is None and fail_message:
            raise SandboxError(fail_message)
        return {"report": report, "failed_as_told": failed_as_told}

    def _judge(self, cell, grade_id: str, before: dict, after: dict) -> None:
        flags, reasons = self.findings["flags"], []
        if before["report"] is None:
            reasons.append("the grader's check before this test did not run")
        else:
            if before["report"]["changed"]:
                flags.append(f"{grade_id}: before this test, the notebook's code had changed "
                             f"{_listed(before['report']['changed'])} (undone for the test)")
            if before["report"]["lost"]:
                reasons.append(f"{_listed(before['report']['lost'])}")
        if after["report"] is None or not after["failed_as_told"]:
            reasons.append("after this test, the grader's own failing check did not fail")
        elif after["report"]["changed"] or after["report"]["lost"]:
            reasons.append(f"running this test changed {_listed(after['report']['changed'] + after['report']['lost'])}")
        if reasons:
            message = (f"{grade_id}: this test's result cannot be trusted ({'; '.join(reasons)}): "
                       "0 points until a person checks it")
            flags.append(message)
            self.findings["voided"].append(grade_id)
            cell.outputs.append(NotebookNode(
                output_type="error", ename="GradingIntegrityError", evalue=message,
                traceback=[f"GradingIntegrityError: {message}"]))

    # -- output caps --------------------------------------------------------------
    def process_message(self, msg, cell, cell_index):
        """Drop a cell's messages past ``max_messages`` (its status still ends the cell), and
        updates of earlier displays (the first version of a display is kept)."""
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status" and msg.get("content", {}).get("execution_state") == "idle":
            self._ended.add(cell_index)
        if msg_type == "update_display_data":
            return None
        if msg_type not in ("status", "execute_input", "error"):
            count = self._message_counts.get(cell_index, 0) + 1
            self._message_counts[cell_index] = count
            if count > self.max_messages:
                if count == self.max_messages + 1:
                    self.log.warning("Cell %d sent more than %d messages: the rest were dropped",
                                     cell_index, self.max_messages)
                    self._event("output-cut")
                return None
        return super().process_message(msg, cell, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of a cell's output; in a test cell, keep rich
        outputs as plain text only; never drop an error."""
        msg_type = msg["header"]["msg_type"]
        if msg_type == "error":  # one error is enough to fail a cell: keep the first few
            if sum(1 for out in outs if out.get("output_type") == "error") >= 3:
                return None
            return super().output(outs, self._capped_error(msg), None, cell_index)
        if msg_type in ("execute_result", "display_data") and self._is_test_cell(cell_index):
            msg, display_id = _as_text(msg), None
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
            self._event("output-cut")
            text = content.get("text", "")[:room] if msg["header"]["msg_type"] == "stream" else ""
            msg = {**msg, "header": {**msg["header"], "msg_type": "stream"},
                   "content": {"name": "stderr" if not text else content.get("name", "stdout"),
                               "text": text + note}}
        return super().output(outs, msg, display_id, cell_index)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        """Note output that never arrived; put back an error the reply reports but whose
        message was lost (a cell without an error output earns points)."""
        ended = cell_index in self._ended
        self._ended.discard(cell_index)
        if exec_reply is not None and cell.cell_type == "code":
            if not ended:
                self.log.warning("Cell %d: its output did not all arrive", cell_index)
                self._event("output-cut")
                cell.outputs.append(NotebookNode(output_type="stream", name="stderr",
                                                 text=self.output_lost_note))
            content = exec_reply.get("content", {})
            if content.get("status") == "error" and not any(
                    o.get("output_type") == "error" for o in cell.outputs):
                error = self._capped_error({"content": content})["content"]
                cell.outputs.append(NotebookNode(output_type="error", ename=error["ename"],
                                                 evalue=error["evalue"], traceback=error["traceback"]))
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def _is_test_cell(self, cell_index: int) -> bool:
        """An autograded test cell of the notebook (the grader's own check cells never are)."""
        try:
            meta = self.nb.cells[cell_index].metadata.get("nbgrader", {})
        except (IndexError, AttributeError):
            return False
        return bool(meta.get("grade")) and not meta.get("solution")

    def _capped_error(self, msg):
        content = msg.get("content", {})
        limit, traceback = self.max_error_chars, []
        for line in content.get("traceback", [])[:200]:
            traceback.append(str(line)[:limit])
            limit -= len(traceback[-1])
            if limit <= 0:
                break
        limit = self.max_error_chars
        capped = {**content, "ename": str(content.get("ename", "Error"))[:200],
                  "evalue": str(content.get("evalue", ""))[:limit], "traceback": traceback}
        return {**msg, "content": capped}


def _as_text(msg):
    """A result or display of a test cell as stdout text: nbgrader gives points to a test
    cell whose first output is an ``execute_result`` (whatever error follows), and student
    code can send one from inside a test (a display hook, ``display()``)."""
    data = msg.get("content", {}).get("data", {})
    text = data.get("text/plain", "") if isinstance(data, dict) else ""
    text = "".join(text) if isinstance(text, list) else str(text)
    return {**msg, "msg_type": "stream", "header": {**msg["header"], "msg_type": "stream"},
            "content": {"name": "stdout", "text": text + "\n"}}


def _listed(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    shown = ", ".join(items[:4])
    return shown + (f" and {len(items) - 4} more" if len(items) > 4 else "")
