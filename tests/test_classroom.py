"""The teacher's tools. The exercise report runs a learner's notebook in a real kernel and reads the
checkers' verdicts: right, template, wrong and missing answers, solution cells that must
not count, and checkpoints that fail."""

from __future__ import annotations

import csv

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools import classroom

SETUP = "from course_utils import geometry\nfrom course_utils.exercises import ex01"
RIGHT_EX1 = "def my_rotation(d, a):\n    return geometry.rotation_theta(d, aspect=a)\n\nex01.check_rotation_theta(my_rotation)"
WRONG_EX2 = "ex01.check_invert(lambda theta: theta)"
SOLUTION_EX2 = "assert ex01.check_invert(geometry.invert).passed"


def _notebook(path, *cells, title="# 01 · Sampling grids"):
    nb = new_notebook(cells=[new_markdown_cell(title), new_code_cell(SETUP), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _solution(source):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["solution"]
    return cell


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    """Exercise 1 right, exercise 2 wrong (the hidden solution after it would pass it),
    one checkpoint broken and one holding."""
    path = tmp_path_factory.mktemp("sub") / "alice_01.ipynb"
    _notebook(
        path,
        new_code_cell(RIGHT_EX1),
        new_code_cell(WRONG_EX2),
        _solution(SOLUTION_EX2),
        new_code_cell("# Checkpoint: the lesson\nassert 1 + 1 == 3, 'the lesson broke'"),
        new_code_cell("# Checkpoint: config is in fast mode\nfrom course_utils import config\nassert config.FAST"),
    )
    return classroom.report_notebook(path, timeout=120)


def test_report_reads_each_exercise_verdict(learner):
    assert learner.notebook == "01" and learner.problem is None
    verdicts = {v.checker: v for v in learner.exercises}
    assert list(verdicts) == ["ex01.check_rotation_theta", "ex01.check_invert"]
    assert verdicts["ex01.check_rotation_theta"].status == "passed"
    # The hidden solution cell passes exercise 2, but it is removed before the run.
    assert verdicts["ex01.check_invert"].status == "wrong"
    assert "torch.linalg.inv" in verdicts["ex01.check_invert"].message  # the checker's hint
    assert learner.exercises_passed == 1


def test_report_counts_checkpoints_and_keeps_cell_numbers(learner):
    assert (learner.checkpoints_passed, learner.checkpoints_total) == (1, 2)
    by_cell = {e.cell: e for e in learner.errors}
    assert sorted(by_cell) == [3, 5]  # the learner's own numbering (title = 0, setup = 1)
    assert by_cell[5].checkpoint and "the lesson broke" in by_cell[5].error
    assert not by_cell[3].checkpoint and by_cell[3].error.startswith("AssertionError")
    text = classroom.format_report([learner])
    assert "✅ Exercise 1 (rotation θ)" in text and "checkpoints 1/2 passed" in text


def test_deleted_and_template_exercises(tmp_path):
    path = _notebook(tmp_path / "bob.ipynb", new_code_cell("ex01.check_rotation_theta(None)"))
    r = classroom.report_notebook(path, timeout=120)
    statuses = [v.status for v in r.exercises]
    assert statuses == ["not attempted", "not run"]
    assert "never called" in r.exercises[1].message
    assert r.exercises[1].name == "Exercise 2 (invert θ)"  # its name, though it never ran


def test_unreadable_notebook_is_reported_not_raised(tmp_path):
    junk = tmp_path / "carol_04.ipynb"
    junk.write_text("{ not json")
    r = classroom.report_notebook(junk)
    assert r.problem and r.problem.startswith("not a readable notebook")
    assert r.exercises == []


def test_expected_checkers_follow_the_exercise_order():
    assert classroom.expected_checkers("04") == ["ex04.check_style_loss", "ex04.check_tv_loss"]
    assert classroom.expected_checkers("99") == []


def test_notebook_number_from_title_then_file_name(tmp_path):
    titled = nbformat.v4.new_notebook(cells=[new_markdown_cell("# 05 · Spatial transforms")])
    assert classroom.notebook_number(titled, tmp_path / "x.ipynb") == "05"
    untitled = nbformat.v4.new_notebook(cells=[new_markdown_cell("my notes")])
    assert classroom.notebook_number(untitled, tmp_path / "dave_03_features.ipynb") == "03"
    assert classroom.notebook_number(untitled, tmp_path / "notes.ipynb") is None


def test_paths_and_csv(tmp_path, learner):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.ipynb").write_text("{}")
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "a" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    assert classroom.notebook_paths([tmp_path / "a"]) == [tmp_path / "a" / "x.ipynb"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        classroom.notebook_paths([tmp_path / "missing"])
    with pytest.raises(ValueError, match="not a notebook"):
        classroom.notebook_paths([__file__])

    out = classroom.write_csv([learner], tmp_path / "grades.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["item"], r["status"]) for r in rows] == [
        ("Exercise 1 (rotation θ)", "passed"), ("Exercise 2 (invert θ)", "wrong"), ("checkpoints", "1/2")]
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left
    with pytest.raises(ValueError, match=r"\.csv"):
        classroom.write_csv([learner], tmp_path / "grades.txt")


def test_the_course_notebook_as_handed_out_has_nothing_passed_yet():
    """Notebook 01 as a learner receives it: its solution cells are removed, so both
    exercises are "not attempted", and every checkpoint holds."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "notebooks" / "01_affine_grid_and_grid_sample.ipynb"
    r = classroom.report_notebook(path, timeout=300)
    assert r.problem is None and r.errors == []
    assert [v.status for v in r.exercises] == ["not attempted", "not attempted"]
    assert r.checkpoints_total >= 3 and r.checkpoints_passed == r.checkpoints_total


def test_handout_drops_solutions_and_outputs(tmp_path):
    written = classroom.write_handout(tmp_path / "handout")
    course = classroom.course_notebooks()
    assert [p.name for p in written] == [p.name for p in course] and len(course) == 8
    for original, copy in zip(course, written, strict=True):
        before, after = nbformat.read(original, as_version=4), nbformat.read(copy, as_version=4)
        n_solutions = sum("solution" in c.metadata.get("tags", []) for c in before.cells)
        assert n_solutions >= 2  # one or more per exercise: a '#@save' solution, then its checker
        assert len(after.cells) == len(before.cells) - n_solutions
        assert not any("solution" in c.metadata.get("tags", []) for c in after.cells)
        assert after.metadata["kernelspec"]["name"] == "python3"
    assert not list((tmp_path / "handout").glob(".tmp-*"))  # no temporary file left
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="name a folder"):
        classroom.write_handout(tmp_path / "file")
    with pytest.raises(FileNotFoundError, match="not a notebook file"):
        classroom.write_handout(tmp_path / "h2", [tmp_path / "missing.ipynb"])


def test_command_line(tmp_path, capsys):
    assert classroom.main(["handout", str(tmp_path / "h"), str(classroom.course_notebooks()[0])]) == 0
    assert "wrote 1 notebook(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        classroom.main(["report", str(tmp_path / "nothing-here")])
    assert "does not exist" in capsys.readouterr().err


def test_every_checker_has_a_name_the_report_can_read():
    for number in ("00", "01", "02", "03", "04", "05", "06", "07"):
        checkers = classroom.expected_checkers(number)
        names = [classroom.exercise_name(c) for c in checkers]
        assert [n.split(" (")[0] for n in names] == ["Exercise 1", "Exercise 2"], names
        assert all(n.endswith(")") for n in names), names


def test_relative_data_paths_resolve_as_in_the_notebooks_folder(tmp_path):
    """Notebook 00 teaches "../data/content/coffee.jpg" (relative to notebooks/): the
    report must run the learner's notebook where that path works."""
    nb = new_notebook(cells=[
        new_markdown_cell("# 00 · Set-up"),
        new_code_cell("from course_utils import images\nfrom course_utils.exercises import ex00\n"
                      "coffee = images.load_image('../data/content/coffee.jpg', max_side=256)\n"
                      "ex00.check_loaded_image(coffee)\nopen('written-here.txt', 'w').write('x')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "erin.ipynb")
    r = classroom.report_notebook(tmp_path / "erin.ipynb", timeout=120)
    assert r.errors == [] and r.exercises[0].status == "passed"
    assert not (classroom.config.PROJECT_ROOT / "notebooks" / "written-here.txt").exists()
    assert not (tmp_path / "written-here.txt").exists()


def test_summary_has_one_aligned_line_per_notebook(learner, tmp_path):
    junk = tmp_path / "zed.ipynb"
    junk.write_text("not a notebook")
    summary = classroom.format_summary([learner, classroom.report_notebook(junk)])
    header, alice, zed = summary.splitlines()
    assert header.split() == ["file", "notebook", "exercise", "1", "exercise", "2", "checkpoints"]
    assert alice.split() == ["alice_01.ipynb", "01", "passed", "wrong", "1/2"]
    assert zed.split() == ["zed.ipynb", "?", "0/0", "(problem)"]
    assert alice.index("passed") == header.index("exercise 1")  # columns line up
    assert summary in classroom.format_report([learner, classroom.report_notebook(junk)])
