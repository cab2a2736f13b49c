"""Where the hub keeps its state, who is on it, and the demo passwords.

Everything is set through the environment so that one jupyterhub_config.py
serves the local demo (the defaults), a real workshop and the tests:

=========================  ==========================================  ======================
variable                   meaning                                     default
=========================  ==========================================  ======================
PRIMER_RUNTIME             hub database, secrets, nbgrader exchange    /srv/primer
PRIMER_HUB_IP              address the hub listens on                  127.0.0.1
PRIMER_HUB_PORT            port of the hub (the proxy's public port)   8000
PRIMER_INSTRUCTORS         comma-separated instructor accounts         demo-instructor
PRIMER_STUDENTS            comma-separated student accounts            demo-student-1,-2,-3
PRIMER_STUDENT_PASSWORD    shared password of the students             generated once, saved
PRIMER_INSTRUCTOR_PASSWORD password of the instructors (>= 32 chars)   generated once, saved
=========================  ==========================================  ======================
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STUDENTS = "demo-student-1,demo-student-2,demo-student-3"


def _names(variable: str, default: str) -> list[str]:
    names = [n.strip() for n in os.environ.get(variable, default).split(",") if n.strip()]
    if not names:
        raise ValueError(f"{variable} is empty: give at least one account name, e.g. {default}")
    return names


@dataclass(frozen=True)
class HubRuntime:
    root: Path
    ip: str
    port: int
    instructors: tuple[str, ...]
    students: tuple[str, ...]

    @classmethod
    def from_environment(cls) -> "HubRuntime":
        port = os.environ.get("PRIMER_HUB_PORT", "8000")
        if not port.isdigit() or not 0 < int(port) < 65533:
            raise ValueError(f"PRIMER_HUB_PORT={port!r} is not a port number; use e.g. 8000")
        return cls(
            root=Path(os.environ.get("PRIMER_RUNTIME", "/srv/primer")),
            ip=os.environ.get("PRIMER_HUB_IP", "127.0.0.1"),
            port=int(port),
            instructors=tuple(_names("PRIMER_INSTRUCTORS", "demo-instructor")),
            students=tuple(_names("PRIMER_STUDENTS", DEFAULT_STUDENTS)),
        )

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def state(self) -> Path:
        """Hub database, cookie secret, proxy PID, passwords: root only."""
        return self.root / "hub"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def make_folders(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.state.mkdir(exist_ok=True)
        self.state.chmod(0o700)
        self.exchange.mkdir(exist_ok=True)
        # nbgrader insists on a world-writable exchange root; the sticky bit stops
        # anyone from removing or renaming a folder that is not theirs.
        self.exchange.chmod(0o1777)

    def passwords(self) -> dict[str, str]:
        """The students' shared password and the instructors' password.

        Taken from the environment when set; otherwise generated once and kept
        in a root-only file, so they stay the same across restarts.
        """
        saved_file = self.state / "passwords.json"
        saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
        passwords = {
            "student": os.environ.get("PRIMER_STUDENT_PASSWORD") or saved.get("student")
            or "-".join(secrets.token_hex(2) for _ in range(3)),
            "instructor": os.environ.get("PRIMER_INSTRUCTOR_PASSWORD") or saved.get("instructor")
            or secrets.token_urlsafe(30),
        }
        if len(passwords["student"]) < 8:
            raise ValueError("PRIMER_STUDENT_PASSWORD must be at least 8 characters long")
        if len(passwords["instructor"]) < 32:
            raise ValueError("PRIMER_INSTRUCTOR_PASSWORD must be at least 32 characters long "
                             "(instructors are hub admins)")
        if passwords != saved:
            self.state.mkdir(parents=True, exist_ok=True)
            saved_file.touch(mode=0o600)
            saved_file.write_text(json.dumps(passwords))
        return passwords
