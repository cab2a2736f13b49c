"""Read a grades file the way Canvas's and Moodle's gradebook imports do, by their documented rules.

Canvas (Instructor Guide, "How do I import grades in the Gradebook?"; e.g.
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
the header holds Student, ID, SIS User ID, SIS Login ID and Section, then one
column per assignment, "Name" (a new assignment) or "Name (id)" (an existing
one); a student is found by Student name, ID or SIS User ID (one of them
filled), SIS Login ID and Section are required columns; an optional second
row starting "Points Possible" gives each assignment's points; a grade is a
number, and an empty cell leaves the grade as it is.

Moodle (grade/import/csv/classes/load_data.php, map_user_data_with_value,
check_user_exists, update_grade_item): one column is mapped to a user field
(id, idnumber, email or username); a row whose value finds no user, or is
empty, stops the whole import; a grade is a number ('' or '-' is "no
grade"), anything else stops it with "badgrade"; a grade above the grade
maximum (100 by default) stops it with "gradevaluetoobig".
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

CANVAS_REQUIRED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_USER_FIELDS = {"User id": "id", "ID number": "idnumber", "Email address": "email",
                      "Username": "username"}


class ImportRefused(AssertionError):
    pass


def _number(text: str, where: str) -> float | None:
    if text.strip() in ("", "-"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ImportRefused(f"{where}: {text!r} is not a number") from None


def canvas_import(path: Path, users: list[dict]) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """(points per assignment, {(canvas user key, assignment): grade}); users: Canvas's people,
    each with name ("Last, First"), id, sis_user_id, sis_login_id."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    header, body = rows[0], rows[1:]
    missing = [column for column in CANVAS_REQUIRED if column not in header]
    if missing:
        raise ImportRefused(f"Canvas needs the columns {missing}")
    assignments = header[len(CANVAS_REQUIRED):]
    for title in assignments:
        if not re.fullmatch(r"[^()]+( \(\d+\))?", title):
            raise ImportRefused(f"assignment column {title!r} is not 'Name' or 'Name (id)'")
    points = {}
    if body and body[0][0].strip() == "Points Possible":
        points = {title: _number(value, "Points Possible")
                  for title, value in zip(assignments, body[0][len(CANVAS_REQUIRED):])}
        body = body[1:]
    grades = {}
    for number, row in enumerate(body, start=2):
        record = dict(zip(header, row))
        found = [user for user in users
                 if (record["ID"] and record["ID"] == user["id"])
                 or (record["SIS User ID"] and record["SIS User ID"] == user["sis_user_id"])
                 or (record["SIS Login ID"] and record["SIS Login ID"] == user["sis_login_id"])
                 or (record["Student"] and record["Student"] == user["name"])]
        if len(found) != 1:
            raise ImportRefused(f"row {number}: no single Canvas student matches {record}")
        for title in assignments:
            grade = _number(record[title], f"row {number}, {title}")
            if grade is not None:
                grades[found[0]["id"], title] = grade
    return points, grades


def moodle_import(path: Path, map_from: str, users: list[dict], grade_max: float = 100.0,
                  ) -> dict[tuple[str, str], float]:
    """{(moodle user id, grade item): grade}, mapping the column ``map_from`` to its user field."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header, rows = reader.fieldnames, list(reader)
    if map_from not in header:
        raise ImportRefused(f"no column {map_from!r} to map users from")
    field = MOODLE_USER_FIELDS[map_from]
    items = [column for column in header if column not in MOODLE_USER_FIELDS
             and column not in ("First name", "Last name")]
    grades = {}
    for number, row in enumerate(rows, start=2):
        value = row[map_from].strip()
        found = [user for user in users if value and user[field] == value]
        if not found:
            raise ImportRefused(f"line {number}: usermappingerror, {field} {value!r}")
        for item in items:
            grade = _number(row[item], f"line {number}, {item}")
            if grade is not None:
                if grade > grade_max:
                    raise ImportRefused(f"line {number}: gradevaluetoobig {grade}")
                grades[found[0]["id"], item] = grade
    return grades
