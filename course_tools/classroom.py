"""The classroom on nbgrader: assignments made from the course's notebooks, and safe grading.

    python -m course_tools.classroom source [--lang zh]   # build/classroom[-zh]/: nbgrader's course folder
    cd build/classroom && nbgrader generate_assignment nb01   # release/: the student version
    python -m course_tools.classroom autograde nb01       # nbgrader autograde, one confined run each

nbgrader does the work (student versions, gradebook, feedback, exchange, export). This
module adds what it does not do:

* ``source``: each exercise of a course notebook becomes an answer cell with a solution
  region and a read-only graded test cell, whose hidden part checks the answer with a
  **fresh copy** of the course's checker (a learner who patched ``ex04`` or ``losses``
  patched a copy the grader does not use) and refuses an answer taken from, or calling,
  the package's own solution. Checkpoint cells become read-only.
* ``autograde``: ``nbgrader autograde`` once per submission, in its own process group with
  a wall-clock limit, its kernel under bubblewrap (own PID namespace, no capabilities, the
  file system read-only except its autograded folder and a private ``/tmp``).
* :class:`SafeCsvExportPlugin`: nbgrader's CSV export with formula-like cells escaped.

Grading runs the learners' code: even confined, run it where you would run their notebooks.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils import config

POINTS = 1
CLASSROOM_DIR = config.PROJECT_ROOT / "classroom"
DEFAULT_COURSE_DIR = config.PROJECT_ROOT / "build" / "classroom"
#: Each language's notebooks (the Chinese ones have the same code cells, so the same exercises).
NOTEBOOK_DIRS = {"en": config.PROJECT_ROOT / "notebooks", "zh": config.PROJECT_ROOT / "notebooks" / "zh"}

# The package objects an exercise asks the learner to write again, when the hidden solution
# does not say it with a ``#@save MODULE`` cell (``module``, ``attribute.path``).
_REFERENCES = {
    "ex02.check_forward": [("stn", "SpatialTransformer.forward")],
}
# The checker's other arguments, as the grader computes them from the fresh package (the
# learner's variables could be forged: check_mean_colour(my_mean, swirl) with a fake swirl).
_GRADING_ARGS = {
    "ex00.check_mean_colour": ['data.style_image("swirl", size=config.pick(full=256, fast=64))'],
}


@dataclass(frozen=True)
class Exercise:
    """One exercise of a course notebook, as :func:`find_exercises` reads it."""

    notebook: str          # "01"
    index: int             # 1 or 2
    checker: str           # "ex01.check_rotation_theta"
    name: str              # "Exercise 1 (rotation θ)"
    answer: str            # the learner's name, "my_rotation_theta"
    answer_cell: int       # index of the cell that defines the answer (the template)
    check_cell: int        # index of the cell with the learner's checker call
    solution_cells: tuple[int, ...]
    solution: str          # code that makes the answer the reference solution
    references: tuple[tuple[str, str], ...]
    grading_args: tuple[str, ...]

    @property
    def grade_id(self) -> str:
        return f"ex{self.notebook}_{self.index}"


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _is_solution(cell) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def _is_checkpoint(cell) -> bool:
    return cell["cell_type"] == "code" and _source(cell).lstrip().startswith("# Checkpoint")


def _checker_call(source: str):
    """The learner's checker call ``exNN.check_x(answer, ...)`` in a cell, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and re.fullmatch(r"ex\d\d", f.value.id) and f.attr.startswith("check_")):
                return node
    return None


def _defines(source: str, name: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def exercise_name(checker: str) -> str:
    """The display name a checker reports under (``"Exercise 2 (the smoothness term)"``)."""
    module, _, function = checker.partition(".")
    fn = getattr(importlib.import_module(f"course_exercises.{module}"), function)
    match = re.search(r'check\(\s*(?:N_\()?"([^"]+)"', inspect.getsource(fn))
    return match.group(1) if match else function


def expected_checkers(notebook: str) -> list[str]:
    """The checkers of notebook ``"04"`` (``["ex04.check_style_loss", ...]``), in the order
    they are defined, which is the order of the exercises."""
    try:
        module = importlib.import_module(f"course_exercises.ex{notebook}")
    except ModuleNotFoundError:
        return []
    checkers = [
        (inspect.getsourcelines(fn)[1], name)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("check_") and fn.__module__ == module.__name__
    ]
    return [f"ex{notebook}.{name}" for _, name in sorted(checkers)]


def find_exercises(nb: dict, notebook: str) -> list[Exercise]:
    """The exercises of a course notebook (a dict as ``json.load`` gives it), in order."""
    cells = nb["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or _is_solution(cell):
            continue
        call = _checker_call(_source(cell))
        if call is None:
            continue
        checker = f"{call.value.func.value.id}.{call.value.func.attr}"
        if not call.value.args or not isinstance(call.value.args[0], ast.Name):
            raise ValueError(f"notebook {notebook}, cell {i}: the checker call {checker}(...) must name the "
                             "learner's answer as its first argument.")
        answer = call.value.args[0].id
        rest = [ast.unparse(a) for a in call.value.args[1:]] + [ast.unparse(k) for k in call.value.keywords]
        sol_cells = []
        j = i + 1
        while j < len(cells) and _is_solution(cells[j]):
            sol_cells.append(j)
            j += 1
        if not sol_cells:
            raise ValueError(f"notebook {notebook}: {checker} has no hidden solution cell after it (tag 'solution').")
        code, refs, arg = [], [], None
        for j in sol_cells:
            src = _source(cells[j])
            first = src.splitlines()[0] if src else ""
            if first.startswith("#@save"):
                module = first.split()[1]
                tree = ast.parse(src)
                refs += [(module, n.name) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            kept = []
            for line in src.splitlines():
                node = _checker_call(line.strip().removeprefix("assert ").rsplit(".passed", 1)[0])
                if line.lstrip().startswith(f"assert {checker}(") and node is not None and node.value.args:
                    arg = ast.unparse(node.value.args[0])
                else:
                    kept.append(line)
            if any(line.strip() and not line.lstrip().startswith("#") for line in kept):
                code.append("\n".join(kept).strip("\n"))
        if arg is None:
            raise ValueError(f"notebook {notebook}: no solution cell asserts {checker}(...).passed.")
        solution = "\n\n".join(code) + (f"\n{answer} = {arg}" if arg != answer else "")
        answer_cell = i
        for k in range(i, -1, -1):
            if cells[k]["cell_type"] == "code" and not _is_solution(cells[k]) and _defines(_source(cells[k]), answer):
                answer_cell = k
                break
        found.append(Exercise(
            notebook=notebook, index=len(found) + 1, checker=checker, name=exercise_name(checker),
            answer=answer, answer_cell=answer_cell, check_cell=i, solution_cells=tuple(sol_cells),
            solution=solution.strip("\n"), references=tuple(_REFERENCES.get(checker, refs)),
            grading_args=tuple(_GRADING_ARGS.get(checker, rest))))
    return found


# The hidden part of each graded test cell. It is nbgrader's: restored from the gradebook
# before grading, so a learner can neither edit nor delete it. Everything it needs it imports
# itself, and the checker comes from a fresh import of the course package.
_GRADER = '''\
def _graded_check():
    import importlib, sys, types
    name, answer = {name!r}, {answer}
    owner = getattr(answer, "__module__", "__main__") if callable(answer) else "__main__"
    if owner != "__main__":
        raise AssertionError(f"{{name}}: the answer must be written in this notebook, not taken from {{owner}}.")
    ours = {{k: m for k, m in sys.modules.items() if k.partition(".")[0] in ("course_utils", "course_exercises")}}
    for k in ours:
        del sys.modules[k]
    try:  # a fresh copy of the package: what the learner's cells changed is not in it
        checker = importlib.import_module("course_exercises.{module}").{function}
        fresh = {{m: importlib.import_module("course_utils." + m) for m in {arg_modules!r}}}
        args, kwargs = eval("(lambda *a, **k: (a, k))(" + {args!r} + ")", dict(fresh))
    finally:
        for k in [k for k in sys.modules if k.partition(".")[0] in ("course_utils", "course_exercises")]:
            del sys.modules[k]
        sys.modules.update(ours)

    def tripwire(*args, **kwargs):
        raise AssertionError("this answer calls the course's own solution: write it yourself.")

    tripped = []
    for module, path in {references!r}:
        obj = ours.get("course_utils." + module)
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, types.FunctionType) and not obj.__closure__:
            tripped.append((obj, obj.__code__))
            obj.__code__ = tripwire.__code__
    try:
        result = checker(answer, *args, **kwargs)
    finally:
        for fn, code in tripped:
            fn.__code__ = code
    if not result.passed:
        raise AssertionError(f"{{name}}: {{result.message}}")


_graded_check()
del _graded_check'''


def grader_code(ex: Exercise) -> str:
    """The hidden test code that grades one exercise (see :data:`_GRADER`)."""
    module, _, function = ex.checker.partition(".")
    arg_modules = sorted({m for a in ex.grading_args for m in re.findall(r"\b([a-z_]+)\.", a)
                          if (config.PROJECT_ROOT / "course_utils" / f"{m}.py").exists()})
    return _GRADER.format(name=ex.name, answer=ex.answer, module=module, function=function,
                          arg_modules=arg_modules, args=", ".join(ex.grading_args),
                          references=[list(r) for r in ex.references])


def _nbgrader_meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
                   points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def source_notebook(path: str | Path) -> tuple[dict, list[Exercise]]:
    """nbgrader's source version of a course notebook: each exercise's answer cell with a
    solution region, a graded test cell in place of its hidden solution cells, and the
    checkpoints read-only. Returns the notebook (a dict) and its exercises."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    number = path.name[:2]
    exercises = find_exercises(nb, number)
    cells = nb["cells"]
    by_answer = {ex.answer_cell: ex for ex in exercises}
    by_first_solution = {ex.solution_cells[0]: ex for ex in exercises}
    solution_cells = {j for ex in exercises for j in ex.solution_cells}
    out = []
    for i, cell in enumerate(cells):
        cell = json.loads(json.dumps(cell))
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if i in by_first_solution:
            ex = by_first_solution[i]
            test = (f"# Graded test ({POINTS} point): {ex.name}. nbgrader puts this cell back as it was\n"
                    "# handed out before grading, and checks your answer with its own fresh copy of\n"
                    "# the course's checker (run the checker call above for hints).\n"
                    "### BEGIN HIDDEN TESTS\n" + grader_code(ex) + "\n### END HIDDEN TESTS")
            out.append({"cell_type": "code", "execution_count": None, "id": f"{ex.grade_id}-test",
                        "metadata": {"nbgrader": _nbgrader_meta(f"{ex.grade_id}_test", grade=True, locked=True,
                                                                points=POINTS)},
                        "outputs": [], "source": test.splitlines(keepends=True)})
            continue
        if i in solution_cells:
            continue
        if i in by_answer:
            ex = by_answer[i]
            src = _source(cell)
            region = "### BEGIN SOLUTION\n" + ex.solution + "\n### END SOLUTION\n"
            call = _checker_call(src) if i == ex.check_cell else None
            if call is not None:  # the region goes just before the learner's checker call
                lines = src.splitlines(keepends=True)
                at = call.lineno - 1
                src = "".join(lines[:at]) + region + "".join(lines[at:])
            else:
                src = src.rstrip("\n") + "\n" + region
            cell["source"] = src.rstrip("\n").splitlines(keepends=True)
            cell["metadata"]["nbgrader"] = _nbgrader_meta(f"{ex.grade_id}_answer", solution=True)
        elif _is_checkpoint(cell):
            cell["metadata"]["nbgrader"] = _nbgrader_meta(f"checkpoint_{cell.get('id', i)}", locked=True)
        out.append(cell)
    nb["cells"] = out
    return nb, exercises


def course_notebooks(lang: str = "en") -> list[Path]:
    """The course's numbered notebooks (``notebooks/NN_*.ipynb``, or ``notebooks/zh/`` for
    ``lang="zh"``), the ones with exercises."""
    if lang not in NOTEBOOK_DIRS:
        raise ValueError(f"lang={lang!r} is not a language of the course: use one of {', '.join(NOTEBOOK_DIRS)}.")
    return sorted(NOTEBOOK_DIRS[lang].glob("[0-9][0-9]_*.ipynb"))


def assignment_name(path: str | Path) -> str:
    """The nbgrader assignment of a course notebook: ``nb01`` for ``01_affine_...ipynb``."""
    return "nb" + Path(path).name[:2]


def write_source(course_dir: str | Path = DEFAULT_COURSE_DIR, notebooks: Sequence[str | Path] | None = None, *,
                 lang: str = "en") -> list[Path]:
    """Write nbgrader's course folder: ``source/nbNN/<notebook>.ipynb`` for each course
    notebook (by default all of ``lang``'s) and ``nbgrader_config.py`` (copied from
    ``classroom/``). Writes nothing inside the course's own ``notebooks/`` folder, whose
    solutions it reads."""
    course = Path(course_dir).resolve()
    own = (config.PROJECT_ROOT / "notebooks").resolve()
    if course == own or own in course.parents or course in own.parents:
        raise ValueError(f"the course folder {str(course_dir)!r} would hold or sit in the course's notebooks/: "
                         "choose a folder outside it, e.g. build/classroom.")
    if course.exists() and not course.is_dir():
        raise NotADirectoryError(f"cannot write the course folder to {str(course_dir)!r}: it is a file.")
    sources = [Path(p) for p in notebooks] if notebooks else course_notebooks(lang)
    written = []
    for p in sources:
        nb, exercises = source_notebook(p)
        if not exercises:
            continue
        folder = course / "source" / assignment_name(p)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / p.name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    shutil.copyfile(CLASSROOM_DIR / "nbgrader_config.py", course / "nbgrader_config.py")
    return written


# ------------------------------------------------------------------------------ grading
def kernel_command(kernel_argv: Sequence[str]) -> list[str]:
    """The bubblewrap command that runs a kernel confined (see the module docstring)."""
    cwd = os.getcwd()
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # A course (or its Python) that lives under /tmp stays visible, read-only, over the private /tmp.
    for path in sorted({str(config.PROJECT_ROOT.resolve()), os.path.realpath(sys.prefix),
                        os.path.realpath(sys.base_prefix)}):
        if Path(path).is_relative_to("/tmp"):
            cmd += ["--ro-bind", path, path]
    cmd += ["--bind", cwd, cwd, "--chdir", cwd]
    for arg in kernel_argv:  # the connection file, if it lives under /tmp
        if arg.endswith(".json") and os.path.isfile(arg):
            cmd += ["--ro-bind", arg, arg]
    cmd += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--setenv", "HOME", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
            "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib",
            # ipykernel quits when its parent's pid changes; in the new PID namespace it does,
            # and --die-with-parent does that job here.
            "--unsetenv", "JPY_PARENT_PID", "--", *kernel_argv]
    return cmd


def _confined_kernelspec(folder: Path) -> Path:
    """A Jupyter data folder whose ``python3`` kernel runs through :func:`kernel_command`."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "course_tools.classroom", "kernel", "--",
            sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (confined for grading)", "language": "python"}), encoding="utf-8")
    return folder


@dataclass
class GradingRun:
    """How one submission's ``nbgrader autograde`` ended: ``ok``, ``failed`` or ``timed out``."""

    student: str
    status: str
    seconds: float
    log: str


def _kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment holds ``COURSE_GRADING_RUN=marker``: one run's
    confined kernels, which jupyter_client starts in sessions of their own (killing nbgrader's
    process group misses them); killing a kernel's bubblewrap ends all it started."""
    needle = f"COURSE_GRADING_RUN={marker}".encode()
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            continue  # gone already, or not ours to read
    return killed


def autograde(assignment: str, course_dir: str | Path = DEFAULT_COURSE_DIR, *, students: Sequence[str] | None = None,
              timeout: float = 900, fast: bool = True) -> list[GradingRun]:
    """``nbgrader autograde`` for each submission, one at a time, each in its own process
    group killed after ``timeout`` seconds, so one that fails or hangs never stops the others."""
    course = Path(course_dir)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", assignment):
        raise ValueError(f"the assignment name {assignment!r} should be letters, digits, '_' or '-', e.g. nb01.")
    if not (course / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{str(course)!r} is not a course folder (no nbgrader_config.py): "
                                "run `python -m course_tools.classroom source` first.")
    if shutil.which("bwrap") is None:
        raise RuntimeError("grading confines each kernel with bubblewrap, which is not installed: "
                           "`apt-get install bubblewrap` (Debian/Ubuntu).")
    submitted = course / "submitted"
    known = sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []
    chosen = list(students) if students else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"no submission of {assignment} from {', '.join(unknown)} in {submitted}.")
    nbgrader = Path(sys.executable).with_name("nbgrader")
    runs = []
    with tempfile.TemporaryDirectory(prefix="course-grading-") as tmp:
        env = dict(os.environ, JUPYTER_PATH=os.pathsep.join(
            [str(_confined_kernelspec(Path(tmp) / "jupyter")), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep))
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # alembic
        if fast:
            env["COURSE_FAST"] = "1"
        else:
            env.pop("COURSE_FAST", None)
        for student in chosen:
            marker = os.urandom(8).hex()
            env["COURSE_GRADING_RUN"] = marker
            log_path = Path(tmp) / "autograde.log"
            start = time.perf_counter()
            with open(log_path, "w+", encoding="utf-8") as log:
                proc = subprocess.Popen([str(nbgrader), "autograde", assignment, "--student", student, "--force"],
                                        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                try:
                    rc = proc.wait(timeout=timeout)
                    status = "ok" if rc == 0 else "failed"
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    status = "timed out"
                finally:
                    _kill_marked(marker)  # a kernel nbgrader left behind, and all it started
                log.seek(0)
                text = log.read()
            runs.append(GradingRun(student, status, time.perf_counter() - start, text[-4000:]))
    return runs


def scores(assignment: str, course_dir: str | Path = DEFAULT_COURSE_DIR) -> dict[str, dict[str, float]]:
    """The gradebook's autograded scores of ``assignment``: ``{student: {grade_id: score}}``
    (``ex01_1_test`` is exercise 1's graded test), read through nbgrader's API."""
    from nbgrader.api import Gradebook

    url = f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"
    out: dict[str, dict[str, float]] = {}
    with Gradebook(url) as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student_id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula: text starting with
    ``= + - @`` (or a tab or carriage return) gets a leading ``'``; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


try:
    from nbgrader.api import MissingEntry
    from nbgrader.plugins import ExportPlugin
except ImportError:  # nbgrader is the "classroom" extra; without it the rest still imports
    ExportPlugin = object  # type: ignore[assignment,misc]


class SafeCsvExportPlugin(ExportPlugin):  # type: ignore[misc,valid-type]
    """nbgrader's CSV export (same columns), written by :mod:`csv` (quoting commas and
    quotes) with every cell passed through :func:`csv_safe`. Chosen in nbgrader_config.py."""

    def export(self, gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        if not dest.parent.is_dir():
            raise FileNotFoundError(f"cannot write {str(dest)!r}: the folder {str(dest.parent)!r} does not exist.")
        keys = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                "raw_score", "late_submission_penalty", "score", "max_score"]
        students = {str(s) for s in self.student}
        assignments = {str(a) for a in self.assignment}
        rows = []
        for assignment in gradebook.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for student in gradebook.students:
                if students and student.id not in students:
                    continue
                row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                       "last_name": student.last_name, "first_name": student.first_name,
                       "email": student.email, "max_score": assignment.max_score}
                try:
                    sub = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                else:
                    penalty = sub.late_submission_penalty or 0.0
                    row.update(timestamp=sub.timestamp, raw_score=sub.score, late_submission_penalty=penalty,
                               score=max(0.0, sub.score - penalty))
                rows.append([csv_safe(row[k]) for k in keys])
        tmp = dest.with_name(dest.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(keys)
            writer.writerows(rows)
        tmp.replace(dest)
        self.log.info("Exported grades to %s", dest)


# ------------------------------------------------------------------------------ the hub
HUB_COURSE = "st-nst"  # the course id, and the folder nbgitpuller clones into each home


def _run_nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def prepare_hub(root: str | Path, assignments: Sequence[str] = ("nb01",), open_first: str | None = None) -> dict[str, str]:
    """Everything the local hub (classroom/jupyterhub_config.py) needs under ``root``: the
    course folder with the assignments released, the exchange, the students' nbgrader config
    (``etc/``) and ``handout/``, a git repository of the student versions. Returns the
    folders and the nbgitpuller link that clones the handout and opens the first assignment."""
    root = Path(root).resolve()
    course, exchange, handout = root / "course", root / "exchange", root / "handout"
    for name in assignments:
        if not re.fullmatch(r"nb\d\d", name):
            raise ValueError(f"the assignment {name!r} should be nbNN, e.g. nb01.")
    notebooks = [p for p in course_notebooks() if assignment_name(p) in assignments]
    write_source(course, notebooks)
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as cfg:
        cfg.write(f"\n# this hub (course_tools.classroom.prepare_hub)\nc.CourseDirectory.root = {str(course)!r}\n"
                  f"c.Exchange.root = {str(exchange)!r}\n")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "nbgrader_config.py").write_text(
        "import os\n\nc = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {HUB_COURSE!r}\nc.Exchange.root = {str(exchange)!r}\n"
        "# every server here runs as one Unix user, so the hub's user name is the student id\n"
        "# (on a hub with an account or container per learner nbgrader finds it by itself)\n"
        "c.CourseDirectory.student_id = os.environ.get('JUPYTERHUB_USER', '*')\n"
        "# a student's assignments are in ~/<course id>/<assignment>/, where nbgitpuller puts them\n"
        "c.Exchange.path_includes_course = True\n", encoding="utf-8")
    for name in assignments:
        _run_nbgrader(course, "generate_assignment", name, "--force")
        _run_nbgrader(course, "release_assignment", name, "--force")
    if handout.exists():
        shutil.rmtree(handout)
    shutil.copytree(course / "release", handout)
    git = {**os.environ, "GIT_AUTHOR_NAME": "instructor", "GIT_AUTHOR_EMAIL": "instructor@localhost",
           "GIT_COMMITTER_NAME": "instructor", "GIT_COMMITTER_EMAIL": "instructor@localhost"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-q", "-m", "handout"]):
        subprocess.run(cmd, cwd=handout, env=git, check=True, capture_output=True)
    opened = open_first or assignments[0]
    first = next((course / "release" / opened).glob("*.ipynb")).name
    from urllib.parse import urlencode

    link = "/hub/user-redirect/git-pull?" + urlencode({
        "repo": f"file://{handout}", "branch": "main", "targetpath": HUB_COURSE,
        "urlpath": f"lab/tree/{HUB_COURSE}/{opened}/{first}"})
    return {"link": link, "course": str(course), "exchange": str(exchange), "handout": str(handout)}


def demo(root: str | Path = config.PROJECT_ROOT / "build" / "classroom-hub", port: int = 8000) -> None:
    """Prepare a local hub under ``root`` and run JupyterHub in the foreground (Ctrl+C stops it)."""
    root = Path(root).resolve()
    if shutil.which("configurable-http-proxy") is None:
        raise RuntimeError("JupyterHub's proxy is missing: `npm install -g configurable-http-proxy` "
                           "(Node.js from your package manager).")
    root.mkdir(parents=True, exist_ok=True)
    info = prepare_hub(root, [assignment_name(p) for p in course_notebooks()], open_first="nb01")
    base = f"http://127.0.0.1:{port}"
    print(textwrap.dedent(f"""\
        A classroom on {base} (password for everyone: classroom). In a browser:
          1. log in as alice, then open {base}{info['link']}
             nbgitpuller clones the student versions into ~/{HUB_COURSE} and opens notebook 01;
             run it, answer Exercise 1, save, then Nbgrader > Assignment List > nb01 > Submit;
          2. log out, and do the same as bob (or submit without answering);
          3. as the instructor, in a terminal here:
               cd {info['course']} && PATH={Path(sys.executable).parent}:$PATH nbgrader collect nb01
               {sys.executable} -m course_tools.classroom autograde nb01 --course-dir {info['course']}
               cd {info['course']} && PATH={Path(sys.executable).parent}:$PATH nbgrader export --to grades.csv
             (the instructor account is an ordinary one here; the gradebook is course/gradebook.db).
        Ctrl+C stops the hub; everything lives in {root}."""), flush=True)
    env = dict(os.environ, CLASSROOM_HUB_ROOT=str(root), CLASSROOM_HUB_PORT=str(port))
    hub = [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CLASSROOM_DIR / "jupyterhub_config.py")]
    subprocess.run(hub, cwd=root, env=env, check=False)


# ------------------------------------------------------------------------------ measurement
def run_notebook(nb, *, fast: bool, timeout: int, allow_errors: bool) -> None:
    """Execute ``nb`` (filled in place) in a fresh kernel from a temporary ``notebooks/``
    folder beside the course's data, for ``benchmarks/notebook_times.py``. ``timeout`` is
    per cell; ``allow_errors`` goes on past a cell that raises or times out."""
    from nbclient import NotebookClient

    kernel_env = dict(os.environ)
    if fast:
        kernel_env["COURSE_FAST"] = "1"
    else:
        kernel_env.pop("COURSE_FAST", None)
    with tempfile.TemporaryDirectory(prefix="course-run-") as root:
        folder = Path(root) / "notebooks"
        folder.mkdir()
        if (config.PROJECT_ROOT / "data").is_dir():  # "../data/..." resolves as in the course
            (Path(root) / "data").symlink_to(config.PROJECT_ROOT / "data", target_is_directory=True)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                interrupt_on_timeout=allow_errors, resources={"metadata": {"path": str(folder)}},
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        client.execute(env=kernel_env, cwd=str(folder))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.classroom",
                                     description="The course's classroom tools around nbgrader.")
    commands = parser.add_subparsers(dest="command", required=True)
    src = commands.add_parser("source", help="write nbgrader's course folder (source/nbNN/, nbgrader_config.py)")
    src.add_argument("course_dir", nargs="?", help="default build/classroom, build/classroom-zh with --lang zh")
    src.add_argument("notebooks", nargs="*", help="course notebooks to convert (default: all)")
    src.add_argument("--lang", choices=sorted(NOTEBOOK_DIRS), default="en", help="zh: from notebooks/zh/")
    grade = commands.add_parser("autograde", help="nbgrader autograde, one confined run per submission "
                                                  "(it runs the learners' code)")
    grade.add_argument("assignment", help="the assignment, e.g. nb01")
    grade.add_argument("--course-dir", default=str(DEFAULT_COURSE_DIR), help="default build/classroom")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--timeout", type=float, default=900, help="seconds per submission (default 900)")
    grade.add_argument("--full", action="store_true", help="full mode instead of fast mode (slower)")
    dem = commands.add_parser("demo", help="a local JupyterHub with an instructor and two students")
    dem.add_argument("--port", type=int, default=8000)
    kernel = commands.add_parser("kernel", help=argparse.SUPPRESS)
    kernel.add_argument("kernel_argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "kernel":
        cmd = kernel_command([a for a in args.kernel_argv if a != "--"])
        os.execvp(cmd[0], cmd)
    try:
        if args.command == "demo":
            demo(port=args.port)
            return 0
        if args.command == "source":
            course_dir = args.course_dir or str(DEFAULT_COURSE_DIR) + ("" if args.lang == "en" else f"-{args.lang}")
            written = write_source(course_dir, args.notebooks or None, lang=args.lang)
            print(f"wrote {len(written)} source notebook(s) and nbgrader_config.py to {course_dir}")
            print(f"next: cd {course_dir} && nbgrader generate_assignment nb01   (the student version, in release/)")
            return 0
        runs = autograde(args.assignment, args.course_dir, students=args.student, timeout=args.timeout,
                         fast=not args.full)
    except (ValueError, NotADirectoryError, FileNotFoundError, RuntimeError) as exc:
        parser.error(str(exc))
    for run in runs:
        print(f"{run.student}: {run.status} ({run.seconds:.0f} s)")
        if run.status != "ok":
            print(textwrap.indent(run.log[-1500:], "    "))
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
