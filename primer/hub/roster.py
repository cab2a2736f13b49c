"""Add the people of a CSV roster to a running hub.

    sudo /path/to/venv/bin/python -m primer.hub.roster roster.csv

The roster has a header line and the columns ``username`` and ``role``
(student, grader or instructor; empty means student); other columns are
ignored. Each person becomes a hub user in the course's group
(nbgrader-primer for students, formgrade-primer for graders and instructors;
instructors are hub admins). Their Unix account, with a private home, is made
when their server first starts. Students log in with the students' shared
password, graders and instructors with the staff password.

The hub's API is reached at --url (default http://127.0.0.1:8001/hub/api, the
hub's port beside the default public 8000) with an admin's API token from
JUPYTERHUB_API_TOKEN (an instructor makes one on the hub's Token page).
The same file can be given to the hub at start with PRIMER_ROSTER=roster.csv.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from primer.hub.course_setup import STAFF_GROUP, STUDENT_GROUP
from primer.hub.runtime import read_roster
from primer.accounts import VALID_NAME


def plan(roster: dict[str, list[str]]) -> list[tuple[str, str, dict]]:
    """The hub API calls that add the roster: (method, path, body)."""
    bad = [n for names in roster.values() for n in names if not VALID_NAME.match(n)]
    if bad:
        raise ValueError(f"not usable as account names: {', '.join(bad)} (lower-case letters, "
                         "digits, '-' or '_', at most 31 characters, starting with a letter)")
    everyone = [n for names in roster.values() for n in names]
    calls: list[tuple[str, str, dict]] = []
    if everyone:
        calls.append(("POST", "/users", {"usernames": everyone, "admin": False}))
    for name in roster["instructor"]:
        calls.append(("PATCH", f"/users/{name}", {"admin": True}))
    staff = roster["instructor"] + roster["grader"]
    if staff:
        calls.append(("POST", f"/groups/{STAFF_GROUP}/users", {"users": staff}))
    if roster["student"]:
        calls.append(("POST", f"/groups/{STUDENT_GROUP}/users", {"users": roster["student"]}))
    return calls


def call(url: str, token: str, method: str, path: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(f"{url.rstrip('/')}{path}", method=method,
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primer.hub.roster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roster", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8001/hub/api")
    args = parser.parse_args(argv)
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        print("error: set JUPYTERHUB_API_TOKEN to an admin's API token (hub menu Token)",
              file=sys.stderr)
        return 1
    try:
        calls = plan(read_roster(args.roster))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = 0
    for method, path, body in calls:
        status, text = call(args.url, token, method, path, body)
        # 409: every user in the list exists already; that is fine on a second run
        if status == 409 and path == "/users":
            for name in body["usernames"]:
                call(args.url, token, "POST", "/users/" + name, {})
            continue
        if status >= 400:
            failed += 1
            print(f"error: {method} {path}: {status} {text[:300]}", file=sys.stderr)
    counts = read_roster(args.roster)
    print(f"roster added: {len(counts['student'])} students, {len(counts['grader'])} graders, "
          f"{len(counts['instructor'])} instructors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
