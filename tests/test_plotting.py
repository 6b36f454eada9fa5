"""course_utils.plotting: a bad argument is named, not left to matplotlib or an IndexError."""

from __future__ import annotations

import matplotlib.pyplot as plt  # the Agg backend: tests/conftest.py sets MPLBACKEND
import numpy as np
import pytest
import torch

from course_utils import geometry, plotting


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_valid_images_still_draw():
    for image in (torch.rand(1, 3, 8, 8), torch.rand(3, 8, 8), torch.rand(1, 8, 8), torch.rand(8, 8)):
        plotting.show_image(image)
    plotting.show_images({"a": torch.rand(1, 3, 8, 8), "b": torch.rand(8, 8)})
    _, ax = plt.subplots()
    plotting.draw_grid(ax, geometry.sampling_grid(geometry.identity_theta(), (8, 8)), (8, 8), every=2)
    plotting.plot_curves({"loss": [3.0, 2.0, 1.0]}, x={"loss": [0, 10, 20]})


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: plotting.show_image(torch.rand(1, 64, 8, 8)), ValueError,
         r"cannot draw a tensor of shape \(1, 64, 8, 8\): .* pick one channel, e\.g\. feats\[0, 0\]"),
        (lambda: plotting.show_image(np.zeros((8, 8, 3))), TypeError,
         r"image must be a torch\.Tensor, got ndarray; .* torch\.from_numpy"),
        (lambda: plotting.show_images([torch.rand(8, 8)] * 3, ["a", "b"]), ValueError,
         "titles has 2 entries for 3 images; give one title per image"),
        (lambda: plotting.draw_grid(plt.gca(), geometry.identity_theta(), (8, 8)), ValueError,
         r"grid must be a sampling grid .* got \(2, 3\); make one from θ with geometry\.sampling_grid"),
        (lambda: plotting.draw_grid(plt.gca(), geometry.sampling_grid(geometry.identity_theta(), (8, 8)), (8, 8), every=0),
         ValueError, "every must be a positive integer"),
        (lambda: plotting.plot_curves([3.0, 2.0, 1.0]), TypeError,
         r"curves must be a dict \{name: values\}, got list; e\.g\. plot_curves\(\{'loss': losses\}\)"),
        (lambda: plotting.plot_curves({"a": [1.0, 2.0]}, x={"b": [0, 1]}), ValueError, "one list of x values per curve name"),
        # these four reached matplotlib or PIL (or Python's 'not iterable') before
        (lambda: plotting.plot_curves({"a": [1.0, 2.0]}, x={"a": [1.0]}), ValueError,
         "curve 'a' has 2 values but 1 x values; give one x per value"),
        (lambda: plotting.show_images(None), TypeError, r"show_images needs a list of images .* got NoneType"),
        (lambda: plotting.show_images(torch.rand(3, 8, 8)), TypeError, r"got \(3, 8, 8\); for one image use show_image"),
        (lambda: plotting.show_images([torch.rand(8, 8)], ncols=-1), ValueError, "ncols must be an integer >= 1, got -1"),
        (lambda: plotting.panel(torch.rand(1, 3, 8, 8), height=0), ValueError, "height must be a whole number of pixels"),
        (lambda: plotting.panel(torch.rand(1, 3, 8, 8), height=4097), ValueError, "from 1 to 4096, got 4097"),
        (lambda: plotting.panel(torch.rand(1, 3, 0, 8)), ValueError, r"image has no pixels \(its size is 0x8\)"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_live_preview_updates_in_place():
    content = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    preview = plotting.LivePreview(display=False)
    history = {"total": [3.0, 2.0, 1.0], "style": [1.0, 0.5, 0.2], "content": [0.0, 0.1, 0.2], "tv": [0.01] * 3}
    preview.update(3, content, history)
    first = preview.image.value
    preview.update(4, content.flip(-1), history)
    assert preview.frames == 2
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and preview.image.value != first
    assert preview.curve.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "step 4" in preview.status.value


def test_loss_curve_png_copes_with_zero_and_nan_on_its_log_scale():
    png = plotting.loss_curve_png({"total": [2.0, 0.0, float("nan"), 1.0], "style": []})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
