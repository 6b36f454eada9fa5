"""The classroom on nbgrader (course_tools.classroom): the assignments made from the course's
notebooks, and grading that hostile submissions cannot forge (issue 17's attacks, one
learner each, graded by the real `nbgrader autograde` with the kernel under bubblewrap)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_tools import classroom
from course_utils import config, data

NBGRADER = Path(sys.executable).with_name("nbgrader")
NB01 = config.PROJECT_ROOT / "notebooks" / "01_affine_grid_and_grid_sample.ipynb"
needs_nbgrader = pytest.mark.skipif(not NBGRADER.exists(), reason="nbgrader (the classroom extra) is not installed")
# The graded runs take minutes (one nbgrader autograde per submission): `make classroom-test`
# runs them (COURSE_CLASSROOM_TESTS=1), and .ci/run runs that after `make test`.
graded_runs = pytest.mark.skipif(os.environ.get("COURSE_CLASSROOM_TESTS") != "1",
                                 reason="the graded classroom runs are `make classroom-test`'s")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)")


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([str(NBGRADER.parent), os.environ["PATH"]]))
    return subprocess.run([str(NBGRADER), *args], cwd=course, env=env, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------ assignments
@pytest.mark.parametrize("path", classroom.course_notebooks(), ids=lambda p: p.name[:2])
def test_every_notebook_becomes_an_assignment_with_two_graded_exercises(path):
    nb, exercises = classroom.source_notebook(path)
    number = path.name[:2]
    assert [e.checker for e in exercises] == classroom.expected_checkers(number)
    meta = [c["metadata"].get("nbgrader") for c in nb["cells"]]
    tests = [m for m in meta if m and m["grade"]]
    answers = [m for m in meta if m and m["solution"]]
    assert [m["grade_id"] for m in tests] == [f"ex{number}_1_test", f"ex{number}_2_test"]
    assert all(m["locked"] and m["points"] == 1 for m in tests)
    assert [m["grade_id"] for m in answers] == [f"ex{number}_1_answer", f"ex{number}_2_answer"]
    checkpoints = [c for c in nb["cells"] if classroom._is_checkpoint(c)]
    assert checkpoints and all(c["metadata"]["nbgrader"]["locked"] for c in checkpoints)
    # no hidden course solution cell is left; each answer cell holds one solution region
    assert not any(classroom._is_solution(c) for c in nb["cells"])
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["metadata"].get("nbgrader", {}).get("solution"):
            assert src.count("### BEGIN SOLUTION") == 1 and src.count("### END SOLUTION") == 1
        if c["metadata"].get("nbgrader", {}).get("grade"):
            hidden = src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            compile(hidden, "test cell", "exec")
            assert "EXERCISE_LOG" not in src and "import course_tools" not in src


def test_the_source_is_never_written_into_the_course_notebooks(tmp_path):
    with pytest.raises(ValueError, match="notebooks/"):
        classroom.write_source(config.PROJECT_ROOT / "notebooks")
    with pytest.raises(ValueError, match="notebooks/"):
        classroom.write_source(config.PROJECT_ROOT / "notebooks" / "classroom")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        classroom.write_source(tmp_path / "file")


def test_the_chinese_notebooks_become_the_same_assignments_in_chinese(tmp_path):
    """`classroom source --lang zh` builds every assignment from notebooks/zh/: the same graded
    cells, byte for byte, as the English assignment, with the Chinese prose and language tag."""
    zh = classroom.course_notebooks("zh")
    assert [p.name for p in zh] == [p.name for p in classroom.course_notebooks()]
    assert classroom.main(["source", str(tmp_path), "--lang", "zh"]) == 0
    for path in zh:
        built = json.loads((tmp_path / "source" / classroom.assignment_name(path) / path.name).read_text("utf-8"))
        english, _ = classroom.source_notebook(classroom.NOTEBOOK_DIRS["en"] / path.name)
        code = [(c["cell_type"], c["source"], c["metadata"]) for c in english["cells"] if c["cell_type"] == "code"]
        assert [(c["cell_type"], c["source"], c["metadata"]) for c in built["cells"]
                if c["cell_type"] == "code"] == code, path.name
        prose = "".join("".join(c["source"]) for c in built["cells"] if c["cell_type"] == "markdown")
        assert re.search(r"[\u4e00-\u9fff]{20}", prose) and built["metadata"]["language"] == "zh-CN", path.name
    with pytest.raises(ValueError, match="lang='fr' is not a language of the course"):
        classroom.course_notebooks("fr")


def test_csv_cells_never_start_a_formula():
    assert classroom.csv_safe("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    for text in ("+1+1", "-2+3", "@SUM(A1)", "\t=1"):
        assert classroom.csv_safe(text) == "'" + text
    assert classroom.csv_safe("-1.5") == "-1.5" and classroom.csv_safe(-1.5) == "-1.5"
    assert classroom.csv_safe("alice") == "alice" and classroom.csv_safe(None) == ""


def test_checkers_keep_no_log_a_learner_could_write():
    import course_exercises as exercises
    from course_exercises import _core

    assert not hasattr(exercises, "LOG_ENV") and not hasattr(_core, "_log_verdict")


# ------------------------------------------------------------------------------ hostile submissions
# Each learner's exercise-1 answer cell; exercise 2 stays the template in all of them.
_CORRECT = '''\
import math


def my_rotation_theta(degrees, aspect=1.0):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return torch.tensor([[c, -s / aspect, 0.0], [s * aspect, c, 0.0]])
'''
ATTACKS = {
    "honest": _CORRECT,
    # a "passed" line in the file the old report read its verdicts from
    "logfaker": '''\
import json, os
os.environ["COURSE_EXERCISE_LOG"] = os.path.abspath("verdicts.jsonl")
with open("verdicts.jsonl", "a") as log:
    log.write(json.dumps({"checker": "ex01.check_rotation_theta", "name": "Exercise 1 (rotation θ)",
                          "status": "passed", "message": "ok"}) + "\\n")
print("✅ Exercise 1 (rotation θ): your θ rotates the right way, with the aspect correction.")
my_rotation_theta = None
''',
    # the public check() called from a function that claims to be ex01's checker
    "framefaker": '''\
from course_exercises import check
fake = {"__name__": "course_exercises.ex01", "check": check}
exec("def check_rotation_theta(fn):\\n    return check('Exercise 1 (rotation θ)', fn, lambda a: None, 'ok')", fake)
my_rotation_theta = lambda degrees, aspect=1.0: torch.zeros(2, 3)
assert fake["check_rotation_theta"](my_rotation_theta).passed
''',
    # the reference and the checker replaced before the graded test runs
    "patcher": '''\
import course_utils.geometry
from course_exercises import _core, ex01
my_rotation_theta = lambda degrees, aspect=1.0: torch.zeros(2, 3)
course_utils.geometry.rotation_theta = my_rotation_theta
geometry.rotation_theta = my_rotation_theta
ex01.geometry = type("FakeGeometry", (), {"rotation_theta": staticmethod(my_rotation_theta)})
ex01.check_rotation_theta = lambda fn: _core.CheckResult("Exercise 1 (rotation θ)", True, "ok")
_core.CheckResult.passed = property(lambda self: True)
''',
    # the package's own solution handed in as the answer
    "copier": "my_rotation_theta = geometry.rotation_theta\n",
    # ... or called from a function of the learner's (by name, and held beforehand)
    "wrapper": '''\
def my_rotation_theta(degrees, aspect=1.0):
    return geometry.rotation_theta(degrees, aspect=aspect)
''',
    "holder": '''\
_held = geometry.rotation_theta


def my_rotation_theta(degrees, aspect=1.0):
    return _held(degrees, aspect)
''',
    # code that reaches outside its folder: a detached process that outlives the kernel and
    # rewrites the gradebook afterwards, writes into the gradebook, the next learner's
    # notebook, the source and the course's data, and kills its parent
    "escaper": '''\
import os, pathlib, subprocess
here = pathlib.Path.cwd()
course = here.parents[2]
subprocess.Popen(["sh", "-c", f"sleep 6; echo pwned > {course}/pwned.txt; : > {course}/gradebook.db"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for target in [course / "gradebook.db", course / "pwned.txt", data.DATA_DIR / "pwned.txt",
               *course.glob("submitted/honest/nb01/*.ipynb"), *course.glob("source/nb01/*.ipynb")]:
    try:
        with open(target, "a") as f:
            f.write("pwned")
        print("wrote", target)
    except OSError as exc:
        print("refused", target, type(exc).__name__)
os.kill(os.getppid(), 9)
my_rotation_theta = None
''',
}


def _mini_source(course: Path) -> None:
    """nb01's source notebook cut to its set-up cell and its exercises (answer and graded test
    cells, made by course_tools.classroom from the real notebook), so that each submission
    runs in seconds; the grading code is exactly the full notebook's."""
    classroom.write_source(course, [NB01])
    path = course / "source" / "nb01" / NB01.name
    nb = json.loads(path.read_text())
    keep = []
    for i, cell in enumerate(nb["cells"]):
        src = "".join(cell["source"])
        grader = cell["metadata"].get("nbgrader", {})
        if i == 0 or "from course_exercises import ex01" in src or grader.get("solution") or grader.get("grade"):
            keep.append(cell)
    nb["cells"] = keep
    path.write_text(json.dumps(nb, indent=1))


def _submit(course: Path, student: str, answer1: str | None, *, broken: bool = False, hang: bool = False) -> Path:
    release = next((course / "release" / "nb01").glob("*.ipynb"))
    nb = json.loads(release.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "ex01_1_answer" and answer1 is not None:
            cell["source"] = answer1 + "\nex01.check_rotation_theta(my_rotation_theta)\n"
    if hang:  # a cell that ignores the interrupt and never ends
        nb["cells"].insert(1, {"cell_type": "code", "execution_count": None, "id": "hang", "metadata": {},
                               "outputs": [], "source": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                                        "while True:\n    pass\n"})
    if broken:  # a code cell without a source: not a valid notebook
        del nb["cells"][1]["source"]
    folder = course / "submitted" / student / "nb01"
    folder.mkdir(parents=True)
    (folder / release.name).write_text(json.dumps(nb))
    (folder / "timestamp.txt").write_text("2026-12-06 03:00:00.000000 UTC")
    return folder / release.name


@pytest.fixture(scope="module")
def graded():
    """A course folder (outside /tmp: the grader's kernel gets a private /tmp) with nb01
    released, one submission per attack plus a broken and a hanging one, all autograded."""
    build = config.PROJECT_ROOT / "build"
    build.mkdir(exist_ok=True)
    course = Path(tempfile.mkdtemp(prefix="test-classroom-", dir=build))
    try:
        _mini_source(course)
        done = _nbgrader(course, "generate_assignment", "nb01", "--force")
        assert done.returncode == 0, done.stderr[-2000:]
        for student, answer in ATTACKS.items():
            _submit(course, student, answer)
        _submit(course, "broken", None, broken=True)
        _submit(course, "hang", None, hang=True)
        honest = hashlib.sha256(next((course / "submitted" / "honest" / "nb01").glob("*.ipynb")).read_bytes()).digest()
        source = hashlib.sha256(next((course / "source" / "nb01").glob("*.ipynb")).read_bytes()).digest()
        runs = classroom.autograde("nb01", course, students=[*ATTACKS, "broken"], timeout=300)
        runs += classroom.autograde("nb01", course, students=["hang"], timeout=20)
        time.sleep(8)  # longer than the escaper's detached process would have slept
        yield course, {r.student: r for r in runs}, classroom.scores("nb01", course), honest, source
    finally:
        shutil.rmtree(course, ignore_errors=True)


@graded_runs
@needs_nbgrader
@needs_bwrap
def test_only_the_honest_answer_scores(graded):
    course, runs, scores, _, _ = graded
    assert scores["honest"] == {"ex01_1_test": 1.0, "ex01_2_test": 0.0}, runs["honest"].log
    for student in ATTACKS:
        assert runs[student].status == "ok", (student, runs[student].log)
        if student != "honest":
            assert scores[student]["ex01_1_test"] == 0.0, student


@graded_runs
@needs_nbgrader
@needs_bwrap
def test_graded_tests_say_why_a_forged_answer_failed(graded):
    course, _, _, _, _ = graded
    def test_output(student):
        nb = json.loads(next((course / "autograded" / student / "nb01").glob("*.ipynb")).read_text())
        cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex01_1_test")
        return json.dumps(cell["outputs"])
    assert "written in this notebook" in test_output("copier")
    assert "calls the course" in test_output("wrapper") and "calls the course" in test_output("holder")
    assert "not quite" in test_output("patcher")


@graded_runs
@needs_nbgrader
@needs_bwrap
def test_submissions_cannot_reach_outside_their_folder(graded):
    course, _, scores, honest, source = graded
    assert not (course / "pwned.txt").exists()
    assert not (data.DATA_DIR / "pwned.txt").exists()
    assert (course / "gradebook.db").stat().st_size > 0 and scores["honest"]["ex01_1_test"] == 1.0
    assert hashlib.sha256(next((course / "submitted" / "honest" / "nb01").glob("*.ipynb")).read_bytes()).digest() == honest
    assert hashlib.sha256(next((course / "source" / "nb01").glob("*.ipynb")).read_bytes()).digest() == source
    nb = json.loads(next((course / "autograded" / "escaper" / "nb01").glob("*.ipynb")).read_text())
    out = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert "wrote" not in out and out.count("refused") >= 4, out[:2000]


def _processes_naming(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@graded_runs
@needs_nbgrader
@needs_bwrap
def test_a_broken_or_hanging_submission_costs_only_its_own_grade(graded):
    course, runs, scores, _, _ = graded
    assert _processes_naming(course) == []  # no kernel outlives its grading run
    assert runs["broken"].status == "failed" and not any(scores.get("broken", {}).values())
    assert runs["hang"].status == "timed out" and runs["hang"].seconds < 60
    print({r.student: round(r.seconds) for r in runs.values()})  # seconds per submission, for the record
    assert len([s for s in ATTACKS if s in scores]) == len(ATTACKS)


@graded_runs
@needs_nbgrader
def test_export_escapes_formulas_and_checks_its_folder_first(graded):
    course = graded[0]
    added = _nbgrader(course, "db", "student", "add", "mallory", "--first-name==HYPERLINK(\"http://evil\")",
                      "--last-name=@SUM(A1)")
    assert added.returncode == 0, added.stderr[-2000:]
    done = _nbgrader(course, "export", "--to", "grades.csv")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((course / "grades.csv").open()))
    mallory = next(r for r in rows if r["student_id"] == "mallory")
    assert mallory["first_name"] == "'=HYPERLINK(\"http://evil\")" and mallory["last_name"] == "'@SUM(A1)"
    honest = next(r for r in rows if r["student_id"] == "honest" and r["assignment"] == "nb01")
    assert float(honest["score"]) == 1.0
    missing = _nbgrader(course, "export", "--to", "no_such_folder/grades.csv")
    assert missing.returncode != 0 and "does not exist" in missing.stdout + missing.stderr
