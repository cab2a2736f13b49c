"""export_grades: an LMS CSV and a per-question breakdown from a real autograded gradebook."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import REPO
from grading_fixtures import ASSIGNMENT, NOTEBOOK, answered, tiny_course, write_submission
from primer.grading.export import BREAKDOWN_COLUMNS, LMS_COLUMNS, ExportError, export_grades, main


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """alice: a hidden test failed; bob: everything right, written answer graded by hand;
    carol: in the gradebook but submitted nothing."""
    course = tiny_course(tmp_path_factory.mktemp("course"))
    release = nbformat.read(course.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    write_submission(course.root / "submitted" / "alice" / ASSIGNMENT,
                     answered(release, square="return x * abs(x)"))
    write_submission(course.root / "submitted" / "bob" / ASSIGNMENT, answered(release))
    course.autograde(ASSIGNMENT)
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student("carol", first_name="Carol", last_name="=cmd|' /C calc'!A0",
                                           email="carol@example.org", lms_user_id="lti-42")
        why = gradebook.find_grade("why", "tiny", ASSIGNMENT, "bob")
        why.manual_score, why.needs_manual_grade = 1.0, False  # as the formgrader saves it
        gradebook.db.commit()
    return course


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def test_lms_csv_has_one_row_per_student_and_assignment(course, tmp_path):
    lms_csv, _ = export_grades(course.root, tmp_path / "out", roster=["dave"])
    columns, rows = read_csv(lms_csv)
    assert columns == LMS_COLUMNS
    by_student = {row["student_id"]: row for row in rows}
    assert sorted(by_student) == ["alice", "bob", "carol", "dave"]
    assert all(row["assignment"] == ASSIGNMENT and row["max_score"] == "4" for row in rows)
    alice, bob, carol = by_student["alice"], by_student["bob"], by_student["carol"]
    assert (alice["score"], alice["percent"], alice["status"]) == ("1", "25", "needs manual grading")
    assert (bob["score"], bob["percent"], bob["status"]) == ("4", "100", "graded")
    assert bob["timestamp"].startswith("2026-11-29 10:00:00")
    assert (carol["score"], carol["percent"], carol["status"]) == ("0", "0", "missing")
    assert (carol["lms_user_id"], carol["email"]) == ("lti-42", "carol@example.org")
    assert carol["last_name"] == "'=cmd|' /C calc'!A0"  # stays text in a spreadsheet
    assert by_student["dave"]["status"] == "missing"


def test_breakdown_has_every_graded_cell(course, tmp_path):
    _, breakdown_csv = export_grades(course.root, tmp_path / "out")
    columns, rows = read_csv(breakdown_csv)
    assert columns == BREAKDOWN_COLUMNS
    cells = {(row["student_id"], row["grade_id"]): row for row in rows}
    assert sorted(cells) == [(student, cell) for student in ("alice", "bob", "carol")
                             for cell in ("test_cube", "test_square", "why")]
    square = cells["alice", "test_square"]
    assert (square["auto_score"], square["final_score"], square["max_score"]) == ("0", "0", "2")
    assert square["notebook"] == "tiny" and square["cell_type"] == "code"
    why = cells["bob", "why"]
    assert (why["auto_score"], why["manual_score"], why["final_score"], why["status"]) == \
        ("", "1", "1", "graded")
    assert cells["alice", "why"]["status"] == "needs manual grading"
    assert {cells["carol", c]["status"] for c in ("test_cube", "test_square", "why")} == {"missing"}


def test_default_destination_is_the_ignored_exports_folder(course):
    lms_csv, breakdown_csv = export_grades(course.root)
    assert lms_csv.parent == breakdown_csv.parent == course.root / "exports"
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index",
                              str(REPO / "exports" / lms_csv.name)], cwd=REPO)
    assert ignored.returncode == 0, "exports/ must be ignored by git"


def test_command_line(course, tmp_path, capsys):
    roster = tmp_path / "roster.txt"
    roster.write_text("# students of the workshop\nalice\nerin\n")
    assert main([str(course.root), "--to", str(tmp_path / "cli"), "--roster", str(roster)]) == 0
    assert "grades_lms.csv" in capsys.readouterr().out
    _, rows = read_csv(tmp_path / "cli" / "grades_lms.csv")
    assert "erin" in {row["student_id"] for row in rows}


def test_a_folder_without_gradebook_is_refused_not_created(tmp_path, capsys):
    with pytest.raises(ExportError, match="no gradebook"):
        export_grades(tmp_path)
    assert not (tmp_path / "gradebook.db").exists()
    assert main([str(tmp_path)]) == 1
    assert "no gradebook" in capsys.readouterr().err


def test_module_runs_as_a_script(course, tmp_path):
    result = subprocess.run([sys.executable, "-m", "primer.grading.export", str(course.root),
                             "--to", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grades_breakdown.csv").is_file()


# -- identities and the LMS's own import formats ---------------------------------------------

HUB_ROSTER = ("username,role,first_name,last_name,email,lms_user_id,sis_user_id,section\n"
              "alice,student,Alice,Liddell,alice@uni.example,101,S-0001,Lab A\n"
              "bob,,Bob,Marley,bob@uni.example,102,S-0002,Lab B\n"
              "carol,student,Carol,Danvers,carol@uni.example,103,S-0003,Lab A\n"
              "dave,student,Dave,Bowman,dave@uni.example,104,S-0004,Lab B\n"
              "emmy,instructor,Emmy,Noether,emmy@uni.example,1,,\n")
# The LMS's own people, as the hub roster above describes them.
LMS_USERS = [{"id": str(100 + n), "name": f"{last}, {first}", "sis_user_id": f"S-000{n}",
              "sis_login_id": login, "idnumber": f"S-000{n}", "email": f"{login}@uni.example",
              "username": login}
             for n, (login, first, last) in enumerate(
                 [("alice", "Alice", "Liddell"), ("bob", "Bob", "Marley"),
                  ("carol", "Carol", "Danvers"), ("dave", "Dave", "Bowman")], start=1)]


@pytest.fixture
def exported(course, tmp_path) -> Path:
    roster = tmp_path / "roster.csv"
    roster.write_text(HUB_ROSTER)
    assert main([str(course.root), "--to", str(tmp_path / "out"), "--roster", str(roster)]) == 0
    return tmp_path / "out"


def test_the_hubs_csv_roster_fills_the_lms_columns_and_leaves_staff_out(exported):
    _, rows = read_csv(exported / "grades_lms.csv")
    by_student = {row["student_id"]: row for row in rows}
    assert sorted(by_student) == ["alice", "bob", "carol", "dave"]  # no "alice,student", no emmy
    assert (by_student["bob"]["first_name"], by_student["bob"]["last_name"],
            by_student["bob"]["email"], by_student["bob"]["lms_user_id"]) == \
        ("Bob", "Marley", "bob@uni.example", "102")
    assert by_student["dave"]["status"] == "missing"


def test_canvas_imports_the_canvas_file_as_its_guide_documents(exported):
    from lms_imports import canvas_import
    points, grades = canvas_import(exported / "grades_canvas.csv", LMS_USERS)
    assert points == {ASSIGNMENT: 4.0}
    # bob graded, carol and dave missing (0); alice's written answer awaits a person: left empty
    assert grades == {("102", ASSIGNMENT): 4.0, ("103", ASSIGNMENT): 0.0, ("104", ASSIGNMENT): 0.0}


def test_canvas_updates_an_existing_assignment_given_its_id(course, tmp_path):
    export_grades(course.root, tmp_path, roster=["bob"], canvas_ids={ASSIGNMENT: "5501"})
    header = (tmp_path / "grades_canvas.csv").read_text().splitlines()[0]
    assert header.endswith(f",{ASSIGNMENT} (5501)")
    assert main([str(course.root), "--to", str(tmp_path), "--canvas-ids", f"{ASSIGNMENT}=x"]) == 1


def test_moodle_imports_the_moodle_file_by_email_or_id_number(exported):
    from lms_imports import moodle_import
    for map_from in ("Email address", "ID number", "User id", "Username"):
        grades = moodle_import(exported / "grades_moodle.csv", map_from, LMS_USERS)
        assert grades == {("102", ASSIGNMENT): 4.0, ("103", ASSIGNMENT): 0.0,
                          ("104", ASSIGNMENT): 0.0}, map_from


def test_a_csv_roster_without_its_header_is_refused(course, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("alice,instructor\nbob,student\n")
    assert main([str(course.root), "--to", str(tmp_path / "out"), "--roster", str(roster)]) == 1
    assert "no 'username' column" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_lti_log_ins_are_recorded_and_fill_the_lms_files(course, tmp_path, monkeypatch):
    """A log-in through the hub's LTI authenticator, from the validated ID token on."""
    import asyncio

    from ltiauthenticator.lti13.auth import LTI13Authenticator
    from traitlets.config import Config

    from lms_imports import canvas_import, moodle_import
    from primer.hub.auth import configure_authentication
    from primer.hub.runtime import HubRuntime

    monkeypatch.setenv("PRIMER_AUTH", "lti")
    for name, value in {"PRIMER_LTI_CLIENT_ID": "lms-client", "PRIMER_LTI_ISSUER": "https://lms.example",
                        "PRIMER_LTI_AUTHORIZE_URL": "https://lms.example/auth",
                        "PRIMER_LTI_JWKS_URL": "https://lms.example/jwks",
                        "PRIMER_LTI_USERNAME_KEY": "custom_login"}.items():
        monkeypatch.setenv(name, value)
    c = Config()
    runtime = HubRuntime(root=tmp_path / "runtime", ip="127.0.0.1", port=8000,
                         instructors=("emmy",), students=("bob",), auth="lti")
    configure_authentication(c, runtime, REPO)
    authenticator = LTI13Authenticator(config=c)
    claims = "https://purl.imsglobal.org/spec/lti/claim/"
    token = {"sub": "7d1e-opaque", "given_name": "Bob", "family_name": "Marley",
             "email": "bob@uni.example", claims + "roles": [
                 "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
             claims + "lis": {"person_sourcedid": "S-0002"},
             claims + "custom": {"login": "bob", "canvas_user_id": "102"}}
    user = asyncio.run(authenticator.get_authenticated_user(None, token))
    assert user["name"] == "bob"
    recorded = tmp_path / "runtime" / "lti-roster.csv"
    assert oct(recorded.stat().st_mode & 0o777) in ("0o600", "0o640")

    assert main([str(course.root), "--to", str(tmp_path / "out"), "--roster", str(recorded)]) == 0
    _, rows = read_csv(tmp_path / "out" / "grades_lms.csv")
    (bob,) = [row for row in rows if row["student_id"] == "bob"]
    assert (bob["first_name"], bob["email"], bob["lms_user_id"]) == ("Bob", "bob@uni.example", "102")
    _, grades = canvas_import(tmp_path / "out" / "grades_canvas.csv",
                              [u for u in LMS_USERS if u["username"] == "bob"] + [
                                  {"id": f"x{n}", "name": "", "sis_user_id": "", "sis_login_id": n}
                                  for n in ("alice", "carol")])
    assert grades[("102", ASSIGNMENT)] == 4.0
    moodle = moodle_import(tmp_path / "out" / "grades_moodle.csv", "Username",
                           LMS_USERS[:3])
    assert moodle[("102", ASSIGNMENT)] == 4.0
