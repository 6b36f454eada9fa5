"""Exercise checkers of notebook 06: the notebook's solutions pass, templates are "not yet",
and wrong answers (a constant file name, a stop callback with the wrong boundary) fail with
a message that names what is wrong."""

from __future__ import annotations

import json
import re

import pytest

from course_exercises import ex06
from course_utils import config, studio

NOTEBOOK = config.PROJECT_ROOT / "notebooks" / "06_interactive_studio.ipynb"


def _solution(name: str):
    """The function ``name`` defined by the notebook's solution cells."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if "solution" in cell["metadata"].get("tags", []) and f"def {name}(" in source:
            namespace = {"ex06": ex06}
            exec(source, namespace)  # defines the function and asserts that its checker passes
            return namespace[name]
    raise AssertionError(f"no solution cell defines {name} in {NOTEBOOK.name}")


def test_the_notebook_solutions_pass():
    assert ex06.check_stop_callback(_solution("solution_stop_when_styled")).passed
    safe_name = _solution("safe_name")  # a '#@save studio' cell: the studio's own function
    assert ex06.check_safe_name(safe_name).passed
    assert safe_name("../../Mona Lisa.PNG") == "mona-lisa-png"  # the example the exercise gives
    assert ex06.check_safe_name(studio.safe_name).passed


def test_templates_are_not_attempted():
    assert not ex06.check_stop_callback(lambda step, image, losses: None).passed

    def template(name):
        raise NotImplementedError

    assert not ex06.check_safe_name(template).passed


def test_a_constant_name_fails_and_says_why():
    with pytest.raises(AssertionError, match="readable part.*'Mona Lisa.PNG' gave 'image'"):
        ex06.check_safe_name(lambda name: "image")


def test_names_that_collide_fail_and_say_why():
    def mona_only(name):
        return "mona-lisa" if "mona" in name.lower() else "image"

    with pytest.raises(AssertionError, match="different names must give different results"):
        ex06.check_safe_name(mona_only)


def test_a_harmful_name_still_fails():
    with pytest.raises(AssertionError, match="characters other than"):
        ex06.check_safe_name(lambda name: name or "image")


def test_stopping_at_exactly_the_threshold_fails_and_says_why():
    with pytest.raises(AssertionError, match=re.escape("exactly 0.05") + ".*use <, not <="):
        ex06.check_stop_callback(lambda step, image, losses: losses["style"] <= 0.05)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda step, image, losses: losses["style"] < 0.01, "below 0.05"),
        (lambda step, image, losses: losses["style"] > 0.05, "at or above 0.05"),
        (lambda step, image, losses: True, "at or above 0.05"),
    ],
)
def test_other_wrong_callbacks_fail_with_a_hint(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex06.check_stop_callback(wrong)
