"""A hostile student against the course's exchange, with real Unix users on the real hub.

Each attacker is a real Unix account that writes into the hub's ``inbound/``
as itself (it may create entries there, as nbgrader's Submit does, but not
list it). The instructor then runs plain ``nbgrader collect`` as their own Unix
user with the course configuration, or the formgrader's route
(``NbGraderAPI.collect``). Every test checks three things: nothing the attacker
is not owed reaches ``submitted/``, the honest student is still collected, and
the instructor is told in words what was skipped.
"""
from __future__ import annotations

import datetime
import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from primer.accounts import ensure_user, user_environment

ASSIGNMENT = "01_prerequisites"
NOTEBOOK = "prerequisites.ipynb"
SOLUTION_MARK = "### BEGIN SOLUTION"  # only the instructor's source/ notebooks hold it
pytestmark = pytest.mark.hub


def utc_stamp(when: datetime.datetime | None = None) -> str:
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def run_as_user(name: str, argv: list[str], cwd, env=None, timeout: float = 120):
    entry = pwd.getpwnam(name)
    return subprocess.run(argv, cwd=cwd, user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=os.getgrouplist(entry.pw_name, entry.pw_gid),
                          env=user_environment(entry, env), capture_output=True, text=True,
                          timeout=timeout)


class Exchange:
    """The hub's exchange as its users see it, and the instructor's collect."""

    def __init__(self, hub):
        self.hub = hub
        self.inbound = hub.exchange / "primer" / "inbound"
        self.env = {"PRIMER_EXCHANGE_ROOT": str(hub.exchange),
                    "JUPYTER_CONFIG_PATH": str(hub.runtime / "etc" / "student")}
        self.made: list[Path] = []

    def as_student(self, student: str, code: str, *args: str) -> subprocess.CompletedProcess:
        """Run Python ``code`` as ``student``; sys.argv[1] is inbound/, then ``args``."""
        result = run_as_user(student, [sys.executable, "-c", textwrap.dedent(code),
                                       str(self.inbound), *args], cwd="/tmp", env=self.env)
        assert result.returncode == 0, result.stderr
        return result

    def hand_made(self, student: str, claimed: str, files: dict[str, str],
                  stamp: str | None = None) -> Path:
        """A submission folder ``student`` writes by hand, named for ``claimed``."""
        stamp = stamp or utc_stamp()
        name = f"{claimed}+{ASSIGNMENT}+{stamp}+hand"
        self.as_student(student, """
            import json, os, sys
            folder = os.path.join(sys.argv[1], sys.argv[2])
            os.mkdir(folder)
            for path, text in json.loads(sys.argv[3]).items():
                os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
                open(os.path.join(folder, path), "w").write(text)
        """, name, json.dumps({"timestamp.txt": stamp, **files}))
        self.made.append(self.inbound / name)
        return self.inbound / name

    def collect(self, folder: str, *args: str, timeout: float = 180) -> str:
        """Plain `nbgrader collect` as the instructor, into ``folder`` instead of submitted/."""
        result = run_as_user(self.hub.instructor, [
            sys.executable, "-m", "nbgrader", "collect", ASSIGNMENT, "--update",
            f"--CourseDirectory.submitted_directory={folder}", *args],
            cwd=self.hub.course, env={"PRIMER_EXCHANGE_ROOT": str(self.hub.exchange)},
            timeout=timeout)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"collect failed for the whole class:\n{output}"
        return output

    def cleanup(self) -> None:
        for path in self.made:
            if path.is_symlink() or path.is_file() or _is_fifo(path):
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)
        self.made.clear()


def _is_fifo(path: Path) -> bool:
    try:
        return (os.lstat(path).st_mode & 0o170000) == 0o010000
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def people(hub):
    """Three accounts of this module only: an honest student and two attackers."""
    names = {"honest": "pt-exch-honest", "mallory": "pt-exch-mallory", "eve": "pt-exch-eve"}
    for name in names.values():
        ensure_user(name)
        hub.extra_accounts.append(name)
    return names


@pytest.fixture(scope="module")
def honest_submission(hub, people):
    """The honest student fetches and submits with nbgrader's own commands and the hub's config."""
    exchange = Exchange(hub)
    home = pwd.getpwnam(people["honest"]).pw_dir
    for command in ("fetch_assignment", "submit"):
        result = run_as_user(people["honest"], [sys.executable, "-m", "nbgrader", command,
                                                ASSIGNMENT], cwd=home, env=exchange.env)
        assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = [p for p in exchange.inbound.iterdir()
                 if p.name.startswith(f"{people['honest']}+{ASSIGNMENT}+")]
    return folder


@pytest.fixture
def exchange(hub, honest_submission, request):
    exchange = Exchange(hub)
    folder = f"submitted-{request.node.name[:40]}"
    exchange.folder = folder
    yield exchange
    exchange.cleanup()
    shutil.rmtree(hub.course / folder, ignore_errors=True)


def collected(exchange: Exchange, student: str) -> Path:
    return exchange.hub.course / exchange.folder / student / ASSIGNMENT


def assert_honest_collected(exchange, people, honest_submission):
    got = collected(exchange, people["honest"])
    assert (got / NOTEBOOK).read_bytes() == (honest_submission / NOTEBOOK).read_bytes()
    assert (got / "timestamp.txt").read_text() == (honest_submission / "timestamp.txt").read_text()


def source_notebook(hub) -> Path:
    return hub.course / "source" / ASSIGNMENT / NOTEBOOK


# --------------------------------------------------------------------------- links

def test_links_to_the_instructors_files_are_never_collected(exchange, people, hub,
                                                            honest_submission):
    """Attack (a): a hand-made submission whose notebook links to the solutions."""
    mallory = people["mallory"]
    folder = exchange.hand_made(mallory, mallory, {"notes.txt": "mine"})
    secret = str(source_notebook(hub))
    exchange.as_student(mallory, """
        import os, sys
        folder, secret = sys.argv[2], sys.argv[3]
        os.symlink(secret, os.path.join(folder, "prerequisites.ipynb"))
        os.mkdir(os.path.join(folder, "data"))
        os.symlink(os.path.dirname(secret), os.path.join(folder, "data", "source"))
        os.symlink(secret, os.path.join(folder, "data", "copy.ipynb"))
    """, str(folder), secret)
    # The whole entry a link to the instructor's source/ folder, named for eve.
    link = exchange.inbound / f"{mallory}+{ASSIGNMENT}+{utc_stamp()}+link"
    exchange.as_student(mallory, "import os, sys; os.symlink(sys.argv[2], sys.argv[3])",
                        str(source_notebook(hub).parent), str(link))
    exchange.made.append(link)

    output = exchange.collect(exchange.folder)

    got = collected(exchange, mallory)
    assert sorted(str(p.relative_to(got)) for p in got.rglob("*")) == [
        "data", "notes.txt", "timestamp.txt"], output
    for path in (hub.course / exchange.folder).rglob("*"):
        assert path.is_symlink() or not path.is_file() or SOLUTION_MARK not in path.read_text(
            errors="replace"), f"{path} holds the instructor's solutions"
    assert output.count("is a symbolic link: never followed") == 3, output
    assert "is not a folder" in output and "+link" in output
    assert_honest_collected(exchange, people, honest_submission)


def test_a_symlinked_timestamp_is_a_half_written_entry(exchange, people, hub, honest_submission):
    mallory = people["mallory"]
    folder = exchange.hand_made(mallory, mallory, {NOTEBOOK: "{}"})
    exchange.as_student(mallory, """
        import os, sys
        os.remove(os.path.join(sys.argv[2], "timestamp.txt"))
        os.symlink(sys.argv[3], os.path.join(sys.argv[2], "timestamp.txt"))
    """, str(folder), str(hub.course / "nbgrader_config.py"))
    output = exchange.collect(exchange.folder)
    assert not collected(exchange, mallory).exists()
    assert "has no timestamp.txt of its own" in output
    assert_honest_collected(exchange, people, honest_submission)


def test_hard_links_to_instructor_files_are_refused(exchange, people, hub, honest_submission):
    mallory = people["mallory"]
    folder = exchange.hand_made(mallory, mallory, {"notes.txt": "mine"})
    # The kernel stops a student from hard-linking a file they cannot read and write...
    assert Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1"
    secret = hub.runtime / "instructor-secret.txt"  # same file system as inbound/
    secret.write_text(SOLUTION_MARK)
    instructor = pwd.getpwnam(hub.instructor)
    os.chown(secret, instructor.pw_uid, instructor.pw_gid)
    secret.chmod(0o600)
    result = run_as_user(mallory, [sys.executable, "-c", "import os, sys; os.link(*sys.argv[1:])",
                                   str(secret), str(folder / "stolen.txt")], cwd="/tmp")
    assert "PermissionError" in result.stderr
    # ...and where that protection is off (sysctl fs.protected_hardlinks=0), the owner check
    # still refuses the link: made here by root, as the kernel would have let the student.
    os.link(secret, folder / NOTEBOOK)
    output = exchange.collect(exchange.folder)
    got = collected(exchange, mallory)
    assert not (got / NOTEBOOK).exists()
    assert f"belongs to user {hub.instructor}, not to user {mallory}" in output
    assert_honest_collected(exchange, people, honest_submission)


# --------------------------------------------------------------------------- names and owners

def test_bad_names_and_forged_owners_do_not_stop_the_class(exchange, people, hub,
                                                           honest_submission):
    """Attack (b): names that do not parse, another student's name, '..', unknown accounts."""
    mallory, eve = people["mallory"], people["eve"]
    for name in (f"x+{ASSIGNMENT}+junk", f"{mallory}+{ASSIGNMENT}+not-a-time+r",
                 f"..+{ASSIGNMENT}+{utc_stamp()}+r", f"nobody-here+{ASSIGNMENT}+{utc_stamp()}+r",
                 f"{mallory}+{ASSIGNMENT}+9999-99-99 99:99:99 UTC+r"):
        exchange.as_student(mallory, "import os, sys; os.mkdir(os.path.join(*sys.argv[1:]))", name)
        exchange.made.append(exchange.inbound / name)
    # eve's "newer" submission, made by mallory: would replace eve's if trusted.
    exchange.hand_made(eve, eve, {NOTEBOOK: '{"real": "eve"}'})
    exchange.hand_made(mallory, eve, {NOTEBOOK: '{"forged": "by mallory"}'},
                       stamp=utc_stamp(datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(seconds=5)))

    output = exchange.collect(exchange.folder)

    assert (collected(exchange, eve) / NOTEBOOK).read_text() == '{"real": "eve"}'
    assert not (hub.course / ASSIGNMENT).exists(), "'..' must not write beside submitted/"
    assert not collected(exchange, mallory).exists()
    assert output.count("has no valid time in its name") == 3, output
    assert "names 'nobody-here', who has no account here" in output
    assert f"claims to be {eve}'s submission but belongs to user {mallory}" in output
    assert_honest_collected(exchange, people, honest_submission)


# --------------------------------------------------------------------------- special files and sizes

def test_fifos_huge_and_countless_files_are_skipped_quickly(exchange, people, hub,
                                                            honest_submission):
    mallory = people["mallory"]
    folder = exchange.hand_made(mallory, mallory, {"keep.txt": "kept"})
    exchange.as_student(mallory, """
        import os, sys
        folder = sys.argv[2]
        os.mkfifo(os.path.join(folder, "prerequisites.ipynb"))  # reading it would wait forever
        with open(os.path.join(folder, "huge.bin"), "wb") as sparse:
            sparse.truncate(3 * 1024 ** 3)  # 3 GB that take no disk space
        many = os.path.join(folder, "many")
        os.mkdir(many)
        for index in range(20_000):
            open(os.path.join(many, f"{index:05d}.txt"), "w").close()
    """, str(folder))
    started = time.monotonic()
    output = exchange.collect(exchange.folder, timeout=120)
    elapsed = time.monotonic() - started
    got = collected(exchange, mallory)
    assert (got / "keep.txt").read_text() == "kept"
    assert not (got / NOTEBOOK).exists() and not (got / "huge.bin").exists()
    assert len(list((got / "many").iterdir())) < 5_000
    assert "is not a regular file" in output
    assert "huge.bin is 3072.0 MB, over the size limit" in output
    assert "more than 5000 files and folders: the rest was not copied" in output
    assert elapsed < 60, f"collect took {elapsed:.0f} s"
    assert_honest_collected(exchange, people, honest_submission)


# --------------------------------------------------------------------------- times

def test_a_half_written_newer_entry_does_not_replace_a_complete_one(exchange, people, hub,
                                                                    honest_submission):
    eve = people["eve"]
    complete = exchange.hand_made(eve, eve, {NOTEBOOK: '{"complete": true}'})
    later = utc_stamp(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3))
    name = f"{eve}+{ASSIGNMENT}+{later}+writing"
    exchange.as_student(eve, """
        import os, sys
        folder = os.path.join(sys.argv[1], sys.argv[2])
        os.mkdir(folder)
        open(os.path.join(folder, "prerequisites.ipynb"), "w").write('{"half": true}')
    """, name)  # Submit writes timestamp.txt last: this one is still being written
    exchange.made.append(exchange.inbound / name)
    output = exchange.collect(exchange.folder, f"--student={eve}")
    got = collected(exchange, eve)
    assert (got / NOTEBOOK).read_text() == '{"complete": true}'
    assert (got / "timestamp.txt").read_text() == (complete / "timestamp.txt").read_text()
    assert "still being written" in output


def test_a_back_dated_submission_counts_when_it_was_written(exchange, people, hub):
    """A name and timestamp.txt claiming the year 2001 would dodge every late penalty."""
    mallory = people["mallory"]
    claimed = "2001-01-01 00:00:00.000000 UTC"
    exchange.hand_made(mallory, mallory, {NOTEBOOK: "{}"}, stamp=claimed)
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    output = exchange.collect(exchange.folder, f"--student={mallory}")
    from nbgrader.utils import parse_utc

    counted = parse_utc((collected(exchange, mallory) / "timestamp.txt").read_text())
    assert abs((counted - before).total_seconds()) < 120, counted
    assert "a back-dated submission" in output


# --------------------------------------------------------------------------- the formgrader's route

def test_the_formgraders_collect_is_just_as_safe(exchange, people, hub, honest_submission):
    """The Collect button calls NbGraderAPI.collect: same class, same course configuration."""
    mallory = people["mallory"]
    folder = exchange.hand_made(mallory, mallory, {})
    exchange.as_student(mallory, "import os, sys; os.symlink(sys.argv[3], sys.argv[2])",
                        str(folder / NOTEBOOK), str(source_notebook(hub)))
    exchange.as_student(mallory, "import os, sys; os.mkdir(os.path.join(*sys.argv[1:]))",
                        f"x+{ASSIGNMENT}+junk")
    exchange.made.append(exchange.inbound / f"x+{ASSIGNMENT}+junk")
    script = textwrap.dedent("""
        import json, sys
        from nbgrader.apps import NbGraderAPI
        from nbgrader.apps.baseapp import NbGrader
        app = NbGrader()
        app.initialize([f"--CourseDirectory.submitted_directory={sys.argv[1]}"])
        api = NbGraderAPI(app.coursedir, app.authenticator, parent=app)
        print(json.dumps(api.collect(sys.argv[2])))
    """)
    result = run_as_user(hub.instructor, [sys.executable, "-c", script, exchange.folder,
                                          ASSIGNMENT],
                         cwd=hub.course, env={"PRIMER_EXCHANGE_ROOT": str(hub.exchange)})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["success"], answer
    assert "is a symbolic link: never followed" in answer["log"]
    assert "has no valid time in its name ('junk')" in answer["log"]
    assert not (collected(exchange, mallory) / NOTEBOOK).exists()
    assert_honest_collected(exchange, people, honest_submission)
