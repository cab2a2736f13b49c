"""The course hub on Kubernetes (Zero to JupyterHub 4.4.0): KubeSpawner settings from the local hub's sources.

deploy/kubernetes/hub/values.yaml's ``hub.extraConfig`` runs ``configure_kubernetes(c)``
after the chart's own configuration. It takes who is on the course, the
log-in method, the limits and the per-role Jupyter settings from the same
``PRIMER_*`` variables as the local hub (primer/hub/runtime.py, auth.py), and
the group and folder names from primer/hub/course_setup.py, so both hubs
serve the same course. What differs on Kubernetes:

* **one real UID per person**: ``UID_BASE`` + the person's id in the hub's
  database (unique, never reused, known before the pod starts); their
  personal group has the same number. The staff (instructors, graders and the
  grader account) also get the staff group ``STAFF_GID``, which owns the
  exchange's ``inbound/``, as on one machine.
* **accounts inside the pod**: the user image has no account for these UIDs;
  ``PRIMER_ACCOUNTS`` lists the ones a pod needs (students: their own; staff:
  everyone, since nbgrader's collect checks who owns each submission), for
  the image's start command (primer/hub/kubernetes_pod.py).
* **the formgrader runs in the server of the grader account**
  ``grader-<course>`` (``GRADER_USER``), which owns the course directory in
  its home volume; nobody logs in as it (refused after any log-in), instructors
  and graders open it at ``/user/grader-<course>/formgrader`` through a role.
  Its pod alone may run the grading Jobs (``primer autograde --backend kubernetes``).
"""
from __future__ import annotations

import os
from pathlib import Path

from kubespawner import KubeSpawner
from tornado.web import HTTPError
from traitlets import Dict

from primer.course import COURSE_ID
from primer.hub.auth import configure_authentication
from primer.hub.course_setup import STAFF_GROUP, STUDENT_GROUP, server_config_path
from primer.hub.kubernetes_pod import GRADING_CLAIM, GRADING_MOUNT, STAFF_GID, course_source
from primer.hub.runtime import PASSWORD_VARIABLES, HubRuntime

UID_BASE = 100_000  # above any account of the image or of the nodes
GRADER_USER = f"grader-{COURSE_ID}"
# May run the grading Jobs (deploy/kubernetes/hub/grading-rbac.yaml): the grader account's pod only.
GRADING_SERVICE_ACCOUNT = "primer-grader"


def person_uid(spawner) -> int:
    """KubeSpawner.uid, gid and fs_gid: one number per person, from the hub's database."""
    return UID_BASE + int(spawner.user.id)


def is_staff(user) -> bool:
    """Instructors (hub admins), graders (the staff group) and the grader account."""
    return bool(user.admin) or user.name == GRADER_USER or any(g.name == STAFF_GROUP for g in user.groups)


def staff_gids(spawner) -> list[int]:
    """KubeSpawner.supplemental_gids: the staff group reads submissions and writes feedback."""
    return [STAFF_GID] if is_staff(spawner.user) else []


class CourseKubeSpawner(KubeSpawner):
    """KubeSpawner with the course's per-role settings (as primer.hub.spawner.CourseSpawner does locally)."""

    config_paths = Dict(help="Role (student, staff) -> JUPYTER_CONFIG_PATH.").tag(config=True)

    @property
    def role(self) -> str:
        return "staff" if is_staff(self.user) else "student"

    def accounts(self) -> str:
        """PRIMER_ACCOUNTS: ``name:uid`` of the accounts this pod must know, space-separated."""
        if self.role == "student":
            people = [(self.user.name, self.user.id)]
        else:
            from jupyterhub import orm
            people = self.user.db.query(orm.User.name, orm.User.id).order_by(orm.User.id).all()
        return " ".join(f"{name}:{UID_BASE + int(number)}" for name, number in people)

    async def get_pod_manifest(self):
        if self.user.name == GRADER_USER:
            self.service_account = GRADING_SERVICE_ACCOUNT
            self.automount_service_account_token = True  # kubectl in its terminal
            self.volumes = {**self.volumes, "grading": {
                "name": "grading", "persistentVolumeClaim": {"claimName": GRADING_CLAIM}}}
            self.volume_mounts = {**self.volume_mounts, "grading": {
                "name": "grading", "mountPath": GRADING_MOUNT}}
        return await super().get_pod_manifest()

    def get_env(self):
        env = super().get_env()
        if self.role in self.config_paths:
            env["JUPYTER_CONFIG_PATH"] = self.config_paths[self.role]
        env["PRIMER_ACCOUNTS"] = self.accounts()
        env["PRIMER_STAFF_GID"] = str(STAFF_GID)
        if self.user.name == GRADER_USER:
            env["PRIMER_COURSE_OWNER"] = "1"
            env["PRIMER_NAMESPACE"] = self.namespace
            env["JUPYTERHUB_DEFAULT_URL"] = "/formgrader"
        return env


def refuse_grader_account(authenticator, handler, authentication: dict) -> dict:
    """Authenticator.post_auth_hook: nobody logs in as the grader account, whatever the log-in method."""
    if authentication["name"] == GRADER_USER:
        raise HTTPError(403, f"{GRADER_USER} is the course's grader account: log in with your own "
                             f"name and open /user/{GRADER_USER}/formgrader")
    return authentication


def formgrader_role(owner: str = GRADER_USER) -> dict:
    """Instructors and graders start and use the grader account's server; students cannot."""
    return {
        "name": f"formgrader-{COURSE_ID}",
        "description": f"open the formgrader of {COURSE_ID} in {owner}'s server",
        "groups": [STAFF_GROUP],
        "scopes": [f"access:servers!user={owner}", f"servers!user={owner}",
                   f"read:users!user={owner}"],
    }


def configure_kubernetes(c, repo: Path | None = None, runtime: HubRuntime | None = None) -> HubRuntime:
    """Apply the course's hub settings to the chart's configuration ``c`` (hub.extraConfig)."""
    repo = repo or course_source()
    runtime = runtime or HubRuntime.from_environment()
    if runtime.auth == "shared-password":
        missing = [v for v in PASSWORD_VARIABLES.values() if not os.environ.get(v)]
        if missing:  # a generated password would change with every new hub pod
            raise ValueError(f"set {', '.join(missing)} in the hub pod from a Secret "
                             "(docs/kubernetes.md, step 4)")
    configure_authentication(c, runtime, repo)
    # Not blocked_users: JupyterHub would take its roles, and its server's token would be powerless.
    c.Authenticator.post_auth_hook = refuse_grader_account

    c.JupyterHub.spawner_class = CourseKubeSpawner
    c.CourseKubeSpawner.config_paths = {role: server_config_path(runtime, role)
                                        for role in ("student", "staff")}
    c.KubeSpawner.uid = person_uid
    c.KubeSpawner.gid = person_uid
    c.KubeSpawner.fs_gid = person_uid  # the home volume belongs to the person's own group
    c.KubeSpawner.supplemental_gids = staff_gids
    c.KubeSpawner.allow_privilege_escalation = False
    c.KubeSpawner.container_security_context = {
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}
    c.KubeSpawner.mem_limit = runtime.mem_limit or None
    c.KubeSpawner.cpu_limit = runtime.cpu_limit or None
    c.KubeSpawner.default_url = "/lab"

    c.JupyterHub.load_groups = {
        STAFF_GROUP: {"users": [*runtime.staff, GRADER_USER]},
        STUDENT_GROUP: {"users": list(runtime.students)},
    }
    roles = c.JupyterHub.load_roles if isinstance(c.JupyterHub.load_roles, list) else []
    c.JupyterHub.load_roles = [r for r in roles if r.get("name") != formgrader_role()["name"]] + [
        formgrader_role()]
    return runtime
