"""Who logged in through LTI, recorded for the grade export.

JupyterHub keeps an authenticator's ``auth_state`` only when its encryption
is set up (``enable_auth_state`` and ``JUPYTERHUB_CRYPT_KEY``), and then only
an admin's API token can read it back. The course does not need the token:
when ``PRIMER_AUTH=lti``, a ``post_auth_hook`` copies what the LMS says about
each person (the LTI 1.3 ID token that ltiauthenticator hands over as
``auth_state``) into ``$PRIMER_RUNTIME/lti-roster.csv``, in the course's
roster format (primer/roster.py), readable by root and the staff group only.
``primer export --roster /srv/primer/lti-roster.csv`` then fills the LMS
columns.

Read from the ID token (IMS LTI 1.3 Core, section 5.3):

==============  ==============================================================
column          claim
==============  ==============================================================
first_name      ``given_name``
last_name       ``family_name``
email           ``email``
lms_user_id     custom ``canvas_user_id`` (Canvas, when the tool's custom
                fields ask for ``$Canvas.user.id``), else ``sub`` (Moodle's
                user id; an opaque id on Canvas)
sis_user_id     ``lis`` claim's ``person_sourcedid``
sis_login_id    custom ``canvas_user_login_id`` ($Canvas.user.loginId), else
                the hub username
role            ``roles``: Instructor -> instructor, TeachingAssistant ->
                grader, anything else -> student
==============  ==============================================================
"""
from __future__ import annotations

import grp
import os
import threading
from dataclasses import replace
from pathlib import Path

from primer.roster import Person, read_people, write_people

ROSTER_FILE = "lti-roster.csv"
CLAIMS = "https://purl.imsglobal.org/spec/lti/claim/"
_lock = threading.Lock()  # the hub calls hooks on one loop; a thread pool may not


def person_from_claims(username: str, claims: dict) -> Person:
    custom = claims.get(CLAIMS + "custom") or {}
    roles = " ".join(claims.get(CLAIMS + "roles") or [])
    role = ("instructor" if "#Instructor" in roles
            else "grader" if "#TeachingAssistant" in roles else "student")
    return Person(
        username=username, role=role,
        first_name=str(claims.get("given_name") or ""), last_name=str(claims.get("family_name") or ""),
        email=str(claims.get("email") or ""),
        lms_user_id=str(custom.get("canvas_user_id") or claims.get("sub") or ""),
        sis_user_id=str((claims.get(CLAIMS + "lis") or {}).get("person_sourcedid") or ""),
        sis_login_id=str(custom.get("canvas_user_login_id") or username))


def record_login(path: Path, username: str, claims: dict, group: str | None = None) -> Person:
    """Add or update one person in the LTI roster file; return what was recorded."""
    person = person_from_claims(username, claims)
    with _lock:
        people = {p.username: p for p in (read_people(path) if path.exists() else [])}
        old = people.get(username)
        # A claim the LMS left out this time keeps what an earlier log-in gave.
        if old is not None:
            person = replace(person, **{k: v for k, v in vars(old).items() if not getattr(person, k)})
        people[username] = person
        write_people(path, sorted(people.values(), key=lambda p: p.username), mode=0o600)
        _share_with_staff(path, group)
    return person


def _share_with_staff(path: Path, group: str | None) -> None:
    """root:<staff group> 640 when we are root and the group exists; else private to us."""
    if group is None or os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)


def post_auth_hook(path: Path, group: str | None):
    """JupyterHub's ``Authenticator.post_auth_hook`` that records each LTI log-in."""
    def hook(authenticator, handler, authentication):
        claims = authentication.get("auth_state") or {}
        if claims:
            try:
                record_login(path, authentication["name"], claims, group)
            except (OSError, ValueError) as error:  # never block a log-in over the export's file
                authenticator.log.error("could not record %s in %s: %s", authentication["name"], path, error)
        return authentication
    return hook
