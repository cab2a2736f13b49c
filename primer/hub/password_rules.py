"""Passwords the hub refuses: empty, a comment or placeholder read as a value, short, or published.

An environment file is easy to misread: systemd's EnvironmentFile keeps text
after a value (``KEY=  # note``) as part of the value, and an example left
unedited carries its placeholder. Either would become a real password, and
one that is in the repository is public.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

PLACEHOLDER = re.compile(r"change.?me|replace.?me|placeholder|your.?password|^<.*>$|^x{3,}$|^todo\b",
                         re.IGNORECASE)
# Folders of a checkout that are not the repository's own files (no git to ask).
NOT_TRACKED = {".git", ".venv", "node_modules", "__pycache__", "autograded", "feedback", "submitted"}


def check_password(variable: str, value: str, repo: Path, min_length: int) -> None:
    """Raise ValueError, naming ``variable`` and the fix, if ``value`` must not be a password."""
    if not value.strip():
        raise ValueError(f"{variable} is set but empty: set a password, or remove the line "
                         "to have one generated and saved")
    stripped = value.strip()
    if stripped[0] in "#;" or re.search(r"\s[#;]", value):
        raise ValueError(f"{variable} looks like it holds a comment ({len(value)} characters): "
                         "systemd keeps text after a value as part of it, so put comments on "
                         "their own line")
    if PLACEHOLDER.search(stripped):
        raise ValueError(f"{variable} is still the example's placeholder: choose a password")
    if len(value) < min_length:
        raise ValueError(f"{variable} must be at least {min_length} characters long")
    published = file_containing(value, repo)
    if published is not None:
        raise ValueError(f"{variable} appears in {published} of the course repository, so it is "
                         "public: choose another password")


def file_containing(text: str, repo: Path) -> str | None:
    """The first of the repository's files (relative path) that contains ``text``, or None."""
    needle = text.encode()
    for path in repository_files(repo):
        try:
            if needle in (repo / path).read_bytes():
                return path
        except OSError:  # a folder (submodule) or a file removed since
            continue
    return None


def repository_files(repo: Path) -> list[str]:
    """The files git tracks in ``repo``; every file but run-time ones when it is not a clone."""
    try:
        listing = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True,
                                 check=True)
        return [name for name in listing.stdout.decode(errors="replace").split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for folder, dirs, files in os.walk(repo):
            dirs[:] = [d for d in dirs if d not in NOT_TRACKED]
            found += [os.path.relpath(os.path.join(folder, name), repo) for name in files]
        return found
