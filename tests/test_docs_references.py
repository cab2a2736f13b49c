"""Every test that the README and docs/ name as the proof of a promise exists.

docs/security.md pairs each attack class with "its test"; a renamed or deleted
test would leave the promise unproven while the page still cites it.
"""
from __future__ import annotations

import re

import pytest

from conftest import REPO

# `tests/test_x.py`, `test_x.py::name`, and `::name` or `test_name` (a test of the file named before).
FILE = re.compile(r"(?:tests/)?(test_\w+\.py)(?:::(\w+))?")
NAME = re.compile(r"(?:::)?(test_\w+)")
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])


def citations(page) -> list[tuple[str, str | None]]:
    found, current = [], None
    for quoted in re.findall(r"`([^`\n]+)`", page.read_text()):
        quoted = quoted.split("[")[0].split(" ")[0]
        if match := FILE.fullmatch(quoted):
            current = match.group(1)
            found.append((current, match.group(2)))
        elif (match := NAME.fullmatch(quoted)) and current:
            found.append((current, match.group(1)))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_cited_test_exists(page):
    missing = []
    for file, name in citations(page):
        path = REPO / "tests" / file
        if not path.is_file():
            missing.append(file)
        elif name and not re.search(rf"^(async )?def {name}\(", path.read_text(), re.M):
            missing.append(f"{file}::{name}")
    assert not missing, f"{page.name} cites tests that do not exist: {missing}"


def test_the_security_page_cites_tests():
    assert len(citations(REPO / "docs" / "security.md")) > 20
