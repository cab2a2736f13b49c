"""The hub's configuration, checked without starting it: authentication switches
(shared password, GitHub, OpenID Connect, LTI 1.3), the roster, secrets, databases.
"""
from __future__ import annotations

import importlib.util
import json
import os
import stat

import pytest
from traitlets.config import Config

from conftest import REPO
from primer.hub.auth import WorkshopAuthenticator
from primer.hub.config import configure
from primer.hub.course_setup import course_config_file, write_server_config
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
    ("PRIMER_START_LIMIT", "-1", "cannot be negative"),
    ("PRIMER_START_LIMIT", "many", "PRIMER_START_LIMIT='many' is not a number"),
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
    # as written: SQLAlchemy 2.1 reads postgresql:// with psycopg 3, the pinned driver
    assert configured().JupyterHub.db_url == "postgresql://hub@127.0.0.1:5432/hub"
    from sqlalchemy import create_engine
    assert create_engine(configured().JupyterHub.db_url).dialect.driver == "psycopg"


@pytest.mark.parametrize("value, size", [("2G", 2 * 1024**3), ("512M", 512 * 1024**2),
                                         ("1.5G", int(1.5 * 1024**3)), ("1048576", 1024**2), ("0", 0)])
def test_memory_limits_are_read_as_jupyterhub_reads_them(env, value, size):
    env.setenv("PRIMER_MEM_LIMIT", value)
    assert HubRuntime.from_environment().mem_limit == size


def test_servers_start_a_few_at_a_time_and_may_wait_in_line(env):
    """All at once, 100 start-ups on 2 cores missed the hub's 120 s (primer/hub/start_queue.py)."""
    env.delenv("PRIMER_START_LIMIT", raising=False)
    c = configured()
    assert c.CourseSpawner.start_limit == 2 * os.cpu_count()
    # the wait in line counts towards start_timeout, the start-up itself to http_timeout
    assert c.CourseSpawner.start_timeout == 600 and c.Spawner.http_timeout == 120
    # nobody waiting in the line is turned away by JupyterHub's own throttle (test_hub_start_queue.py)
    assert c.JupyterHub.concurrent_spawn_limit == 0
    env.setenv("PRIMER_START_LIMIT", "0")
    c = configured()
    assert c.CourseSpawner.start_limit == 0
    assert "concurrent_spawn_limit" not in c.JupyterHub  # no line: JupyterHub's throttle stays
    assert "start_timeout" not in c.CourseSpawner and c.Spawner.start_timeout == 120


def test_servers_read_the_course_settings_from_one_fresh_copy(env, tmp_path):
    runtime = HubRuntime.from_environment()
    c = configured()
    write_server_config(runtime, REPO)
    copy = course_config_file(runtime)
    assert copy.read_text() == (REPO / "nbgrader_config.py").read_text()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o644  # every user's server reads it
    for role in ("student", "staff"):
        assert c.CourseServer.config_paths[role].split(":") == [
            str(runtime.jupyter_config / role), str(copy.parent)]


def test_nothing_is_put_on_the_servers_pythonpath(env):
    c = configured()
    assert "PYTHONPATH" not in c.Spawner.environment
    assert [s["name"] for s in c.JupyterHub.services if "PYTHONPATH" in s.get("environment", {})] == []
    # the slow optional import it used to hide is not installed at all (scripts/bootstrap)
    assert importlib.util.find_spec("rfc3987_syntax") is None
