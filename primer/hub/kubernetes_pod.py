"""Inside a user's pod of the Kubernetes hub: ``python -m primer.hub.kubernetes_pod start COMMAND...``.

The user image (deploy/kubernetes/hub/Dockerfile.user) starts every server
with this command (``singleuser.cmd`` in values.yaml). It

* writes ``passwd`` and ``group`` files for the accounts the hub passed in
  ``PRIMER_ACCOUNTS`` (``name:uid ...``) and runs ``COMMAND`` with nss_wrapper
  reading them: the image has no account for the per-person UIDs, and nbgrader
  looks names up (its submit takes the student's name from the UID, its
  collect checks who owns each submission);
* in the grader account's server (``PRIMER_COURSE_OWNER=1``), first prepares
  the course as primer.hub.course_setup does for the local hub's course owner:
  the course directory from ``source/`` (never overwriting), its nbgrader
  settings with ``c.ClusterGrading`` for the grading Jobs, and the exchange's
  private ``inbound/``. As that account, without root.

The layout inside the pod is defined here; primer.hub.kubernetes (the hub
side) mounts and sets it accordingly.
"""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from primer.hub.course_setup import (COURSE_FOLDER, PERSONAL_CONFIG_HEADER, SERVER_NBGRADER_CONFIG,
                                     STAFF_GROUP, _copy_missing, _write_course_directory_config,
                                     course_config_file, prepare_exchange)
from primer.hub.runtime import HubRuntime

STAFF_GID = 99_000  # the staff's group: owns the exchange's inbound/, as on one machine
HOME = "/home/jovyan"  # where the chart mounts each person's volume
IMAGE_COURSE_SOURCE = "/srv/primer-course"  # the repository's files in both images (Dockerfiles)
NSS_FOLDER = "/tmp/primer-nss"
# The grader account grades with `primer autograde A --backend kubernetes` (docs/cluster.md) on
# this claim, mounted here in its pod only.
GRADING_CLAIM = "primer-grading"
GRADING_MOUNT = "/srv/primer/grading"


def course_source() -> Path:
    """The repository's files: in the images, or PRIMER_COURSE_SOURCE (a checkout, for tests)."""
    return Path(os.environ.get("PRIMER_COURSE_SOURCE", IMAGE_COURSE_SOURCE))


def nss_files(accounts: str, staff_gid: int, folder: Path) -> tuple[Path, Path]:
    """passwd and group files for nss_wrapper from PRIMER_ACCOUNTS (``name:uid ...``)."""
    folder.mkdir(parents=True, exist_ok=True)
    people = []
    for entry in accounts.split():
        name, _, uid = entry.partition(":")
        if not name or not uid.isdigit():
            raise ValueError(f"PRIMER_ACCOUNTS entry {entry!r} is not name:uid")
        people.append((name, int(uid)))
    passwd = folder / "passwd"
    group = folder / "group"
    passwd.write_text("".join(f"{name}:x:{uid}:{uid}::{HOME}:/bin/bash\n" for name, uid in people))
    # No members listed: who is in the staff group is the pod's supplementalGroups, set by the hub.
    group.write_text("".join(f"{name}:x:{uid}:\n" for name, uid in people)
                     + f"{STAFF_GROUP}:x:{staff_gid}:\n")
    return passwd, group


def grading_settings() -> str:
    """c.ClusterGrading for Jobs run from the grader account's pod: its image, namespace and UID."""
    return ("# grading Jobs: primer autograde A --backend kubernetes (docs/kubernetes.md)\n"
            f"c.ClusterGrading.image = {os.environ.get('JUPYTER_IMAGE', '')!r}\n"
            f"c.ClusterGrading.namespace = {os.environ.get('PRIMER_NAMESPACE', '')!r}\n"
            f"c.ClusterGrading.volume_claim = {GRADING_CLAIM!r}\n"
            f"c.ClusterGrading.run_folder = {GRADING_MOUNT!r}  # the claim's root: runs/<run> on it\n"
            f"c.ClusterGrading.run_as_user = {os.getuid()}\n")


def prepare_course_owner(runtime: HubRuntime, repo: Path, home: Path) -> Path:
    """The grader account's course directory and exchange, as course_setup does for the local owner.

    Runs as that account (no root): notebooks already there are never overwritten.
    """
    course = home / COURSE_FOLDER
    course.mkdir(exist_ok=True)
    _copy_missing(repo / "source", course / "source")
    _write_course_directory_config(course)
    course.chmod(0o700)
    config = home / ".jupyter" / "nbgrader_config.py"
    config.parent.mkdir(exist_ok=True)
    # Rewritten at every start while it is ours (as on the local hub): remove the first line to keep edits.
    if not config.exists() or config.read_text().startswith(PERSONAL_CONFIG_HEADER):
        config.write_text(SERVER_NBGRADER_CONFIG
                          + f"load_subconfig({str(course_config_file(runtime))!r})  # noqa: F821\n"
                          + f"c.CourseDirectory.root = {str(course)!r}\n"
                          + (f"c.CourseDirectory.db_url = {runtime.gradebook_url!r}\n"
                             if runtime.gradebook_url else "")
                          + grading_settings())
        config.chmod(0o600)
    prepare_exchange(runtime, pwd.getpwuid(os.getuid()))
    return course


def start(command: list[str]) -> None:
    """Give the pod its accounts, prepare the course if this is the grader account, run ``command``."""
    if not os.environ.get("PRIMER_ACCOUNTS"):
        sys.exit("PRIMER_ACCOUNTS is not set: this image's servers are started by the course hub "
                 "(deploy/kubernetes/hub/values.yaml, primer.hub.kubernetes)")
    staff_gid = int(os.environ.get("PRIMER_STAFF_GID", STAFF_GID))
    folder = Path(os.environ.get("PRIMER_NSS_FOLDER", NSS_FOLDER))
    passwd, group = nss_files(os.environ["PRIMER_ACCOUNTS"], staff_gid, folder)
    env = dict(os.environ, NSS_WRAPPER_PASSWD=str(passwd), NSS_WRAPPER_GROUP=str(group),
               LD_PRELOAD=os.environ.get("PRIMER_NSS_WRAPPER", "libnss_wrapper.so"))
    if os.environ.get("PRIMER_COURSE_OWNER") == "1":
        # nss_wrapper is read at process start: prepare the course in a child that has it.
        subprocess.run([sys.executable, "-m", "primer.hub.kubernetes_pod", "prepare-course"],
                       env=env, check=True)
    os.execvpe(command[0], command, env)


def main(argv: list[str]) -> None:
    if argv[:1] == ["start"] and len(argv) > 1:
        start(argv[1:])
    elif argv == ["prepare-course"]:
        course = prepare_course_owner(HubRuntime.from_environment(), course_source(), Path.home())
        print(f"the course is in {course}", file=sys.stderr)  # stdout belongs to the server
    else:
        sys.exit("usage: python -m primer.hub.kubernetes_pod start COMMAND... | prepare-course")


if __name__ == "__main__":
    main(sys.argv[1:])
