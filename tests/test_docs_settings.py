"""docs/workshop.md's "Every setting" names every PRIMER_* variable the code reads."""
from __future__ import annotations

import re

from conftest import REPO

# Where settings are read: the package, the hub's config, the install and cluster scripts.
CODE = [*(REPO / "primer").rglob("*.py"), REPO / "jupyterhub_config.py", REPO / "nbgrader_config.py",
        *(REPO / "scripts").iterdir(), REPO / "Makefile", REPO / ".ci" / "run"]
# A name ending in "_" is a prefix the code matches on (PRIMER_QUEUE_*), not a setting.
VARIABLE = re.compile(r"\bPRIMER_[A-Z0-9_]*[A-Z0-9]\b")


def variables_in_code() -> set[str]:
    return {name for path in CODE if path.is_file()
            for name in VARIABLE.findall(path.read_text(errors="replace"))}


def test_every_setting_the_code_reads_is_listed():
    page = (REPO / "docs" / "workshop.md").read_text()
    listed = page.split("## Every setting", 1)[1]
    found = variables_in_code()
    assert {"PRIMER_QUEUE_PORT", "PRIMER_VENV", "PRIMER_PYTHON", "PRIMER_AUTH"} <= found
    missing = sorted(name for name in found if f"`{name}`" not in listed)
    assert not missing, f"docs/workshop.md, 'Every setting', leaves out {missing}"


def test_no_page_sends_readers_to_a_missing_design_file():
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for name in re.findall(r"\b([A-Z]+\.md)\b", page.read_text()):
            assert (REPO / name).is_file() or (REPO / "docs" / name).is_file(), \
                f"{page.name} cites {name}, which the repository does not have"


def test_the_port_count_matches_the_queue_port():
    page = (REPO / "docs" / "workshop.md").read_text()
    assert "next three" not in page and "next four" not in page
    assert "`PRIMER_HUB_PORT` + 1 to + 5" in page
    assert "runtime.port + 4" in (REPO / "primer" / "queue" / "settings.py").read_text()
    assert "runtime.port + 5" in (REPO / "primer" / "hub" / "student_overview.py").read_text()
