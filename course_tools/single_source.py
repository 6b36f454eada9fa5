"""Single source: the code a notebook teaches is the package's code, checked.

A code cell whose first line is ``#@save losses`` says "this cell's functions and classes
are ``course_utils.losses``'s own"; each is compared with the module's definition of the
same name as a syntax tree, docstrings left out (CONTRIBUTING.md says why a comparison and
not an export)::

    python -m course_tools.single_source            # every course notebook; exit 1 on drift
    python -m course_tools.single_source notebooks/04_style_transfer_by_optimisation.ipynb
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils import config

MARKER = re.compile(r"#\s*@save\s+(?:course_utils\.)?([A-Za-z_]\w*)")
PACKAGE = config.PROJECT_ROOT / "course_utils"


@dataclass(frozen=True)
class SavedCell:
    """A ``#@save MODULE`` cell (``index`` 0-based)."""

    notebook: Path
    index: int
    module: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.notebook.name} cell {self.index}"


def saved_cells(notebook: str | Path) -> list[SavedCell]:
    """Every code cell of ``notebook`` whose first line is a ``#@save MODULE`` marker."""
    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        first = cell.source.lstrip().split("\n", 1)[0]
        m = MARKER.match(first)
        if m:
            found.append(SavedCell(path, i, m.group(1), cell.source))
    return found


def _without_docstrings(node: ast.AST) -> ast.AST:
    """A copy of ``node`` whose functions and classes have no docstring."""
    node = ast.parse(ast.unparse(node)).body[0]  # a fresh copy, positions reset
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                n.body = n.body[1:] or [ast.Pass()]
    return node


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def cell_problems(cell: SavedCell, package: Path = PACKAGE) -> list[str]:
    """What differs between ``cell`` and the module it names, one sentence (and diff) each."""
    module_path = package / f"{cell.module}.py"
    if not module_path.exists():
        return [f"{cell.where} is marked '#@save {cell.module}' but course_utils/{cell.module}.py does not exist."]
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        return [f"{cell.where} does not parse ({exc.msg}, line {exc.lineno}); a #@save cell must be valid Python."]
    module = _definitions(ast.parse(module_path.read_text(encoding="utf-8")))
    problems = []
    defined = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            problems.append(f"{cell.where}: line {node.lineno} is neither an import nor a definition; "
                            "a #@save cell holds only the package's code, so move it to the next cell.")
            continue
        defined += 1
        theirs = module.get(node.name)
        if theirs is None:
            problems.append(f"{cell.where} defines {node.name} but course_utils/{cell.module}.py has no "
                            f"{node.name}; add it there, or mark the cell with the module that holds it.")
            continue
        ours, package_code = _without_docstrings(node), _without_docstrings(theirs)
        if ast.dump(ours) != ast.dump(package_code):
            diff = difflib.unified_diff(ast.unparse(package_code).splitlines(), ast.unparse(ours).splitlines(),
                                        f"course_utils/{cell.module}.py", cell.where, lineterm="", n=1)
            problems.append(f"{cell.where}: {node.name} differs from course_utils/{cell.module}.py's; change both "
                            "the same way (docstrings may differ, code may not):\n" + "\n".join(diff))
    if defined == 0:
        problems.append(f"{cell.where} is marked '#@save {cell.module}' but defines nothing.")
    return problems


def course_notebooks() -> list[Path]:
    """The course's notebooks, numbered ones and optional deep dives, in order."""
    return sorted((config.PROJECT_ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))


def problems(notebooks: Iterable[str | Path] | None = None) -> list[str]:
    """Every drift between the ``#@save`` cells of ``notebooks`` (default: all) and the package."""
    found = []
    for nb in course_notebooks() if notebooks is None else notebooks:
        for cell in saved_cells(nb):
            found.extend(cell_problems(cell))
    return found


def taught() -> dict[str, list[str]]:
    """Which cells show which package definitions: ``{"losses.gram_matrix": ["03_... cell 12"]}``."""
    out: dict[str, list[str]] = {}
    for nb in course_notebooks():
        for cell in saved_cells(nb):
            for name in _definitions(ast.parse(cell.source)):
                out.setdefault(f"{cell.module}.{name}", []).append(cell.where)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    found = problems(args or None)
    for p in found:
        print(p, end="\n\n")
    if not found:
        print(f"single source: {len(taught())} definitions taught in notebooks match course_utils.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
