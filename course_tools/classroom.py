"""Teachers' tools: a handout without the solutions, and a report on learners' notebooks.

    python -m course_tools.classroom handout handout/          # the notebooks, solutions removed
    python -m course_tools.classroom report submissions/ --csv grades.csv

The **handout** is a copy of the course notebooks without their hidden solution cells
(tagged ``solution``), for assessed work. The **report** says, for each exercise of each
learner's notebook, passed, not attempted yet, wrong (with the checker's hint) or never
run, and whether the checkpoints still hold.

Each notebook runs in a fresh ``python3`` kernel, from a temporary ``notebooks/`` folder
whose ``../data`` is the course's (so relative paths work as in class and anything the
notebook saves in its own folder stays in the copy). Its solution cells are blanked first, so a solution
cannot pass an exercise for its learner. The checkers write their verdicts to a log
(:data:`~course_utils.exercises.LOG_ENV`) that the report reads back. It runs the
learners' code: run it where you would run their notebooks anyway.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import config
from course_utils.exercises import LOG_ENV
from course_utils.files import atomic_path

#: What a verdict can be; "not run" means the checker was never called (its cell was
#: deleted, or the notebook stopped before it).
STATUSES = ("passed", "not attempted", "wrong", "error", "not run")
_MARKS = {"passed": "✅", "not attempted": "✏️", "wrong": "✗", "error": "✗", "not run": "–"}
_TITLE = re.compile(r"^#\s*(\d{2})\s*·", re.MULTILINE)
_FILE_NUMBER = re.compile(r"(?<!\d)(\d{2})_")


@dataclass(frozen=True)
class ExerciseVerdict:
    """One exercise of one notebook: the checker (``"ex04.check_total_loss"``), the
    exercise's display name, one of :data:`STATUSES` and the checker's message."""

    checker: str
    name: str
    status: str
    message: str


@dataclass(frozen=True)
class CellError:
    """A code cell that raised: its index in the learner's notebook, whether it is a
    checkpoint, its first line and the error."""

    cell: int
    checkpoint: bool
    first_line: str
    error: str


@dataclass
class NotebookReport:
    """What :func:`report_notebook` found in one learner's notebook."""

    path: Path
    notebook: str | None
    exercises: list[ExerciseVerdict] = field(default_factory=list)
    checkpoints_passed: int = 0
    checkpoints_total: int = 0
    errors: list[CellError] = field(default_factory=list)
    seconds: float = 0.0
    problem: str | None = None

    @property
    def exercises_passed(self) -> int:
        return sum(v.status == "passed" for v in self.exercises)


def expected_checkers(notebook: str) -> list[str]:
    """The checkers of notebook ``"04"`` (``["ex04.check_total_loss", ...]``), in the
    order they are defined, which is the order of the exercises."""
    try:
        module = importlib.import_module(f"course_utils.exercises.ex{notebook}")
    except ModuleNotFoundError:
        return []
    checkers = [
        (inspect.getsourcelines(fn)[1], name)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("check_") and fn.__module__ == module.__name__
    ]
    return [f"ex{notebook}.{name}" for _, name in sorted(checkers)]


def exercise_name(checker: str) -> str:
    """The display name a checker reports under (``"Exercise 2 (the smoothness term)"``),
    read from its source, so that an exercise that never ran is listed under its name."""
    module, _, function = checker.partition(".")
    fn = getattr(importlib.import_module(f"course_utils.exercises.{module}"), function)
    match = re.search(r'check\(\s*"([^"]+)"', inspect.getsource(fn))
    return match.group(1) if match else function


def notebook_number(nb, path: Path) -> str | None:
    """The course notebook a learner's file is (``"04"``): from its title cell
    ("# 04 · ..."), else from its file name (``alice_04_style.ipynb``)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _TITLE.search(cell.source)
            if match:
                return match.group(1)
            break
    match = _FILE_NUMBER.search(path.name)
    return match.group(1) if match else None


def _is_solution(cell) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def _is_checkpoint(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith("# Checkpoint")


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0][:80] if lines else ""


def _cell_error(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()[:300]
    return None


def _read_verdicts(log: Path) -> dict[str, ExerciseVerdict]:
    """The last verdict of each checker (a learner may run a checker several times)."""
    verdicts: dict[str, ExerciseVerdict] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            verdicts[record["checker"]] = ExerciseVerdict(**record)
    return verdicts


def run_notebook(nb, *, fast: bool, timeout: int, allow_errors: bool, env: dict[str, str] | None = None) -> None:
    """Execute ``nb`` (a ``nbformat`` notebook, filled in place) in a fresh ``python3``
    kernel, from a temporary ``notebooks/`` folder beside the course's data.

    Args:
        fast: fast mode (``COURSE_FAST=1``) or full mode, whatever the caller's environment says.
        timeout: seconds any one cell may run.
        allow_errors: go on past a cell that raises or times out (it is interrupted), as the
            report does; otherwise the first one raises, as a measurement wants.
        env: variables added to the kernel's environment.
    """
    from nbclient import NotebookClient

    kernel_env = dict(os.environ, **(env or {}))
    if fast:
        kernel_env["COURSE_FAST"] = "1"
    else:
        kernel_env.pop("COURSE_FAST", None)
    with tempfile.TemporaryDirectory(prefix="course-run-") as root:
        work = str(_course_like_folder(Path(root)))
        # log_level=ERROR: the kernel's start-up warning about local TCP is noise here.
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                interrupt_on_timeout=allow_errors, resources={"metadata": {"path": work}},
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        client.execute(env=kernel_env, cwd=work)


def report_notebook(path: str | Path, *, fast: bool = True, timeout: int = 600) -> NotebookReport:
    """Execute a learner's notebook (a copy, without its solution cells) and report on it.

    Args:
        path: the learner's ``.ipynb`` file.
        fast: run in fast mode (``COURSE_FAST=1``: small images, few steps), as the tests do.
        timeout: seconds any one cell may run before it is interrupted.
    """
    import nbformat
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # a junk or truncated file is reported, not raised
        return NotebookReport(path, None, problem=f"not a readable notebook ({type(exc).__name__}: {exc})")
    number = notebook_number(nb, path)
    # Keep the learner's cell numbers: a solution cell becomes an empty one rather than
    # disappearing, so "cell 31" in the report is cell 31 in their notebook.
    for cell in nb.cells:
        if _is_solution(cell):
            cell.source, cell.outputs = "", []
    report = NotebookReport(path, number)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-report-") as logs:
        log = Path(logs) / "verdicts.jsonl"
        try:
            run_notebook(nb, fast=fast, timeout=timeout, allow_errors=True, env={LOG_ENV: str(log)})
        except DeadKernelError as exc:
            report.problem = f"the kernel died ({exc})"
        except Exception as exc:
            report.problem = f"could not run it ({type(exc).__name__}: {exc})"
        verdicts = _read_verdicts(log)
    report.seconds = time.perf_counter() - start
    expected = expected_checkers(number) if number else []
    for checker in expected:
        report.exercises.append(verdicts.pop(checker, None) or ExerciseVerdict(
            checker, exercise_name(checker), "not run",
            "its checker was never called: its cell was deleted, or code above the checker call raised first"))
    report.exercises.extend(verdicts.values())  # checkers of other notebooks it called
    for index, cell in enumerate(nb.cells):
        error = _cell_error(cell) if cell.cell_type == "code" else None
        if _is_checkpoint(cell):
            report.checkpoints_total += 1
            report.checkpoints_passed += error is None and cell.get("execution_count") is not None
        if error is not None:
            report.errors.append(CellError(index, _is_checkpoint(cell), _first_line(cell.source), error))
    return report


def course_notebooks() -> list[Path]:
    """The course's own notebooks (``notebooks/NN_*.ipynb`` next to this package)."""
    return sorted((config.PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _course_like_folder(root: Path) -> Path:
    """``root/notebooks``, with ``root/data`` pointing at the course's data, so that a
    learner's ``"../data/content/coffee.jpg"`` (notebook 00 teaches that path) resolves
    as it does in their own notebooks folder, while anything the notebook writes, such as
    the studio's saved pictures, lands in the temporary copy."""
    folder = root / "notebooks"
    folder.mkdir()
    if (config.PROJECT_ROOT / "data").is_dir():
        (root / "data").symlink_to(config.PROJECT_ROOT / "data", target_is_directory=True)
    return folder


def write_handout(out_dir: str | Path, notebooks: Sequence[str | Path] | None = None) -> list[Path]:
    """Copy notebooks (default: the course's) into ``out_dir`` without their solution
    cells, outputs or execution counts. Each file is written whole and then renamed into
    place; an existing file of the same name is replaced, nothing else is touched."""
    import nbformat

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot write the handout to {str(out)!r}: it is a file; name a folder.")
    sources = [Path(p) for p in notebooks] if notebooks is not None else course_notebooks()
    if not sources:
        raise FileNotFoundError("no notebooks to copy: the course's notebooks/ folder was not found "
                                "next to this package; name the notebooks to copy.")
    for p in sources:
        if p.suffix != ".ipynb" or not p.is_file():
            raise FileNotFoundError(f"{str(p)!r} is not a notebook file: name .ipynb files.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in sources:
        nb = nbformat.read(p, as_version=4)
        nb.cells = [c for c in nb.cells if not _is_solution(c)]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        with atomic_path(out / p.name) as tmp:
            nbformat.write(nb, tmp)
        written.append(out / p.name)
    return written


def notebook_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The ``.ipynb`` files named, and those inside the folders named (recursively,
    skipping ``.ipynb_checkpoints``), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.is_file() and p.suffix == ".ipynb":
            found.append(p)
        elif p.exists():
            raise ValueError(f"{str(p)!r} is not a notebook: name .ipynb files or folders that hold them.")
        else:
            raise FileNotFoundError(f"{str(p)!r} does not exist: name .ipynb files or folders that hold them.")
    return sorted(set(found))


def format_report(reports: Sequence[NotebookReport]) -> str:
    """A plain-text report: one block per notebook, exercises first, then checkpoints."""
    lines: list[str] = []
    for r in reports:
        which = f"notebook {r.notebook}" if r.notebook else "not a course notebook"
        lines.append(f"{r.path}  ({which}, {r.seconds:.0f} s)")
        if r.problem:
            lines.append(f"  problem: {r.problem}")
        width = max((len(v.name) for v in r.exercises), default=0)
        for v in r.exercises:
            detail = f": {v.message}" if v.status in ("wrong", "error", "not run") else ""
            lines.append(f"  {_MARKS[v.status]} {v.name:<{width}}  {v.status}{detail}")
        lines.append(f"  checkpoints {r.checkpoints_passed}/{r.checkpoints_total} passed; "
                     f"{len(r.errors)} cell(s) raised an error")
        for e in r.errors:
            kind = "checkpoint" if e.checkpoint else "cell"
            lines.append(f"    {kind} {e.cell} ({e.first_line}): {e.error}")
        lines.append("")
    if len(reports) > 1:
        lines.append(format_summary(reports))
    return "\n".join(lines)


def format_summary(reports: Sequence[NotebookReport]) -> str:
    """One line per notebook: its file, the notebook it is, each exercise's status and the
    checkpoints, in columns, for a class at a glance (plain words: emoji widths vary)."""
    n_exercises = max((len(r.exercises) for r in reports), default=0)
    header = ["file", "notebook", *(f"exercise {i}" for i in range(1, n_exercises + 1)), "checkpoints"]
    rows = [[r.path.name, r.notebook or "?",
             *(v.status for v in r.exercises), *([""] * (n_exercises - len(r.exercises))),
             f"{r.checkpoints_passed}/{r.checkpoints_total}" + (" (problem)" if r.problem else "")]
            for r in reports]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows])


def write_csv(reports: Sequence[NotebookReport], path: str | Path) -> Path:
    """One row per exercise and one per notebook's checkpoints, for a grade book. Written
    to a temporary file and renamed, so a crash never leaves half a file."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(f"the report file {str(path)!r} should end in .csv.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist.")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "notebook", "item", "status", "detail"])
    for r in reports:
        for v in r.exercises:
            writer.writerow([r.path, r.notebook or "", v.name, v.status, v.message])
        writer.writerow([r.path, r.notebook or "", "checkpoints",
                         f"{r.checkpoints_passed}/{r.checkpoints_total}", r.problem or ""])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.classroom",
                                     description="Teachers' tools for the course's exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser(
        "report", help="run learners' notebooks and report each exercise and the checkpoints",
        description="Run learners' notebooks (without their solution cells) and report each "
                    "exercise (passed, not attempted, wrong, not run) and the checkpoints. "
                    "It runs their code.")
    rep.add_argument("paths", nargs="+", help=".ipynb files, or folders of them")
    rep.add_argument("--full", action="store_true", help="full mode instead of fast mode (slower)")
    rep.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    rep.add_argument("--csv", help="also write the verdicts to this .csv file")
    hand = commands.add_parser("handout", help="copy the notebooks without their solution cells",
                               description="Copy notebooks without their solution cells, for assessed work.")
    hand.add_argument("out_dir", help="folder to write the handout notebooks to")
    hand.add_argument("notebooks", nargs="*", help="notebooks to copy (default: all of the course's)")
    args = parser.parse_args(argv)
    if args.command == "handout":
        try:
            written = write_handout(args.out_dir, args.notebooks or None)
        except (FileNotFoundError, NotADirectoryError) as exc:
            parser.error(str(exc))
        print(f"wrote {len(written)} notebook(s) without solutions to {args.out_dir}")
        return 0
    try:
        paths = notebook_paths(args.paths)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    if not paths:
        parser.error(f"no .ipynb files in {', '.join(args.paths)}.")
    reports = []
    for i, p in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] running {p} ...", file=sys.stderr, flush=True)
        reports.append(report_notebook(p, fast=not args.full, timeout=args.timeout))
    print(format_report(reports))
    if args.csv:
        print(f"wrote {write_csv(reports, args.csv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
