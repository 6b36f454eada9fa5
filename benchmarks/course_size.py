"""The course's size, as the issue "Learners write the core" measures it.

    python benchmarks/course_size.py

Prints the lines of each ``course_utils`` module and their total, the lines of all Python
outside ``tests/`` (tracked by git), and each notebook's words of prose with its longest
markdown cell.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def main() -> None:
    modules = sorted((ROOT / "course_utils").rglob("*.py"))
    for path in modules:
        print(f"{lines(path):6d}  {path.relative_to(ROOT)}")
    print(f"{sum(lines(p) for p in modules):6d}  course_utils in all")
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    outside = [ROOT / p for p in tracked if not p.startswith("tests/")]
    print(f"{sum(lines(p) for p in outside if p.exists()):6d}  all Python outside tests/\n")
    print(" words  longest cell  notebook")
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb_path.read_text())["cells"]
        words = [len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown"]
        print(f"{sum(words):6d}  {max(words, default=0):12d}  {nb_path.stem}")


if __name__ == "__main__":
    main()
