"""Single source: every '#@save MODULE' cell of a notebook is the package's own code.

The first test is the check itself over the course; the others show it failing on drift,
so that it cannot pass by checking nothing.
"""

import inspect

import nbformat
import pytest

from course_tools import single_source
from course_utils import geometry


def test_the_notebooks_teach_the_package_code():
    found = single_source.problems()
    assert not found, "\n\n".join(found)


def _notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · test")] + [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / "99_test.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_faithful_copy_passes_even_with_a_shorter_docstring(tmp_path):
    code = inspect.getsource(geometry.identity_theta)
    short = code.replace(inspect.getdoc(geometry.identity_theta).split("\n")[0], "The identity.", 1)
    path = _notebook(tmp_path, "#@save geometry\nimport torch\n\n" + short)
    assert [c.index for c in single_source.saved_cells(path)] == [1]
    assert single_source.problems([path]) == []


def test_drift_is_reported_with_the_cell_the_name_and_a_diff(tmp_path):
    code = inspect.getsource(geometry.identity_theta)
    drifted = code.replace("1.0", "1.5", 1) if "1.0" in code else code.replace("1", "2", 1)
    assert drifted != code
    path = _notebook(tmp_path, "#@save geometry\n" + drifted)
    (problem,) = single_source.problems([path])
    assert problem.startswith("99_test.ipynb cell 1: identity_theta differs from course_utils/geometry.py's")
    assert "\n-" in problem and "\n+" in problem


def test_unknown_names_modules_and_stray_statements_are_reported(tmp_path):
    path = _notebook(
        tmp_path,
        "#@save geometry\ndef not_in_the_package():\n    return 1\n",
        "#@save no_such_module\ndef f():\n    pass\n",
        "#@save geometry\nx = 3\n",
    )
    found = single_source.problems([path])
    assert any("defines not_in_the_package but course_utils/geometry.py has no not_in_the_package" in p for p in found)
    assert any("course_utils/no_such_module.py does not exist" in p for p in found)
    assert any("line 2 is neither an import nor a definition" in p for p in found)
    assert any("defines nothing" in p for p in found)


def test_the_command_line_exits_non_zero_on_drift(tmp_path, capsys):
    path = _notebook(tmp_path, "#@save geometry\ndef identity_theta():\n    return None\n")
    assert single_source.main([str(path)]) == 1
    assert "identity_theta differs" in capsys.readouterr().out


@pytest.mark.parametrize("first_line", ["#@save losses", "# @save losses", "#@save course_utils.losses"])
def test_the_marker_spellings(tmp_path, first_line):
    path = _notebook(tmp_path, first_line + "\nimport torch\n")
    (cell,) = single_source.saved_cells(path)
    assert cell.module == "losses"
