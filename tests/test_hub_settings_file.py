"""deploy/primer-hub.env.example read exactly as systemd's EnvironmentFile= reads it.

systemd is not running on this machine (nor in CI), and `systemd-analyze` /
`systemctl show` cannot load an environment file without a service manager, so
``read_environment_file`` below follows systemd's own parser rule for rule
(src/basic/env-file.c, ``parse_env_file_internal``, v254+): comments only at
the start of a line (``#`` or ``;``); blanks around keys and before values
dropped; an unquoted value keeps everything up to the end of the line, ``#``
included, less its trailing blanks; single and double quotes; backslash
escapes and continued lines. The first test pins those rules on cases from
systemd's documentation.
"""
from __future__ import annotations

import os
import re
import secrets

import pytest
from traitlets.config import Config

from conftest import REPO
from primer.hub.config import configure
from primer.hub.password_rules import check_password
from primer.hub.runtime import HubRuntime

EXAMPLE = REPO / "deploy" / "primer-hub.env.example"
COMMENTS, WHITESPACE, NEWLINE, SHELL_NEED_ESCAPE = "#;", " \t\n\r", "\n\r", '"\\`$'
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read_environment_file(text: str) -> dict[str, str]:
    """The variables systemd sets from an EnvironmentFile= with this content."""
    variables: dict[str, str] = {}
    state, key, value = "pre_key", "", None
    key_blank_at = value_blank_at = None  # where trailing blanks start, as systemd tracks them

    def push(chomp: bool) -> None:
        name = key[:key_blank_at] if key_blank_at is not None else key
        text = value or ""
        if chomp and value_blank_at is not None:
            text = text[:value_blank_at]
        if VALID_NAME.match(name):  # systemd drops invalid names with a warning
            variables[name] = text

    for c in text:
        if state == "pre_key":
            if c in COMMENTS:
                state = "comment"
            elif c not in WHITESPACE:
                state, key, key_blank_at = "key", c, None
        elif state == "key":
            if c in NEWLINE:  # a line without '=' is ignored
                state, key = "pre_key", ""
            elif c == "=":
                state, value_blank_at = "pre_value", None
            else:
                if c not in WHITESPACE:
                    key_blank_at = None
                elif key_blank_at is None:
                    key_blank_at = len(key)
                key += c
        elif state == "pre_value":
            if c in NEWLINE:
                push(chomp=False)
                state, key, value = "pre_key", "", None
            elif c == "'":
                state = "single_quote"
            elif c == '"':
                state = "double_quote"
            elif c == "\\":
                state = "value_escape"
            elif c not in WHITESPACE:
                state, value = "value", (value or "") + c
        elif state == "value":
            if c in NEWLINE:
                push(chomp=True)
                state, key, value = "pre_key", "", None
            elif c == "\\":
                state, value_blank_at = "value_escape", None
            else:
                if c not in WHITESPACE:
                    value_blank_at = None
                elif value_blank_at is None:
                    value_blank_at = len(value or "")
                value = (value or "") + c
        elif state == "value_escape":
            state = "value"
            if c not in NEWLINE:  # an escaped newline is eaten up
                value = (value or "") + c
        elif state == "single_quote":
            if c == "'":
                state = "pre_value"
            else:
                value = (value or "") + c
        elif state == "double_quote":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_quote_escape"
            else:
                value = (value or "") + c
        elif state == "double_quote_escape":
            state = "double_quote"
            if c in SHELL_NEED_ESCAPE:
                value = (value or "") + c
            elif c != "\n":
                value = (value or "") + "\\" + c
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":
            state = "pre_key" if c in NEWLINE else "comment"
    if state in ("pre_value", "value", "value_escape", "single_quote", "double_quote",
                 "double_quote_escape"):
        push(chomp=state == "value")
    return variables


@pytest.mark.parametrize("text, expected", [
    ("A=1\n", {"A": "1"}),
    ("  A  =   spaced out   \n", {"A": "spaced out"}),
    ("A=value   # a note\n", {"A": "value   # a note"}),  # the bug of issue 10: kept whole
    ("A=          # a note\n", {"A": "# a note"}),
    ("# A=1\n; B=2\nC=3\n", {"C": "3"}),
    ("A=\n", {"A": ""}),
    ("A='single # quoted'\nB=\"double \\\"q\\\" \\n\"\n", {"A": "single # quoted", "B": 'double "q" \\n'}),
    ("A=one\\\ntwo\n", {"A": "onetwo"}),
    ("no equals sign\nA=1", {"A": "1"}),
    ("A=1\nA=2\n", {"A": "2"}),
    ("BAD-NAME=1\n", {}),
])
def test_the_reader_follows_systemds_rules(text, expected):
    assert read_environment_file(text) == expected


# What the example's comments say each variable is, and nothing else.
EXAMPLE_SAYS = {
    "PRIMER_RUNTIME": "/srv/primer",
    "PRIMER_HUB_IP": "127.0.0.1",
    "PRIMER_HUB_PORT": "8000",
    "PRIMER_INSTRUCTORS": "alice",
    "PRIMER_GRADERS": "",
    "PRIMER_STUDENTS": "",
    "PRIMER_ROSTER": "/etc/primer-roster.csv",
    "PRIMER_STUDENT_PASSWORD": "change-me-in-the-room",  # a placeholder the hub refuses
    "PRIMER_RELEASE": "00_setup",
    "PRIMER_MEM_LIMIT": "2G",
    "PRIMER_CPU_LIMIT": "1",
    "PRIMER_IDLE_TIMEOUT": "3600",
    "PRIMER_KEEP_SERVERS": "1",
}


def test_every_variable_of_the_example_is_what_its_comments_say():
    text = EXAMPLE.read_text()
    assert read_environment_file(text) == EXAMPLE_SAYS
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            assert "#" not in line, f"{EXAMPLE.name}:{number}: a comment after a value: {line!r}"


@pytest.fixture
def example_environment(monkeypatch, tmp_path):
    """The unedited example in the environment; only where the hub keeps files is moved."""
    for name in list(os.environ):
        if name.startswith("PRIMER_"):
            monkeypatch.delenv(name)
    for name, value in read_environment_file(EXAMPLE.read_text()).items():
        monkeypatch.setenv(name, value)
    roster = tmp_path / "roster.csv"
    roster.write_text("username,role\nada,student\n")
    monkeypatch.setenv("PRIMER_RUNTIME", str(tmp_path / "runtime"))
    monkeypatch.setenv("PRIMER_ROSTER", str(roster))
    return monkeypatch


def test_an_unedited_example_does_not_start_the_hub(example_environment):
    runtime = HubRuntime.from_environment()
    with pytest.raises(ValueError, match="PRIMER_STUDENT_PASSWORD is still the example's placeholder"):
        configure(Config(), repo=REPO, runtime=runtime)
    assert not (runtime.state / "passwords.json").exists()
    # with a password of its own, the same file starts the hub
    example_environment.setenv("PRIMER_STUDENT_PASSWORD", secrets.token_urlsafe(12))
    c = Config()
    configure(c, repo=REPO, runtime=HubRuntime.from_environment())
    assert len(c.WorkshopAuthenticator.admin_password) >= 32  # generated: the example leaves it out


@pytest.mark.parametrize("value, refusal", [
    ("", "is set but empty"),
    ("   ", "is set but empty"),
    ("# >= 32 characters; empty: generated and saved", "looks like it holds a comment"),
    ("a-real-password   # the old example's note", "looks like it holds a comment"),
    ("only-twenty-chars-ok", "at least 32 characters"),
    ("changeme-changeme-changeme-changeme", "placeholder"),
    ("<the staff password, 32 characters or more>", "placeholder"),
    ("primer.grading.sandbox.SandboxedExecute", "of the course repository, so it is public"),
])
def test_passwords_that_cannot_be_meant_are_refused(value, refusal):
    with pytest.raises(ValueError, match=re.escape(refusal)):
        check_password("PRIMER_INSTRUCTOR_PASSWORD", value, REPO, min_length=32)


def test_a_chosen_password_is_accepted():
    check_password("PRIMER_INSTRUCTOR_PASSWORD", secrets.token_urlsafe(32), REPO, min_length=32)
