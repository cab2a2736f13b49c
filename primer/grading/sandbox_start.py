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
import shutil
import stat
import sys
from pathlib import Path


def copy_tree(source: Path, target: Path, *, max_file_bytes: int) -> None:
    # TODO(merge): primer.safecopy.copy_tree
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            copy_tree(Path(entry.path), target / entry.name, max_file_bytes=max_file_bytes)
        elif stat.S_ISREG(info.st_mode) and info.st_size <= max_file_bytes:
            shutil.copyfile(entry.path, target / entry.name, follow_symlinks=False)


def main(argv: list[str]) -> None:
    separator = argv.index("--")
    view, folder, max_file_bytes = argv[:separator]
    copy_tree(Path(view), Path(folder), max_file_bytes=int(max_file_bytes))
    kernel = argv[separator + 1:]
    os.execv(kernel[0], kernel)


if __name__ == "__main__":
    main(sys.argv[1:])
