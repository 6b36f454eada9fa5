"""Notebooks are committed clean, numbered, with the python3 kernel and a lesson's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: Numbered lessons (``04_…``), one 90-minute class each; optional deep dives carry a letter (``02b_…``).
LESSONS = [p for p in NOTEBOOKS if re.match(r"^\d\d_", p.name)]


def is_optional(path: Path) -> bool:
    return re.match(r"^\d\d[a-z]_", path.name) is not None


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_uses_python3(path):
    nb = json.loads(path.read_text())
    assert re.match(r"^\d\d[a-z]?_[a-z0-9_]+\.ipynb$", path.name)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a cell has outputs; strip them"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts left in"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_lesson(path):
    nb = json.loads(path.read_text())
    md = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert md[0].lstrip().startswith("# "), "first cell must be the H1 title"
    assert sum(1 for m in md for line in m.splitlines() if line.startswith("# ")) == 1, "one H1 only"
    text = "\n".join(md).lower()
    sections = ("what you will learn", "summary", "references") + (() if is_optional(path) else ("exercise",))
    for section in sections:
        assert section in text, f"{path.name}: missing a '{section}' section"
    assert sum(1 for c in code if c.lstrip().startswith("# Checkpoint")) >= (1 if is_optional(path) else 3)
    assert any("course_utils" in c for c in code)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_exercise_has_a_tagged_hidden_solution(path):
    """nbgrader's assignments (course_tools.classroom) drop the cells tagged ``solution``; one without the
    tag would pass its exercise for every learner."""
    from course_tools.classroom import expected_checkers

    nb = json.loads(path.read_text())
    number = path.name[:2]
    checkers = [c.split(".")[-1] for c in expected_checkers(number)]
    assert len(checkers) == 2, f"{path.name}: expected two checkers in ex{number}"
    solutions = []
    for cell in nb["cells"]:
        hidden = cell["metadata"].get("jupyter", {}).get("source_hidden", False)
        tagged = "solution" in cell["metadata"].get("tags", [])
        assert hidden == tagged, f"{path.name}: a hidden cell must be tagged 'solution' and vice versa"
        if tagged:
            solutions.append("".join(cell["source"]))
    for checker in checkers:
        assert any(f".{checker}(" in s for s in solutions), f"{path.name}: no solution cell runs {checker}"
        assert any(f".{checker}(" in "".join(c["source"]) for c in nb["cells"]
                   if c["cell_type"] == "code" and "solution" not in c["metadata"].get("tags", [])), (
            f"{path.name}: no exercise cell runs {checker} on the learner's answer")


ROOT = Path(__file__).resolve().parent.parent


def test_seed_defects_are_shipped_and_every_reference_resolves():
    """Notebooks and docstrings cite "the seed's defect N": docs/seed_defects.md must list
    defects 1-10, each with where it is taught, and nothing may cite the design notes that
    students do not have."""
    table = (ROOT / "docs" / "seed_defects.md").read_text()
    rows = re.findall(r"^\| (\d+) \|(.*)\|$", table, flags=re.M)
    assert [int(n) for n, _ in rows] == list(range(1, 11))
    assert all(len(rest.split(" | ")) == 4 for _, rest in rows)  # code, what is wrong, taught in, fix
    shipped = [*NOTEBOOKS, *(ROOT / "course_utils").rglob("*.py"), *(ROOT / "tests").glob("*.py"), ROOT / "README.md"]
    for path in shipped:
        if path.name == "test_hygiene.py":
            continue
        text = path.read_text()
        assert "SEED_NOTES" not in text, f"{path.name} cites SEED_NOTES; cite docs/seed_defects.md"
        for n in re.findall(r"defects? (\d+)", text):
            assert 1 <= int(n) <= 10, f"{path.name} cites defect {n}"


def test_teachers_guide_covers_every_notebook_and_its_commands_exist():
    """docs/teaching.md has a row for every notebook, no unfilled {placeholder}, and the
    commands it tells a teacher to type exist."""
    guide = (ROOT / "docs" / "teaching.md").read_text()
    for path in NOTEBOOKS:
        assert f"`{path.stem}`" in guide, f"docs/teaching.md has no row for {path.stem}"
    assert not re.findall(r"\{[a-z_0-9]+\}", guide), "docs/teaching.md has an unfilled placeholder"
    assert "docs/teaching.md" in (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    code = " ".join(re.findall(r"`([^`\n]+)`", guide) + re.findall(r"```bash\n(.*?)```", guide, flags=re.S))
    assert "make handout" in code
    for target in re.findall(r"\bmake ([\w-]+)", code):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"the guide names 'make {target}', not in the Makefile"
    for command in re.findall(r"python -m course_tools\.classroom (\w+)", code):
        assert command in ("source", "autograde"), command
