"""The θ playground: sliders change θ and the picture, reset returns to the identity."""

from __future__ import annotations

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
