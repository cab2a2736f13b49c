"""Where the hub keeps its state, who is on it, and how it is run.

Everything is set through the environment so that one jupyterhub_config.py
serves the local demo (the defaults), a real workshop and the tests
(docs/workshop.md explains each setting):

==========================  ==========================================  ======================
variable                    meaning                                     default
==========================  ==========================================  ======================
PRIMER_RUNTIME              hub database, secrets, nbgrader exchange    /srv/primer
PRIMER_HUB_IP               address the hub listens on                  127.0.0.1
PRIMER_HUB_PORT             the proxy's public port; the hub's API,     8000
                            the proxy's API, the formgrader, the
                            grading queue and the students' overview
                            use the next five ports (+1 to +5) on
                            127.0.0.1
PRIMER_INSTRUCTORS          comma-separated instructor accounts (hub    demo-instructor
                            admins; the first owns the course)
PRIMER_GRADERS              comma-separated grader accounts (use the    (none)
                            formgrader, not hub admins)
PRIMER_STUDENTS             comma-separated student accounts            demo-student-1,-2,-3
PRIMER_ROSTER               CSV roster (username,role) read at start,   (none)
                            added to the three lists above
PRIMER_STUDENT_PASSWORD     the students' shared password (>= 8 chars)  generated once, saved
PRIMER_INSTRUCTOR_PASSWORD  password of instructors and graders         generated once, saved
                            (>= 32 chars)
PRIMER_AUTH                 shared-password, github, oidc or lti        shared-password
                            (primer/hub/auth.py lists their variables)
PRIMER_RELEASE              assignments released when the hub starts:   all
                            all, none, or a comma-separated list
PRIMER_SHARED_DATA          read-only data folder of every user         $PRIMER_RUNTIME/shared-data
                            (NILEARN_SHARED_DATA in every server)
PRIMER_IDLE_TIMEOUT         seconds after which an idle server is       3600
                            stopped (0: never)
PRIMER_MEM_LIMIT            memory of one user's server and kernels     2G
                            (e.g. 2G; 0: no limit)
PRIMER_CPU_LIMIT            CPUs of one user's server and kernels       1
                            (e.g. 1.5; 0: no limit)
PRIMER_HUB_DB_URL           the hub's database (SQLAlchemy URL)         sqlite in $PRIMER_RUNTIME/hub
PRIMER_GRADEBOOK_URL        nbgrader's gradebook (SQLAlchemy URL)       sqlite in the course directory
PRIMER_START_LIMIT          servers that start at once on this machine  2 per core
                            (the others wait their turn; 0: no limit)
PRIMER_KEEP_SERVERS         1: stopping the hub leaves users' servers   0
                            running (for restarts during a workshop)
PRIMER_SPAWNER              local: servers on this machine; slurm:      local
                            each server a Slurm job (batchspawner)
PRIMER_SLURM_PARTITION      slurm: partition of the servers' jobs       cluster default
PRIMER_SLURM_TIME           slurm: time limit of a server's job         8:00:00
                            (sbatch --time; the server ends with it)
PRIMER_SLURM_OPTIONS        slurm: more sbatch options, as on a shell   (none)
                            line (e.g. --account=neuro101 --qos=hub)
PRIMER_SLURM_HUB_IP         slurm: the hub's API address, as the        127.0.0.1
                            compute nodes reach it
PRIMER_SLURM_SERVER_IP      slurm: address a server listens on in its   127.0.0.1
                            job (0.0.0.0 on a real cluster)
==========================  ==========================================  ======================
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.traitlets import ByteSpecification
from traitlets import TraitError

from primer.hub.password_rules import check_password
from primer.roster import ROLES, read_people

DEFAULT_STUDENTS = "demo-student-1,demo-student-2,demo-student-3"
PASSWORD_VARIABLES = {"student": "PRIMER_STUDENT_PASSWORD", "instructor": "PRIMER_INSTRUCTOR_PASSWORD"}
# Instructors (and graders) are hub admins or see every student's work: a longer password.
PASSWORD_MIN_LENGTH = {"student": 8, "instructor": 32}


def _names(variable: str, default: str, required: bool = True) -> list[str]:
    names = [n.strip() for n in os.environ.get(variable, default).split(",") if n.strip()]
    if required and not names:
        raise ValueError(f"{variable} is empty: give at least one account name, e.g. {default}")
    return names


def read_roster(path: Path) -> dict[str, list[str]]:
    """Accounts by role from a CSV roster with the columns ``username`` and ``role``.

    ``role`` is student, grader or instructor (empty means student); other
    columns (names, e-mail, LMS ids: primer/roster.py) are allowed.
    """
    by_role: dict[str, list[str]] = {role: [] for role in ROLES}
    for person in read_people(path):
        by_role[person.role].append(person.username)
    return by_role


def _number(variable: str, default: str) -> float:
    value = os.environ.get(variable, default)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{variable}={value!r} is not a number") from None


def parse_memory(value: str) -> int:
    """'2G', '512M', '0' -> bytes, as JupyterHub reads Spawner.mem_limit (ByteSpecification)."""
    text = value.strip()
    try:  # ByteSpecification takes a number of bytes as an int, not as text
        return int(text) if text.isdigit() else ByteSpecification().validate(None, text)
    except TraitError:
        raise ValueError(f"PRIMER_MEM_LIMIT={value!r}: use e.g. 2G, 512M or 0 (no limit)") from None


def _unique(*groups) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for name in group:
            seen.setdefault(name, None)
    return tuple(seen)


@dataclass(frozen=True)
class HubRuntime:
    root: Path
    ip: str
    port: int
    instructors: tuple[str, ...]
    students: tuple[str, ...]
    graders: tuple[str, ...] = ()
    release: str = "all"
    auth: str = "shared-password"
    idle_timeout: int = 3600
    mem_limit: int = 2 * 1024**3
    cpu_limit: float = 1.0
    hub_db_url: str = ""
    gradebook_url: str = ""
    keep_servers: bool = False
    start_limit: int = 0
    shared_data_dir: str = ""
    spawner: str = "local"
    slurm_partition: str = ""
    slurm_time: str = "8:00:00"
    slurm_options: tuple[str, ...] = ()
    slurm_hub_ip: str = "127.0.0.1"
    slurm_server_ip: str = "127.0.0.1"

    @classmethod
    def from_environment(cls) -> "HubRuntime":
        port = os.environ.get("PRIMER_HUB_PORT", "8000")
        if not port.isdigit() or not 0 < int(port) < 65531:
            raise ValueError(f"PRIMER_HUB_PORT={port!r} is not a port number; use e.g. 8000")
        instructors = _names("PRIMER_INSTRUCTORS", "demo-instructor")
        graders = _names("PRIMER_GRADERS", "", required=False)
        students = _names("PRIMER_STUDENTS", DEFAULT_STUDENTS, required=False)
        if os.environ.get("PRIMER_ROSTER"):
            roster = read_roster(Path(os.environ["PRIMER_ROSTER"]))
            instructors += roster["instructor"]
            graders += roster["grader"]
            students += roster["student"]
        if not students:
            raise ValueError("PRIMER_STUDENTS is empty (and no PRIMER_ROSTER names students): "
                             f"give at least one account name, e.g. {DEFAULT_STUDENTS}")
        instructors = _unique(instructors)
        graders = tuple(n for n in _unique(graders) if n not in instructors)
        students = tuple(n for n in _unique(students) if n not in instructors + graders)
        auth = os.environ.get("PRIMER_AUTH", "shared-password").strip().lower()
        if auth not in ("shared-password", "github", "oidc", "lti"):
            raise ValueError(f"PRIMER_AUTH={auth!r}: use shared-password (default), github, oidc or lti")
        cpu = _number("PRIMER_CPU_LIMIT", "1")
        idle = _number("PRIMER_IDLE_TIMEOUT", "3600")
        start_limit = _number("PRIMER_START_LIMIT", str(2 * (os.cpu_count() or 1)))
        if cpu < 0 or idle < 0 or start_limit < 0:
            raise ValueError("PRIMER_CPU_LIMIT, PRIMER_IDLE_TIMEOUT and PRIMER_START_LIMIT cannot be negative")
        root = Path(os.environ.get("PRIMER_RUNTIME", "/srv/primer"))
        spawner = os.environ.get("PRIMER_SPAWNER", "local").strip().lower() or "local"
        if spawner not in ("local", "slurm"):
            raise ValueError(f"PRIMER_SPAWNER={spawner!r}: use local (default) or slurm")
        return cls(
            root=root,
            ip=os.environ.get("PRIMER_HUB_IP", "127.0.0.1"),
            port=int(port),
            instructors=instructors,
            students=students,
            graders=graders,
            release=os.environ.get("PRIMER_RELEASE", "all").strip() or "all",
            auth=auth,
            idle_timeout=int(idle),
            mem_limit=parse_memory(os.environ.get("PRIMER_MEM_LIMIT", "2G")),
            cpu_limit=cpu,
            hub_db_url=os.environ.get("PRIMER_HUB_DB_URL", ""),
            gradebook_url=os.environ.get("PRIMER_GRADEBOOK_URL", ""),
            keep_servers=os.environ.get("PRIMER_KEEP_SERVERS", "0") not in ("", "0", "false", "no"),
            start_limit=int(start_limit),
            shared_data_dir=os.environ.get("PRIMER_SHARED_DATA", ""),
            spawner=spawner,
            slurm_partition=os.environ.get("PRIMER_SLURM_PARTITION", "").strip(),
            slurm_time=os.environ.get("PRIMER_SLURM_TIME", "8:00:00").strip(),
            slurm_options=tuple(shlex.split(os.environ.get("PRIMER_SLURM_OPTIONS", ""))),
            slurm_hub_ip=os.environ.get("PRIMER_SLURM_HUB_IP", "127.0.0.1").strip(),
            slurm_server_ip=os.environ.get("PRIMER_SLURM_SERVER_IP", "127.0.0.1").strip(),
        )

    @property
    def staff(self) -> tuple[str, ...]:
        """Instructors and graders: the formgrader's users."""
        return self.instructors + self.graders

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def state(self) -> Path:
        """Hub database, cookie secret, proxy PID, passwords: root only."""
        return self.root / "hub"

    @property
    def jupyter_config(self) -> Path:
        """Per-role Jupyter settings every server reads (JUPYTER_CONFIG_PATH)."""
        return self.root / "etc"

    @property
    def shared_data(self) -> Path:
        return Path(self.shared_data_dir) if self.shared_data_dir else self.root / "shared-data"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def formgrader_port(self) -> int:
        return self.port + 3

    def assignments_to_release(self, available: list[str]) -> list[str]:
        if self.release == "all":
            return list(available)
        if self.release == "none":
            return []
        wanted = [n.strip() for n in self.release.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(available))
        if unknown:
            raise ValueError(f"PRIMER_RELEASE names unknown assignments {unknown}; "
                             f"the course has {', '.join(available)}")
        return wanted

    def make_folders(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.state.mkdir(exist_ok=True)
        self.state.chmod(0o700)
        self.exchange.mkdir(exist_ok=True)
        # nbgrader insists on a world-writable exchange root; the sticky bit stops
        # anyone from removing or renaming a folder that is not theirs.
        self.exchange.chmod(0o1777)

    def passwords(self, repo: Path) -> dict[str, str]:
        """The students' shared password and the instructors' (and graders') password.

        Taken from the environment when set; otherwise generated once and kept
        in a root-only file, so they stay the same across restarts. There is no
        built-in default password, and one that is empty, a comment, a
        placeholder or in ``repo``'s files is refused (password_rules.py).
        """
        given = {role: os.environ.get(variable) for role, variable in PASSWORD_VARIABLES.items()}
        for role, value in given.items():
            if value is not None:
                check_password(PASSWORD_VARIABLES[role], value, repo, PASSWORD_MIN_LENGTH[role])
        saved_file = self.state / "passwords.json"
        saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
        passwords = {
            "student": given["student"] or saved.get("student")
            or "-".join(secrets.token_hex(2) for _ in range(3)),
            "instructor": given["instructor"] or saved.get("instructor")
            or secrets.token_urlsafe(30),
        }
        if passwords["student"] == passwords["instructor"]:
            raise ValueError("PRIMER_STUDENT_PASSWORD and PRIMER_INSTRUCTOR_PASSWORD must differ")
        if passwords != saved:
            self.state.mkdir(parents=True, exist_ok=True)
            saved_file.touch(mode=0o600)
            saved_file.write_text(json.dumps(passwords))
        return passwords
