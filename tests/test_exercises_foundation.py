"""The checkers of notebooks 00 and 01 accept right answers, reject wrong ones, and
treat unfinished templates gently."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_exercises import ex00, ex01
from course_utils import data, geometry, images


def test_template_answers_are_not_attempted_not_errors(capsys):
    assert not ex01.check_rotation_theta(None)
    assert not ex01.check_invert(None)
    assert not ex00.check_loaded_image(None)

    def unfinished(theta):
        raise NotImplementedError

    assert not ex01.check_invert(unfinished)
    assert "not attempted" in capsys.readouterr().out


def test_rotation_checker():
    assert ex01.check_rotation_theta(geometry.rotation_theta).passed
    with pytest.raises(AssertionError, match="wrong way"):
        ex01.check_rotation_theta(lambda d, a: geometry.rotation_theta(-d, a))
    with pytest.raises(AssertionError, match="aspect"):
        ex01.check_rotation_theta(lambda d, a: geometry.rotation_theta(d))


def test_invert_checker():
    assert ex01.check_invert(geometry.invert).passed
    with pytest.raises(AssertionError, match="identity"):
        ex01.check_invert(lambda t: t[..., :2, :] * torch.tensor([[1.0, 1.0, -1.0]]))


def test_loaded_image_checker_accepts_the_right_photo():
    right = images.load_image(data.DATA_DIR / "content" / "coffee.jpg", max_side=256)
    assert ex00.check_loaded_image(right, max_side=256).passed
    # another sensible resize of the same photo is close enough
    full = images.load_image(data.DATA_DIR / "content" / "coffee.jpg")
    other_resize = F.interpolate(full, size=right.shape[-2:], mode="area")
    assert ex00.check_loaded_image(other_resize, max_side=256).passed


def test_loaded_image_checker_rejects_wrong_answers():
    right = images.load_image(data.DATA_DIR / "content" / "coffee.jpg", max_side=256)
    with pytest.raises(AssertionError, match="pixels differ"):
        ex00.check_loaded_image(torch.rand(right.shape), max_side=256)
    with pytest.raises(AssertionError, match="is 256×170 px.*yours is 8×8 px"):
        ex00.check_loaded_image(torch.rand(1, 3, 8, 8), max_side=256)
    with pytest.raises(AssertionError, match="yours is 200×133 px"):
        ex00.check_loaded_image(data.content_image("chelsea", max_side=200), max_side=256)
    # chelsea at 256 px happens to have coffee's shape: the pixels tell them apart
    chelsea = data.content_image("chelsea", max_side=256)
    assert chelsea.shape == right.shape
    with pytest.raises(AssertionError, match="pixels differ"):
        ex00.check_loaded_image(chelsea, max_side=256)
    with pytest.raises(AssertionError, match="longest side"):
        ex00.check_loaded_image(images.load_image(data.DATA_DIR / "content" / "coffee.jpg"))
    with pytest.raises(AssertionError, match="shape"):
        ex00.check_loaded_image(right[0])
    with pytest.raises(AssertionError, match=r"\[0, 1\]"):
        ex00.check_loaded_image(right * 255)


def test_mean_colour_checker():
    img = torch.rand(1, 3, 100, 256)
    assert ex00.check_mean_colour(img.mean(dim=(0, 2, 3)), img).passed
    with pytest.raises(AssertionError, match="expected about"):
        ex00.check_mean_colour(img.mean(dim=(0, 1, 2))[:3], img)


def test_studio_checkers():
    from course_exercises import ex06
    from course_utils.studio import safe_name

    assert ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.05).passed
    assert not ex06.check_stop_callback(lambda step, image, losses: None).passed
    with pytest.raises(AssertionError, match="below 0.05"):
        ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.01)
    assert ex06.check_safe_name(lambda n: safe_name(n)).passed
    with pytest.raises(AssertionError, match="characters"):
        ex06.check_safe_name(lambda n: n or "image")


def test_checkers_use_only_public_names_of_course_utils_which_never_imports_them():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "course_exercises").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and n.module == "course_utils" for a in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                assert not [a.name for a in node.names if a.name.startswith("_")], f"{path.name}: {ast.unparse(node)}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                assert not node.attr.startswith("_"), f"{path.name} uses {node.value.id}.{node.attr}"
    for path in sorted((root / "course_utils").rglob("*.py")):
        imported = [n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names]
        assert not [m for m in imported if (m or "").startswith("course_exercises")], f"course_utils/{path.name}"
