"""course_utils.geometry: θ builders do what their names say, on screen."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import geometry as g


def _dot(h, w, row, col):
    img = torch.zeros(1, 1, h, w)
    img[0, 0, row, col] = 1.0
    return img


def _where(img):
    idx = torch.nonzero(img[0, 0] > 0.5)
    assert idx.shape[0] == 1, f"expected one bright pixel, found {idx.shape[0]}"
    return tuple(idx[0].tolist())


def _smooth(h=48, w=48):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.stack([torch.sin(2 * xx), torch.cos(3 * yy), xx * yy])[None]


def test_identity_warp_reproduces_input_exactly():
    x = torch.rand(2, 3, 7, 9)
    assert torch.allclose(g.warp(x, g.identity_theta()), x, atol=1e-6)


def test_seed_identity_is_not_identity():
    seed_theta = torch.tensor([1, 0, 0, 0, 0, 1], dtype=torch.float32).view(2, 3)
    grid = g.sampling_grid(seed_theta, (5, 5))
    # every output row samples y = +1 (the bottom edge) -- seed defect 2
    assert torch.allclose(grid[..., 1], torch.ones(1, 5, 5))


def test_rotation_is_anticlockwise_on_screen():
    out = g.warp(_dot(5, 5, 2, 4), g.rotation_theta(90), mode="nearest")
    assert _where(out) == (0, 2)  # right-middle -> top-middle


def test_rotation_on_non_square_image_keeps_lengths_with_aspect():
    h, w = 40, 80
    theta = g.rotation_theta(90, aspect=w / h)
    grid = g.sampling_grid(theta, (h, w))
    px = g.normalised_to_pixel(grid[0], (h, w))
    # a horizontal step of 10 output pixels must sample 10 input pixels apart (no shear)
    step = px[20, 50] - px[20, 40]
    assert torch.allclose(step.norm(), torch.tensor(10.0), atol=1e-3)
    wrong = g.normalised_to_pixel(g.sampling_grid(g.rotation_theta(90), (h, w))[0], (h, w))
    assert not torch.allclose((wrong[20, 50] - wrong[20, 40]).norm(), torch.tensor(10.0), atol=0.5)


def test_scale_two_makes_content_larger():
    out = g.warp(_dot(9, 9, 4, 6), g.scale_theta(2.0), mode="nearest")[0, 0]
    cols = torch.nonzero(out > 0.5)[:, 1].float()
    # the dot doubles in size and its centre moves from 2 px to about 4 px right of centre
    assert cols.numel() >= 2 and abs(cols.mean().item() - 8.0) <= 0.5
    assert torch.allclose(g.scale_theta(2.0, 0.5), torch.tensor([[0.5, 0, 0], [0, 2.0, 0]]))


def test_translation_in_pixels_and_normalised_agree():
    out = g.warp(_dot(4, 4, 1, 1), g.translation_theta_pixels(1, 2, 4, 4), mode="nearest")
    assert _where(out) == (3, 2)
    assert torch.allclose(g.translation_theta_pixels(2, 0, 8, 8), g.translation_theta(0.5, 0.0))


def test_shear_moves_points_as_documented():
    theta = g.shear_theta(0.5)
    inv = g.invert(theta)  # the picture motion
    p = torch.tensor([0.2, 0.6, 1.0])
    assert torch.allclose(inv @ p, torch.tensor([0.2 + 0.5 * 0.6, 0.6]), atol=1e-6)
    with pytest.raises(ValueError, match="flatten"):
        g.shear_theta(2.0, 0.5)


def test_compose_is_first_then_second():
    x = _smooth()
    a, b = g.rotation_theta(30), g.compose(g.scale_theta(0.7), g.translation_theta(0.2, 0))
    twice = g.warp(g.warp(x, a, padding_mode="border"), b, padding_mode="border")
    good = g.warp(x, g.compose(a, b), padding_mode="border")
    bad = g.warp(x, g.compose(b, a), padding_mode="border")
    centre = (..., slice(12, 36), slice(12, 36))
    assert (twice - good)[centre].abs().max() < 0.01
    assert (twice - bad)[centre].abs().max() > 0.1


def test_invert_undoes_and_batches():
    thetas = torch.stack([g.theta_from_params(angle=a, scale=1.3, shear=0.2, tx=0.1) for a in (10, 50)])
    ident = g.compose(thetas, g.invert(thetas))
    assert torch.allclose(ident, g.identity_theta().expand(2, 2, 3), atol=1e-6)
    with pytest.raises(ValueError, match="singular"):
        g.invert(torch.zeros(2, 3))


def test_warp_matches_torch_and_batches_theta():
    x = torch.rand(3, 2, 10, 12)
    theta = torch.stack([g.rotation_theta(d) for d in (0, 20, 40)])
    ref = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    assert torch.allclose(g.warp(x, theta), ref)
    assert g.warp(x[0], theta[1]).shape == (2, 10, 12)
    assert g.warp(x, theta, size=(5, 6)).shape == (3, 2, 5, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mode": "cubic"}, "mode"), ({"padding_mode": "wrap"}, "padding_mode")],
)
def test_warp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        g.warp(torch.rand(1, 1, 4, 4), g.identity_theta(), **kwargs)
    with pytest.raises(ValueError, match="theta"):
        g.warp(torch.rand(1, 1, 4, 4), torch.eye(3))
    with pytest.raises(ValueError, match="batch"):
        g.warp(torch.rand(2, 1, 4, 4), torch.stack([g.identity_theta()] * 3))


def test_padding_modes_differ_outside():
    x = torch.ones(1, 1, 8, 8)
    zoom_out = g.scale_theta(0.5)
    assert g.warp(x, zoom_out, padding_mode="zeros")[0, 0, 0, 0] == 0
    assert g.warp(x, zoom_out, padding_mode="border")[0, 0, 0, 0] == 1


@pytest.mark.parametrize("align", [False, True])
def test_pixel_normalised_round_trip(align):
    px = torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    n = g.pixel_to_normalised(px, (2, 4), align_corners=align)
    assert torch.allclose(g.normalised_to_pixel(n, (2, 4), align_corners=align), px)
    expected_corner = -1.0 if align else -1.0 + 1.0 / 4
    assert n[0, 0].item() == pytest.approx(expected_corner)


def test_gradients_flow_to_theta():
    x = _smooth(24, 24)
    target = g.warp(x, g.rotation_theta(20), padding_mode="border")
    angle = torch.tensor(0.0, requires_grad=True)
    c, s = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([c, -s, torch.zeros(())]), torch.stack([s, c, torch.zeros(())])])
    loss = (g.warp(x, theta, padding_mode="border") - target).pow(2).mean()
    loss.backward()
    assert angle.grad is not None and angle.grad < 0  # increasing the angle lowers the loss
    assert math.isfinite(angle.grad.item())


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: g.rotation_theta("45"), r"degrees must be a number, got '45' \(str\)"),
        (lambda: g.theta_from_params(angle="30"), "angle must be a number"),
        (lambda: g.theta_from_params(scale=None), "scale must be a number"),
        (lambda: g.scale_theta(float("nan")), "sx must be a finite number"),
        (lambda: g.shear_theta([0.2]), "shx must be a number"),
        (lambda: g.translation_theta(0.1, "up"), "ty must be a number"),
        (lambda: g.translation_theta_pixels(3, 4, 0, 10), "positive pixel counts"),
    ],
)
def test_theta_builders_name_a_parameter_that_is_not_a_number(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_theta_builders_accept_numpy_and_tensor_scalars():
    import numpy as np

    expected = g.rotation_theta(30.0)
    torch.testing.assert_close(g.rotation_theta(np.float64(30.0)), expected)
    torch.testing.assert_close(g.rotation_theta(torch.tensor(30.0)), expected)
    torch.testing.assert_close(g.theta_from_params(angle=np.int64(30)), expected)


def test_grid_holds_x_then_y():
    grid = g.sampling_grid(g.identity_theta(), (3, 4))  # 3 rows, 4 columns
    assert grid.shape == (1, 3, 4, 2)
    assert torch.allclose(grid[0, 0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # x: the column
    assert torch.allclose(grid[0, :, 0, 1], torch.tensor([-2 / 3, 0.0, 2 / 3]))  # y: the row
    # a hand-made grid point (x, y) = (+0.75, -0.75) reads the top-right pixel of a 4x4 image
    img = _dot(4, 4, 0, 3)
    point = torch.tensor([0.75, -0.75]).view(1, 1, 1, 2)
    assert F.grid_sample(img, point, align_corners=False).item() == pytest.approx(1.0)
    assert F.grid_sample(img, point.flip(-1), align_corners=False).item() == pytest.approx(0.0)


@pytest.mark.parametrize("mode, flows", [("bilinear", True), ("bicubic", True), ("nearest", False)])
def test_which_modes_pass_gradients_to_theta(mode, flows):
    x = _smooth(24, 24)
    target = g.warp(x, g.rotation_theta(20), padding_mode="border")
    theta = g.rotation_theta(5).requires_grad_(True)
    F.mse_loss(g.warp(x, theta, mode=mode, padding_mode="border"), target).backward()
    assert (theta.grad.abs().max() > 1e-4) == flows


def test_warp_follows_the_image_dtype_and_checks_its_inputs():
    x = torch.rand(1, 2, 6, 6, dtype=torch.float64)
    assert g.warp(x, g.rotation_theta(10)).dtype == torch.float64
    with pytest.raises(TypeError, match="theta must be a torch.Tensor"):
        g.warp(x, [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"image must be a \(B, C, H, W\) or \(C, H, W\) tensor, got \(6, 6\)"):
        g.warp(x[0, 0], g.identity_theta())
    with pytest.raises(ValueError, match="size must be"):
        g.warp(x, g.identity_theta(), size=(0, 4))
    with pytest.raises(ValueError, match="theta has batch 3 but the image batch is 2"):
        g.sampling_grid(torch.stack([g.identity_theta()] * 3), (4, 4), batch=2)


def test_shear_theta_is_the_inverse_of_the_motion_matrix():
    theta = g.shear_theta(0.3, -0.4)
    motion = torch.tensor([[1.0, 0.3, 0.0], [-0.4, 1.0, 0.0]])
    assert torch.allclose(theta, g.invert(motion), atol=1e-6)


def _run_child(code: str):
    """Run ``code`` in a fresh Python: a segmentation fault there fails the test instead of
    killing pytest (and a learner's Jupyter kernel)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("padding", ["border", "reflection"])
def test_a_nan_theta_is_refused_before_grid_sample_backward_crashes(padding):
    # grid_sample's backward on a NaN grid (bilinear, border or reflection padding) is a
    # segmentation fault in torch: the Python process (a Jupyter kernel) dies with no message.
    child = _run_child(
        "import torch\n"
        "from course_utils import geometry\n"
        "theta = torch.full((1, 2, 3), float('nan'), requires_grad=True)\n"
        "try:\n"
        f"    geometry.warp(torch.rand(1, 3, 8, 8), theta, padding_mode={padding!r}).sum().backward()\n"
        "except ValueError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    assert child.returncode == 0, f"the child died (return code {child.returncode}): {child.stderr[-500:]}"
    assert "REFUSED theta contains NaN or infinite values" in child.stdout


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_theta_gets_a_clear_error(value):
    theta = g.identity_theta().clone()
    theta[0, 2] = value
    for call in (lambda: g.warp(torch.rand(1, 1, 4, 4), theta), lambda: g.sampling_grid(theta, (4, 4)),
                 lambda: g.invert(theta), lambda: g.compose(g.identity_theta(), theta)):
        with pytest.raises(ValueError, match=r"theta contains NaN or infinite values .* lower the learning rate"):
            call()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_warp_names_an_image_that_is_not_floating_point(dtype):
    image = torch.randint(0, 2, (1, 3, 16, 16)).to(dtype)
    with pytest.raises(ValueError, match=rf"image has dtype {dtype}; warp needs a floating-point image: "
                                         r"use image\.float\(\) / 255"):
        g.warp(image, g.identity_theta()[None])


@pytest.mark.parametrize("batch", [0, -1, 2.5, "3", True])
def test_sampling_grid_names_a_batch_that_is_not_a_count(batch):
    with pytest.raises(ValueError, match=rf"batch must be a positive integer \(the number of images\), got {batch!r}"):
        g.sampling_grid(g.identity_theta()[None], (4, 4), batch=batch)
