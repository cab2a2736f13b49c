"""The hub's configuration, checked without starting it: authentication switches
(shared password, GitHub, OpenID Connect, LTI 1.3), the roster, secrets, databases.
"""
from __future__ import annotations

import json
import stat

import pytest
from traitlets.config import Config

from conftest import REPO
from primer.hub.auth import WorkshopAuthenticator
from primer.hub.config import configure
from primer.hub.roster import plan
from primer.hub.runtime import HubRuntime, read_roster


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("PRIMER_STUDENT_PASSWORD", "PRIMER_INSTRUCTOR_PASSWORD", "PRIMER_AUTH",
                 "PRIMER_ROSTER", "PRIMER_HUB_DB_URL", "PRIMER_GRADEBOOK_URL", "PRIMER_GRADERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIMER_RUNTIME", str(tmp_path / "runtime"))
    monkeypatch.setenv("PRIMER_HUB_PORT", "18000")
    monkeypatch.setenv("PRIMER_INSTRUCTORS", "cfg-nobody-instructor")
    monkeypatch.setenv("PRIMER_STUDENTS", "ada,alan")
    return monkeypatch


def configured() -> Config:
    c = Config()
    configure(c, repo=REPO, runtime=HubRuntime.from_environment())
    return c


def test_shared_password_by_default_generated_never_hard_coded(env, tmp_path):
    c = configured()
    assert c.JupyterHub.authenticator_class is WorkshopAuthenticator
    saved = tmp_path / "runtime" / "hub" / "passwords.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    first = json.loads(saved.read_text())
    assert c.WorkshopAuthenticator.user_password == first["student"]
    # another fresh hub gets other passwords: nothing is built in
    env.setenv("PRIMER_RUNTIME", str(tmp_path / "other"))
    other = configured()
    assert other.WorkshopAuthenticator.user_password != first["student"]
    assert other.WorkshopAuthenticator.admin_password != first["instructor"]


@pytest.mark.parametrize("variable, value, message", [
    ("PRIMER_STUDENT_PASSWORD", "short", "at least 8"),
    ("PRIMER_INSTRUCTOR_PASSWORD", "not-long-enough", "at least 32"),
    ("PRIMER_AUTH", "ldap", "PRIMER_AUTH='ldap'"),
    ("PRIMER_MEM_LIMIT", "lots", "PRIMER_MEM_LIMIT"),
    ("PRIMER_RELEASE", "99_missing", "unknown assignments"),
])
def test_bad_settings_are_refused_with_a_message(env, variable, value, message):
    env.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        runtime = HubRuntime.from_environment()
        configure(Config(), repo=REPO, runtime=runtime)
        runtime.assignments_to_release(["01_prerequisites"])


@pytest.mark.parametrize("method, missing", [
    ("github", "PRIMER_OAUTH_CLIENT_ID, PRIMER_OAUTH_CLIENT_SECRET, PRIMER_OAUTH_CALLBACK_URL"),
    ("oidc", "PRIMER_OIDC_AUTHORIZE_URL"),
    ("lti", "PRIMER_LTI_CLIENT_ID, PRIMER_LTI_ISSUER"),
])
def test_oauth_and_lti_need_their_settings(env, method, missing):
    env.setenv("PRIMER_AUTH", method)
    with pytest.raises(ValueError, match=missing):
        configured()


def test_github_switch(env):
    from oauthenticator.github import GitHubOAuthenticator
    env.setenv("PRIMER_AUTH", "github")
    env.setenv("PRIMER_OAUTH_CLIENT_ID", "client-id")
    env.setenv("PRIMER_OAUTH_CLIENT_SECRET", "client-secret")
    env.setenv("PRIMER_OAUTH_CALLBACK_URL", "https://hub.example.org/hub/oauth_callback")
    env.setenv("PRIMER_GITHUB_ORG", "synage-workshop")
    c = configured()
    assert c.JupyterHub.authenticator_class == "github"
    authenticator = GitHubOAuthenticator(config=c)
    assert authenticator.client_id == "client-id"
    assert authenticator.allowed_organizations == {"synage-workshop"}
    assert authenticator.allowed_users == {"ada", "alan", "cfg-nobody-instructor"}
    assert authenticator.admin_users == {"cfg-nobody-instructor"}
    env.setenv("PRIMER_OAUTH_CALLBACK_URL", "http://hub.example.org/hub/oauth_callback")
    with pytest.raises(ValueError, match="https://"):
        configured()


def test_oidc_switch(env):
    from oauthenticator.generic import GenericOAuthenticator
    env.setenv("PRIMER_AUTH", "oidc")
    for name, value in {
        "PRIMER_OAUTH_CLIENT_ID": "hub", "PRIMER_OAUTH_CLIENT_SECRET": "secret",
        "PRIMER_OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback",
        "PRIMER_OIDC_AUTHORIZE_URL": "https://id.example.org/auth",
        "PRIMER_OIDC_TOKEN_URL": "https://id.example.org/token",
        "PRIMER_OIDC_USERDATA_URL": "https://id.example.org/userinfo",
    }.items():
        env.setenv(name, value)
    c = configured()
    authenticator = GenericOAuthenticator(config=c)
    assert authenticator.token_url == "https://id.example.org/token"
    assert authenticator.username_claim == "preferred_username"


def test_lti_switch(env):
    from ltiauthenticator.lti13.auth import LTI13Authenticator
    env.setenv("PRIMER_AUTH", "lti")
    for name, value in {
        "PRIMER_LTI_CLIENT_ID": "lms-client", "PRIMER_LTI_ISSUER": "https://lms.example.org",
        "PRIMER_LTI_AUTHORIZE_URL": "https://lms.example.org/auth",
        "PRIMER_LTI_JWKS_URL": "https://lms.example.org/jwks",
    }.items():
        env.setenv(name, value)
    c = configured()
    assert c.JupyterHub.authenticator_class.endswith("LTI13Authenticator")
    authenticator = LTI13Authenticator(config=c)
    assert authenticator.client_id == {"lms-client"}
    assert authenticator.issuer == "https://lms.example.org"


def test_roster_is_read_and_turned_into_hub_calls(env, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("username,role,name\nmarie,student,Marie C\nhodgkin,,D H\n"
                      "grace,grader,G H\nemmy,instructor,E N\n")
    people = read_roster(roster)
    assert people == {"student": ["marie", "hodgkin"], "grader": ["grace"], "instructor": ["emmy"]}
    calls = plan(people)
    assert ("POST", "/groups/formgrade-primer/users", {"users": ["emmy", "grace"]}) in calls
    assert ("PATCH", "/users/emmy", {"admin": True}) in calls
    env.setenv("PRIMER_ROSTER", str(roster))
    runtime = HubRuntime.from_environment()
    assert runtime.students == ("ada", "alan", "marie", "hodgkin")
    assert runtime.graders == ("grace",)
    assert runtime.instructors == ("cfg-nobody-instructor", "emmy")
    roster.write_text("username,role\nx,teacher\n")
    with pytest.raises(ValueError, match="line 2: role 'teacher'"):
        read_roster(roster)


def test_databases_are_chosen_by_configuration(env, tmp_path):
    assert configured().JupyterHub.db_url.startswith("sqlite:///")
    env.setenv("PRIMER_HUB_DB_URL", "postgresql://hub@127.0.0.1:5432/hub")
    # the pinned driver is psycopg2 (SQLAlchemy 2.1 would look for psycopg 3)
    assert configured().JupyterHub.db_url == "postgresql+psycopg2://hub@127.0.0.1:5432/hub"
