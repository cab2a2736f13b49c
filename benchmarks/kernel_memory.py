"""Memory of a warm kernel: one started on its own against one forked from a kernel zygote.

    sudo .venv/bin/python benchmarks/kernel_memory.py [--assignments 01_prerequisites ...] [--kernels 4]
    (make bench-kernel-memory; BENCH_ARGS="..." passes options)

For each assignment, starts ``--kernels`` warm kernels of each kind side by side, as the grading
queue's standbys do (primer/grading/standby.py: sandboxed, as a sandbox account, the release's
imports done), and prints each kind's memory per kernel: resident (RSS), proportional (PSS: pages
shared by N processes count 1/N each) and unique (USS: what stopping it frees). A forked kernel
shares the pages of the imports with its zygote and its siblings; the zygote's own memory is
printed too (paid once per notebook of a release). Everything is stopped after.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psutil
from jupyter_core.utils import run_sync
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
SLOT = 94  # primer-sandbox94: this benchmark's own account
MIB = 1024 * 1024


def kernel_process(before: set[int]) -> psutil.Process:
    """The kernel just started: the largest new process of the sandbox account (made by the first
    kernel's start if it was not there)."""
    import pwd

    uid = pwd.getpwnam(f"primer-sandbox{SLOT}").pw_uid
    candidates = [p for p in psutil.process_iter(["uids", "cmdline"])
                  if p.info["uids"] and p.info["uids"].real == uid and p.pid not in before
                  and any("ipykernel" in part or "kernel_zygote" in part for part in p.info["cmdline"] or [])]
    return max(candidates, key=lambda p: p.memory_info().rss)


def memory(process: psutil.Process) -> tuple[float, float, float]:
    full = process.memory_full_info()
    return full.rss / MIB, full.pss / MIB, full.uss / MIB


def measure(assignment: str, count: int) -> None:
    from primer.grading.judge_client import judge_plan, read_release
    from primer.grading.kernel_zygote import KernelZygote
    from primer.grading.standby import warm_kernel

    notebook = sorted((REPO / "release" / assignment).glob("*.ipynb"))[0]
    imports = judge_plan(read_release(notebook))["imports"]
    zygote = KernelZygote(imports)
    rows = {}
    kernels = []
    try:
        for kind, fd in (("of its own", -1), ("forked", zygote.requests.fileno())):
            figures = []
            for _ in range(count):
                before = {p.pid for p in psutil.process_iter()}
                km = warm_kernel("python3", Config(), imports, fd)
                kernels.append(km)
                figures.append(kernel_process(before))
            rows[kind] = [memory(p) for p in figures]
        zygote_memory = memory(psutil.Process(zygote.process.pid))
    finally:
        for km in kernels:
            run_sync(km.shutdown_kernel)(now=True)
        zygote.stop()
    print(f"\n{assignment}: {count} warm kernels of each kind side by side, MiB per kernel (mean)")
    print(f"  {'kernel':<12} {'RSS':>8} {'PSS':>8} {'USS':>8}")
    for kind, values in rows.items():
        rss, pss, uss = (sum(v[i] for v in values) / len(values) for i in range(3))
        print(f"  {kind:<12} {rss:8.0f} {pss:8.0f} {uss:8.0f}")
    print(f"  {'the zygote':<12} {zygote_memory[0]:8.0f} {zygote_memory[1]:8.0f} {zygote_memory[2]:8.0f}"
          "   (once per notebook of a release)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignments", nargs="+", default=["00_setup", "01_prerequisites"])
    parser.add_argument("--kernels", type=int, default=4, help="kernels of each kind, side by side")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root: kernels run as a sandbox account of their own", file=sys.stderr)
        return 2
    os.environ["PRIMER_SANDBOX_SLOT"] = str(SLOT)
    for assignment in args.assignments:
        measure(assignment, args.kernels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
