"""Warm kernels: a release's imports done once, and each student's kernel a fork that enters a fresh sandbox.  [TRUSTED SIDE]

A kernel of ``01_prerequisites`` spends about 2 s of CPU importing nilearn,
nibabel, pandas and matplotlib before the student's first line runs; a warm
sandbox (primer.grading.standby) moves that before the submission, but 30
submissions in a minute still pay it 30 times on 2 cores. A *kernel zygote*
pays it once per release notebook:

    python -I -B -m primer.grading.kernel_zygote FD     (stdin: {"imports": [...]})

It runs as root, outside every sandbox, with the kernel's environment, the
release's import statements done (each in a namespace of its own, as in a warm
kernel) and no student code ever run in it. Its only door is the request
socket FD, which the grading queue holds and hands to its standbys; no kernel
ever holds it.

For each kernel, the standby starts the sandbox exactly as for a cold kernel
(primer.grading.sandbox: cgroup, account, limits, wall clock, bubblewrap's
namespaces and mounts), but what runs in it is a *placeholder* that says
"ready" over a socket and waits. The zygote is asked to fork; the fork:

1. drops root's supplementary groups and joins the sandbox's cgroup(s);
2. enters the placeholder's namespaces (cgroup, IPC, UTS, network, PID,
   mount) and its root folder, as ``nsenter`` does, staying in the host's
   user namespace, so that step 4 clears every capability;
3. forks again (to be inside the PID namespace), answers the standby and
   waits for that kernel, as ``nsenter`` does;
4. the kernel sets the sandbox's resource limits, empties the capability
   bounding set, changes to the sandbox account (every capability is then
   cleared), sets no-new-privileges, takes the sandbox's environment and
   folder, closes every inherited file but its output, reseeds its random
   generators and starts ipykernel in the already-warm interpreter.

The fork of step 3 waits for the kernel and alone holds the placeholder's
socket: when the kernel ends, it exits, the placeholder reads the socket's end
and exits, and bubblewrap then ends the sandbox, with whatever the kernel left
running, as it would for a cold kernel; killing the sandbox kills the kernel
with it. No state passes from one
student to the next: every kernel is a fresh copy-on-write fork of a process
no student's code ever reached, which it cannot see (its own PID namespace)
or signal (another account).
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
from pathlib import Path

from primer.grading.fork_server import ForkServer, requests

# The namespaces of a bubblewrap sandbox a kernel joins, the mount namespace last (its root then
# becomes the sandbox's). Not the user namespace: staying in the host's, the change of account
# clears every capability by the kernel's own rule.
NAMESPACES = ("cgroup", "ipc", "uts", "net", "pid", "mnt")
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38

# The placeholder, run in the sandbox as the sandbox account (python -I -S -c): says it is there
# (the standby learns its PID from the message's credentials), then waits until the kernel ends.
PLACEHOLDER = ("import socket,sys\n"
               "s=socket.socket(fileno=int(sys.argv[1]))\n"
               "s.send(b'ready')\n"
               "while s.recv(64):\n"
               "    pass\n")


class ZygoteError(RuntimeError):
    pass


# --------------------------------------------------------------------------- the zygote process

def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def enter_sandbox(request: dict, reply: int, life: int, stdout: int, stderr: int) -> None:
    """In the zygote's fork (root): steps 1-3 of the module's docstring, then wait for the kernel."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; the kernel must not inherit that
    libc = _libc()
    pid = request["pid"]
    # The placeholder is held alive by the life socket until the kernel is forked: its PID
    # names it until then. Open everything of it before changing anything of ours.
    if os.stat(f"/proc/{pid}").st_uid != request["uid"]:
        raise ZygoteError(f"process {pid} is not the sandbox account's placeholder")
    namespaces = [os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in NAMESPACES]
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    os.setgroups([])
    for procs in request["cgroup_procs"]:
        Path(procs).write_text(f"{os.getpid()}\n")
    for name, fd in zip(NAMESPACES, namespaces):
        _check(libc.setns(fd, 0), f"entering the sandbox's {name} namespace")
        os.close(fd)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)
    kernel = os.fork()
    if kernel == 0:
        try:
            os.close(reply)
            become_kernel(request, stdout, stderr)
        except BaseException as error:  # noqa: BLE001 - said in the standby's log, then gone
            os.write(stderr, f"the forked kernel could not start: {error!r}\n".encode())
        os._exit(1)
    # This process stays the kernel's parent (as nsenter does), so the kernel is never adopted
    # outside its sandbox, and it alone holds the placeholder's socket: when the kernel ends (its
    # own processes left behind or not) this process exits, the placeholder reads the end of its
    # socket and exits, and bubblewrap ends the sandbox with everything in it. The kernel can
    # neither see nor signal this process (another PID namespace, root).
    for fd in (stdout, stderr):
        os.close(fd)
    socket.send_fds(socket.socket(fileno=reply), [b"forked"], [])
    with contextlib.suppress(ChildProcessError):
        os.waitpid(kernel, 0)


def become_kernel(request: dict, stdout: int, stderr: int) -> None:
    """Step 4: the kernel, in its sandbox as its account; returns only if ipykernel does."""
    libc = _libc()
    os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    for fd, target in ((null, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    # Every file the zygote held (its request socket above all) is closed, and the placeholder's
    # socket too: a process the kernel leaves behind must not keep the sandbox alive.
    os.closerange(3, 65536)
    for name, value in request["rlimits"].items():
        number = getattr(resource, f"RLIMIT_{name.upper()}")
        resource.setrlimit(number, (value, value))
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):
        _check(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping capabilities")
    uid, gid = request["uid"], request["gid"]
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # from root to another account: every capability is cleared
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no-new-privileges")
    os.umask(0o022)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environment"], PWD=request["cwd"])  # PWD: as bubblewrap's --chdir sets it
    _fresh_process_state()
    from primer.grading.sandbox_start import copy_in

    copy_in(request["view"], request["max_copied_file"])
    from ipykernel import kernelapp

    sys.argv = ["ipykernel_launcher", *request["kernel_args"]]
    kernelapp.launch_new_instance(argv=request["kernel_args"])


def _fresh_process_state() -> None:
    """What a fork shares with its zygote and a fresh interpreter would not: random state and
    matplotlib's remembered folders (the zygote's own, outside the sandbox)."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    matplotlib = sys.modules.get("matplotlib")
    for name in ("get_configdir", "get_cachedir"):
        cached = getattr(matplotlib, name, None)
        with contextlib.suppress(AttributeError, ValueError, TypeError):
            cells = dict(zip(cached.__code__.co_freevars, cached.__closure__))
            cells["called"].cell_contents = False  # matplotlib's _logged_cached: ask again


def serve(listener: socket.socket) -> None:
    """Fork one kernel per request until the queue closes its end."""
    for message, fds in requests(listener):
        reply, life, stdout, stderr = fds
        try:
            request = json.loads(message)
            sys.stderr.flush()
            if os.fork() == 0:
                try:
                    listener.close()
                    enter_sandbox(request, reply, life, stdout, stderr)
                except BaseException as error:  # noqa: BLE001 - the standby reads why
                    with contextlib.suppress(OSError):
                        socket.send_fds(socket.socket(fileno=reply), [f"failed: {error!r}".encode()], [])
                os._exit(0)
        except (OSError, ValueError) as error:
            with contextlib.suppress(OSError):
                socket.send_fds(socket.socket(fileno=reply), [f"failed: {error!r}".encode()], [])
        finally:  # the fork holds its own copies; its answer goes straight to the standby
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def main() -> int:
    from primer.grading.sandbox_start import warm_imports

    listener = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # each fork waits for its kernel, then is reaped
    job = json.loads(sys.stdin.readline())
    warm_imports(job["imports"])
    import ipykernel.ipkernel  # noqa: F401 - the kernel's own imports, paid here too
    import ipykernel.kernelapp  # noqa: F401

    if _threads() != 1:  # a fork copies one thread only: a library's pool would be left locked
        print(f"the kernel zygote runs {_threads()} threads after its imports: it cannot fork "
              "kernels safely; the standbys start their kernels cold", file=sys.stderr)
        return 1
    serve(listener)
    return 0


# --------------------------------------------------------------------------- the queue's side

def zygote_environment(folder: str) -> dict:
    """The kernel's environment (primer.grading.sandbox), but homes in the zygote's own folder, and
    matplotlib's backend as ipykernel sets it before a kernel's first import."""
    from primer.grading.sandbox import sandbox_environment

    return {**sandbox_environment(), "HOME": folder, "MPLCONFIGDIR": folder, "IPYTHONDIR": folder,
            "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def release_imports(release: Path) -> list[list[str]]:
    """The import statements of each notebook of a grading release, in name order (as a standby
    starts its kernels)."""
    from primer.grading.judge_client import judge_plan, read_release

    return [judge_plan(read_release(path))["imports"] for path in sorted((release / "release").glob("*/*.ipynb"))]


class KernelZygote(ForkServer):
    """One kernel zygote for one release notebook's imports, kept by the grading queue."""

    def __init__(self, imports: list[str]):
        super().__init__(["-I", "-B", "-m", "primer.grading.kernel_zygote"], {"imports": imports},
                         zygote_environment, "primer-kernel-zygote-")


# --------------------------------------------------------------------------- the standby's side

def placeholder_command(fd: int) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", PLACEHOLDER, str(fd)]


def placeholder_pid(ours: socket.socket, timeout: float) -> int:
    """The placeholder's PID (as this process sees it), from its "ready" message's credentials."""
    if not select.select([ours], [], [], timeout)[0]:
        raise ZygoteError(f"the sandbox's placeholder did not start within {timeout:.0f} s")
    message, ancillary, _, _ = ours.recvmsg(64, socket.CMSG_SPACE(struct.calcsize("iII")))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and message == b"ready":
            return struct.unpack("iII", data)[0]
    raise ZygoteError("the sandbox's placeholder did not say it was ready")


def fork_kernel(requests_fd: int, request: dict, life: socket.socket, timeout: float = 60) -> None:
    """Ask the zygote on ``requests_fd`` to fork a kernel into the placeholder's sandbox."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    requests = socket.socket(fileno=os.dup(requests_fd))
    with ours, theirs, requests:
        socket.send_fds(requests, [json.dumps(request).encode()],
                        [theirs.fileno(), life.fileno(), sys.stdout.fileno(), sys.stderr.fileno()])
        theirs.close()
        # The zygote may still be importing: wait as long as a cold kernel's imports would take.
        if not select.select([ours], [], [], timeout)[0]:
            raise ZygoteError("the kernel zygote did not answer")
        answer = ours.recv(256)
    if answer != b"forked":
        raise ZygoteError(f"the kernel zygote could not fork a kernel: {answer.decode(errors='replace') or 'no answer'}")


if __name__ == "__main__":
    sys.exit(main())
