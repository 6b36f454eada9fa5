"""The course's shape, as the issue "Learners write the core" set it: the lessons show the
code that matters, each numbered notebook fits one 90-minute class, and the learners'
package stays small, readable and apart from the maintainers' tools."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from course_tools import single_source

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_utils"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
LESSONS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: What each numbered notebook must write in its own cells (a ``#@save`` cell identical to
#: the package's definition): the code that is the lesson.
TAUGHT = {
    "01": ["geometry.sampling_grid", "geometry.warp"],
    "02": ["stn.LocalizationNet", "stn.init_identity_", "stn.SpatialTransformer", "stn.train_classifier"],
    "03": ["features.layer_names", "features.extract", "losses.gram_matrix"],
    "04": ["losses.content_loss", "losses.style_loss", "losses.tv_loss"],
    "05": ["deform.warp_grid", "deform.deformable_objective"],
    "06": ["studio.safe_name"],
}
MAX_MODULE_LINES = 470  # the issue asks for "no module over about 450"
MAX_LESSON_WORDS = 2000
MAX_CELL_WORDS = 250


def _markdown_words(path: Path) -> list[int]:
    nb = json.loads(path.read_text())
    return [len("".join(c["source"]).split()) for c in nb["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("number, names", sorted(TAUGHT.items()))
def test_each_lesson_writes_its_core_code(number, names):
    taught = single_source.taught()
    for name in names:
        cells = [where for where in taught.get(name, []) if where.startswith(number + "_")]
        assert cells, f"notebook {number} does not write {name} in a '#@save' cell"


def test_notebook_01_calls_grid_sample_itself():
    nb = json.loads(next((ROOT / "notebooks").glob("01_*.ipynb")).read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "F.grid_sample(" in code and "F.affine_grid(" in code


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_numbered_lesson_fits_one_class(path):
    words = _markdown_words(path)
    assert sum(words) <= MAX_LESSON_WORDS, f"{path.name}: {sum(words)} words of prose; move a deep dive to an optional notebook"
    assert max(words) <= MAX_CELL_WORDS, f"{path.name}: a markdown cell of {max(words)} words; split it"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_learner_module_reads_top_to_bottom(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"course_utils/{path.relative_to(PACKAGE)} has {lines} lines"


def _course_utils_modules() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_names_cross_modules_and_no_tools_in_the_package(path):
    tree = ast.parse(path.read_text())
    own = path.stem
    imported_modules: dict[str, str] = {}  # name in this file -> course_utils module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            assert not mod.startswith("course_tools"), f"{path.name} imports course_tools"
            names = [a.name for a in node.names]
            if mod in ("", None) or node.level:
                # from . import a, b  -> modules; from .x import names -> names of x
                if node.module is None:
                    imported_modules.update({a.asname or a.name: a.name for a in node.names})
                else:
                    source = node.module.split(".")[-1]
                    private = [n for n in names if n.startswith("_") and source != own]
                    assert not private, f"{path.name} imports private {private} from .{node.module}"
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("course_tools") for a in node.names), f"{path.name} imports course_tools"
    modules = _course_utils_modules()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if imported_modules.get(node.value.id) in modules and node.attr.startswith("_"):
                if not re.fullmatch(r"__\w+__", node.attr):
                    pytest.fail(f"{path.name} uses {imported_modules[node.value.id]}.{node.attr}, a private name of another module")
