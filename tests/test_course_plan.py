"""The one-day plan: every time estimate states the same plan, and the core fits one day.

Each notebook's header has one line "**Time:** one-day core N minutes; optional M minutes
more"; the README's table, book/outline.md's table and docs/workshop.md must give the same
minutes, and the core of all notebooks together must fit one day of hands-on work (issue 21,
item 5). Pure parsing: no kernel, no hub.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_DAY_CORE_MINUTES = 300
TIME_LINE = re.compile(r"\*\*Time:\*\* one-day core (\d+) minutes; optional (\d+) minutes more")
SECTION_MARK = re.compile(r"^#{2,3} .*[(*]+(core|optional)\b", re.MULTILINE)


def notebook_plan(path):
    """(core, optional) minutes from the notebook's one Time line, and its section marks."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    found = [m for text in markdown for m in TIME_LINE.finditer(text)]
    assert len(found) == 1, (
        f"{path.relative_to(ROOT)} must have exactly one line '**Time:** one-day core N minutes; "
        f"optional M minutes more' (found {len(found)})")
    marks = {m.group(1) for text in markdown for m in SECTION_MARK.finditer(text)}
    return (int(found[0].group(1)), int(found[0].group(2))), marks


def source_notebooks():
    return {path.parent.name: path for path in sorted((ROOT / "source").glob("*/*.ipynb"))
            if path.parent.name[:2].isdigit()}


def table_plan(text, name_of_row):
    """{assignment: (core, optional)} from a markdown table whose last two cells are 'N min'."""
    plan = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        minutes = [re.fullmatch(r"(\d+) min", cell) for cell in cells[-2:]]
        assignment = name_of_row(line)
        if assignment and len(cells) >= 2 and all(minutes):
            plan[assignment] = tuple(int(m.group(1)) for m in minutes)
    return plan


def total_row(text):
    match = re.search(r"\| \*\*one day\*\* .*\| \*\*(\d+) min\*\* \| \*\*(\d+) min\*\* \|", text)
    assert match, "the table needs a '**one day**' row with the core and optional totals"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def notebooks():
    return {name: notebook_plan(path) for name, path in source_notebooks().items()}


def test_the_core_fits_one_day(notebooks):
    core = {name: minutes[0] for name, (minutes, _) in notebooks.items()}
    assert sum(core.values()) <= ONE_DAY_CORE_MINUTES, (
        f"the core adds up to {sum(core.values())} min of hands-on work, more than one day "
        f"({ONE_DAY_CORE_MINUTES} min): mark more sections *(optional)*. Per notebook: {core}")


def test_section_marks_match_the_time_line(notebooks):
    """A notebook with optional minutes has optional sections, and one without has none."""
    for name, ((core, optional), marks) in notebooks.items():
        assert ("optional" in marks) == (optional > 0), (
            f"{name}: its Time line says {optional} optional minutes but its sections marked "
            f"optional are {'present' if 'optional' in marks else 'absent'}")


def test_readme_table_states_the_notebooks_plan(notebooks):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = table_plan(text, lambda line: next(iter(re.findall(r"`(\d\d_\w+)`", line)), None))
    assert readme == {name: minutes for name, (minutes, _) in notebooks.items()}
    assert total_row(text) == tuple(map(sum, zip(*readme.values())))
    assert f"one-day workshop, {sum(c for c, _ in readme.values())} minutes of core" in text


def test_book_outline_states_the_notebooks_plan(notebooks):
    text = (ROOT / "book" / "outline.md").read_text(encoding="utf-8")
    outline = table_plan(text, lambda line: next(iter(re.findall(r"notebooks/(\d\d_\w+)/", line)), None))
    assert outline == {name: minutes for name, (minutes, _) in notebooks.items()}
    core_total = sum(core for core, _ in outline.values())
    assert total_row(text) == (core_total, sum(optional for _, optional in outline.values()))
    assert f"**one day**: {core_total} minutes of core" in text
    assert "Day 2" not in text, "the outline still plans a second day for core blocks"


def test_workshop_guide_states_the_same_day(notebooks):
    text = (ROOT / "docs" / "workshop.md").read_text(encoding="utf-8")
    core_total = sum(minutes[0] for minutes, _ in notebooks.values())
    assert f"one-day\nworkshop ({core_total} minutes of core hands-on work" in text
    assert "for a week" not in text
