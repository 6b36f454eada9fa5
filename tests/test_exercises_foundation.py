"""The checkers of notebooks 00 and 01 accept right answers, reject wrong ones, and
treat unfinished templates gently."""

from __future__ import annotations

import pytest
import torch

from course_utils import geometry
from course_utils.exercises import ex00, ex01


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


def test_foundation_checkers_for_notebook_00():
    img = torch.rand(1, 3, 100, 256)
    assert ex00.check_loaded_image(img).passed
    with pytest.raises(AssertionError, match="longest side"):
        ex00.check_loaded_image(torch.rand(1, 3, 100, 300))
    with pytest.raises(AssertionError, match="shape"):
        ex00.check_loaded_image(torch.rand(3, 100, 100))
    assert ex00.check_mean_colour(img.mean(dim=(0, 2, 3)), img).passed
    with pytest.raises(AssertionError, match="expected about"):
        ex00.check_mean_colour(img.mean(dim=(0, 1, 2))[:3], img)


def test_studio_checkers():
    from course_utils.exercises import ex06
    from course_utils.widgets import _slug

    assert ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.05).passed
    assert not ex06.check_stop_callback(lambda step, image, losses: None).passed
    with pytest.raises(AssertionError, match="below 0.05"):
        ex06.check_stop_callback(lambda step, image, losses: losses["style"] < 0.01)
    assert ex06.check_safe_name(lambda n: _slug(n) or "image").passed
    with pytest.raises(AssertionError, match="characters"):
        ex06.check_safe_name(lambda n: n or "image")
