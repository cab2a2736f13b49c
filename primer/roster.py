"""The course's roster: who is on it, in which role, and how an LMS knows them.

One CSV format serves the hub (PRIMER_ROSTER, ``primer.hub.roster``), the LTI
log-ins the hub records (``primer.hub.lti_roster``) and the grade export
(``primer export --roster``). The header line names the columns; only
``username`` is required::

    username,role,first_name,last_name,email,lms_user_id,sis_user_id,sis_login_id,section

* ``role``: student, grader or instructor (empty means student);
* ``lms_user_id``: the LMS's own user id (Canvas's "ID", Moodle's user id);
* ``sis_user_id``: the institution's student number (Canvas's "SIS User ID",
  Moodle's "ID number"); ``sis_login_id``: Canvas's "SIS Login ID";
* ``section``: Canvas's section name.

Other columns are ignored; names are lower-cased, as account names are.
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

ROLES = ("student", "grader", "instructor")


@dataclass(frozen=True)
class Person:
    username: str
    role: str = "student"
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


COLUMNS = [field.name for field in fields(Person)]


def read_people(path: Path) -> list[Person]:
    """Everyone in a CSV roster, in file order; a clear ValueError for a file that is not one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        raise ValueError(f"roster {path} not found (PRIMER_ROSTER)") from None
    if header and "username" not in header:
        raise ValueError(f"roster {path} has no 'username' column: the first line must be "
                         "a header such as `username,role`")
    people = []
    for number, row in enumerate(rows, start=2):
        values = {name: (row.get(name) or "").strip() for name in COLUMNS}
        values["username"] = values["username"].lower()
        values["role"] = values["role"].lower() or "student"
        if not values["username"]:
            continue
        if values["role"] not in ROLES:
            raise ValueError(f"{path}, line {number}: role {values['role']!r} is not one of "
                             f"{', '.join(ROLES)}")
        people.append(Person(**values))
    return people


def write_people(path: Path, people: list[Person], mode: int = 0o600) -> None:
    """Replace ``path`` with these people, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(asdict(person) for person in people)
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
