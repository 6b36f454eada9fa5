"""The θ playground: sliders change θ and the picture, reset returns to the identity."""

from __future__ import annotations

import signal

import pytest
import torch

from course_utils import geometry
from course_utils.widgets import render_warp_panels, theta_playground


def test_playground_sliders_drive_theta_and_view():
    img = torch.rand(1, 3, 40, 80)
    pg = theta_playground(img)
    assert torch.allclose(pg.theta, geometry.identity_theta())
    first = pg.view.value
    pg.controls["angle"].value = 45.0
    assert torch.allclose(pg.theta, geometry.rotation_theta(45, aspect=2.0), atol=1e-6)
    assert pg.view.value != first and pg.view.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "0.707" in pg.matrix.value
    pg.controls["padding"].value = "border"
    pg.reset()
    assert torch.allclose(pg.theta, geometry.identity_theta(), atol=1e-6)


def test_panels_show_input_and_output_side_by_side():
    img = torch.zeros(1, 3, 32, 32)
    panels = render_warp_panels(img, geometry.identity_theta(), height=64)
    assert panels.size == (64 + 12 + 64, 64)
    with pytest.raises(ValueError, match="one RGB image"):
        theta_playground(torch.rand(3, 8, 8))


def test_panels_refuse_too_few_grid_lines_and_cap_too_many():
    """lines=1 divided by zero; lines=10**12 drew for ever. More lines than pixels draw
    every row and column already, so the picture is the same as at that cap."""
    img = torch.rand(1, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    theta = geometry.rotation_theta(20.0)
    with pytest.raises(ValueError, match=r"lines must be an integer >= 2, got 1"):
        render_warp_panels(img, theta, lines=1, height=48)
    capped = render_warp_panels(img, theta, lines=16, height=48)

    def drew_for_ever(*_):
        raise AssertionError("render_warp_panels(lines=10**12) was still drawing after 60 s")

    previous = signal.signal(signal.SIGALRM, drew_for_ever)
    signal.alarm(60)  # a guard that turns a hang into a failure, not a timing
    try:
        huge = render_warp_panels(img, theta, lines=10**12, height=48)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert huge.tobytes() == capped.tobytes()
    assert render_warp_panels(img, theta, lines=3, height=48).tobytes() != capped.tobytes()


def test_panels_of_a_grey_digit_draw_the_coloured_grid():
    """A 1-channel image (a digit) gave PIL's 'color must be int or single-element tuple'."""
    digit = torch.zeros(1, 1, 28, 28)
    panels = render_warp_panels(digit, geometry.rotation_theta(30.0), height=56)
    assert panels.mode == "RGB" and panels.size == (56 + 12 + 56, 56)
    left = torch.tensor(list(panels.crop((0, 0, 56, 56)).tobytes())).view(56, 56, 3)
    assert (left.amax(-1) != left.amin(-1)).any()  # the grid's colour is on the black digit


def test_the_stn_explorer_shows_an_stn_and_names_a_model_without_one():
    from course_utils import digits, stn, widgets

    torch.manual_seed(0)
    d = digits.make_digits(4, "RTS", seed=1, split="test")
    explorer = widgets.STNExplorer(stn.STNClassifier(), d.images, d.labels, d.params)
    assert explorer.view.value[:8] == b"\x89PNG\r\n\x1a\n" and "digit" in explorer.caption.value
    with pytest.raises(TypeError, match=r"needs a classifier with a spatial transformer .* got DigitCNN"):
        widgets.STNExplorer(stn.DigitCNN(), d.images, d.labels, d.params)
