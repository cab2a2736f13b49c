"""How people log in: a shared workshop password by default, OAuth (GitHub, OpenID Connect) or LTI 1.3.

``PRIMER_AUTH`` selects one; each needs the variables below, checked when the
hub starts (a missing one stops it with a message naming it). Whoever logs in,
the account lists (PRIMER_STUDENTS/GRADERS/INSTRUCTORS or PRIMER_ROSTER) decide
who may use the hub and in which role; each person gets a Unix account of that
name when their server first starts.

==================  ===========================================================
PRIMER_AUTH         variables
==================  ===========================================================
shared-password     PRIMER_STUDENT_PASSWORD, PRIMER_INSTRUCTOR_PASSWORD (both
  (default)         generated and saved when unset; see runtime.py)
github              PRIMER_OAUTH_CLIENT_ID, PRIMER_OAUTH_CLIENT_SECRET,
                    PRIMER_OAUTH_CALLBACK_URL (https://<hub>/hub/oauth_callback);
                    optional PRIMER_GITHUB_ORG (members of it may log in too)
oidc                PRIMER_OAUTH_CLIENT_ID, PRIMER_OAUTH_CLIENT_SECRET,
                    PRIMER_OAUTH_CALLBACK_URL, PRIMER_OIDC_AUTHORIZE_URL,
                    PRIMER_OIDC_TOKEN_URL, PRIMER_OIDC_USERDATA_URL; optional
                    PRIMER_OIDC_USERNAME_CLAIM (default preferred_username)
lti                 PRIMER_LTI_CLIENT_ID, PRIMER_LTI_ISSUER,
                    PRIMER_LTI_AUTHORIZE_URL, PRIMER_LTI_JWKS_URL; optional
                    PRIMER_LTI_USERNAME_KEY (default email; use a claim that
                    gives valid Unix names, e.g. a login id); each log-in's
                    names and LMS ids go to $PRIMER_RUNTIME/lti-roster.csv
                    for `primer export` (primer/hub/lti_roster.py)
==================  ===========================================================
"""
from __future__ import annotations

import os
from hmac import compare_digest
from pathlib import Path

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from traitlets import Set, Unicode

from primer.hub.course_setup import STAFF_GROUP
from primer.hub.lti_roster import ROSTER_FILE as LTI_ROSTER, post_auth_hook
from primer.hub.runtime import HubRuntime

REQUIRED = {
    "github": ["PRIMER_OAUTH_CLIENT_ID", "PRIMER_OAUTH_CLIENT_SECRET", "PRIMER_OAUTH_CALLBACK_URL"],
    "oidc": ["PRIMER_OAUTH_CLIENT_ID", "PRIMER_OAUTH_CLIENT_SECRET", "PRIMER_OAUTH_CALLBACK_URL",
             "PRIMER_OIDC_AUTHORIZE_URL", "PRIMER_OIDC_TOKEN_URL", "PRIMER_OIDC_USERDATA_URL"],
    "lti": ["PRIMER_LTI_CLIENT_ID", "PRIMER_LTI_ISSUER", "PRIMER_LTI_AUTHORIZE_URL",
            "PRIMER_LTI_JWKS_URL"],
}


class WorkshopAuthenticator(SharedPasswordAuthenticator):
    """Students share one password; the staff (instructors and graders) share another.

    Graders use the staff password but are not hub admins. JupyterHub's own
    SharedPasswordAuthenticator would let a grader in with the students'
    password, so anyone knowing a grader's name could open the formgrader.
    """

    staff_users = Set(help="Users who log in with the staff password (admins or not).").tag(config=True)
    staff_group = Unicode("formgrade-primer", help="Members of this hub group are staff too.").tag(config=True)

    def is_staff(self, handler, username: str) -> bool:
        if username in self.staff_users or username in self.admin_users:
            return True
        user = handler.find_user(username) if handler is not None else None
        return user is not None and (user.admin or any(g.name == self.staff_group for g in user.groups))

    async def authenticate(self, handler, data):
        username = self.normalize_username(data["username"])
        if self.is_staff(handler, username):
            if self.admin_password and compare_digest(data["password"], self.admin_password):
                return {"name": username, "admin": username in self.admin_users}
            return None
        return await super().authenticate(handler, data)


def _require(method: str) -> dict[str, str]:
    missing = [name for name in REQUIRED[method] if not os.environ.get(name)]
    if missing:
        raise ValueError(f"PRIMER_AUTH={method} needs {', '.join(missing)} "
                         "(docs/workshop.md, 'Logging in')")
    values = {name: os.environ[name] for name in REQUIRED[method]}
    for name, value in values.items():
        if name.endswith("_URL") and not value.startswith("https://"):
            raise ValueError(f"{name}={value!r} must be an https:// address")
    return values


def configure_authentication(c, runtime: HubRuntime, repo: Path) -> None:
    everyone = set(runtime.students) | set(runtime.staff)
    c.Authenticator.admin_users = set(runtime.instructors)
    c.Authenticator.allowed_users = everyone
    # Users an admin adds later (admin page, `python -m primer.hub.roster`) may log in too.
    c.Authenticator.allow_existing_users = True

    if runtime.auth == "shared-password":
        passwords = runtime.passwords(repo)
        c.JupyterHub.authenticator_class = WorkshopAuthenticator
        c.WorkshopAuthenticator.user_password = passwords["student"]
        # Only the staff password logs instructors and graders in, so the students'
        # shared password cannot be used to impersonate them.
        c.WorkshopAuthenticator.admin_password = passwords["instructor"]
        c.WorkshopAuthenticator.staff_users = set(runtime.staff)
        return

    values = _require(runtime.auth)
    if runtime.auth in ("github", "oidc"):
        section = c.GitHubOAuthenticator if runtime.auth == "github" else c.GenericOAuthenticator
        c.JupyterHub.authenticator_class = "github" if runtime.auth == "github" else "generic-oauth"
        section.client_id = values["PRIMER_OAUTH_CLIENT_ID"]
        section.client_secret = values["PRIMER_OAUTH_CLIENT_SECRET"]
        section.oauth_callback_url = values["PRIMER_OAUTH_CALLBACK_URL"]
        if runtime.auth == "github":
            if os.environ.get("PRIMER_GITHUB_ORG"):
                section.allowed_organizations = {os.environ["PRIMER_GITHUB_ORG"]}
        else:
            section.authorize_url = values["PRIMER_OIDC_AUTHORIZE_URL"]
            section.token_url = values["PRIMER_OIDC_TOKEN_URL"]
            section.userdata_url = values["PRIMER_OIDC_USERDATA_URL"]
            section.username_claim = os.environ.get("PRIMER_OIDC_USERNAME_CLAIM", "preferred_username")
            section.scope = ["openid", "profile", "email"]
    else:  # lti
        c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
        c.LTI13Authenticator.client_id = {values["PRIMER_LTI_CLIENT_ID"]}
        c.LTI13Authenticator.issuer = values["PRIMER_LTI_ISSUER"]
        c.LTI13Authenticator.authorize_url = values["PRIMER_LTI_AUTHORIZE_URL"]
        c.LTI13Authenticator.jwks_endpoint = values["PRIMER_LTI_JWKS_URL"]
        c.LTI13Authenticator.username_key = os.environ.get("PRIMER_LTI_USERNAME_KEY", "email")
        # Names, e-mail and LMS ids of each person, for `primer export` (primer/hub/lti_roster.py).
        c.LTI13Authenticator.post_auth_hook = post_auth_hook(runtime.root / LTI_ROSTER, STAFF_GROUP)
