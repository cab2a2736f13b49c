"""First step inside a grading sandbox: copy the submission into the kernel's own folder, then start it.

``python -m primer.grading.sandbox_start VIEW FOLDER MAX_FILE_BYTES -- KERNEL...``

VIEW is the submission folder, mounted read-only; FOLDER is a size-capped
tmpfs at the submission's own path, where the kernel works. Only regular
files and folders are copied (a link or device in a submission is never
followed), so whatever the kernel writes stays in memory the sandbox is
charged for and disappears with it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from primer.safecopy import Limits, copy_tree


def main(argv: list[str]) -> None:
    separator = argv.index("--")
    view, folder, max_file_bytes = argv[:separator]
    copy_tree(Path(view), Path(folder), limits=Limits(max_file_bytes=int(max_file_bytes)))
    kernel = argv[separator + 1:]
    os.execv(kernel[0], kernel)


if __name__ == "__main__":
    main(sys.argv[1:])


# ----------------------------------------------------------------- inside a warm sandbox's kernel
# primer.grading.standby calls these in the kernel, by an expression that binds no name in the
# notebook's namespace: before any student code runs there, and before a submission is known.

def warm_imports(statements: list[str]) -> None:
    """The release's own import statements, each in a namespace of its own: the libraries sit
    in sys.modules, and the notebook still has to import every name it uses."""
    for statement in statements:
        try:
            exec(statement, {})  # noqa: S102 - the release's own imports (trusted side)
        except BaseException:  # noqa: BLE001 - a failing import fails in the notebook too
            pass


def copy_in(view: str, max_file_bytes: int) -> None:
    """Hand-over: the submission's files (just put in the read-only VIEW) into the kernel's folder."""
    copy_tree(Path(view), Path.cwd(), limits=Limits(max_file_bytes=int(max_file_bytes)))
