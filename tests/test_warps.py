"""course_utils.warps: deformation fields, Jacobians, masks, keypoints and registration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import data, geometry, warps


def _photo(size=64):
    return data.content_image("chelsea", max_side=size)


def test_zero_field_is_identity_and_identity_jacobian_is_one():
    img = _photo()
    control = warps.zero_control((5, 5))
    assert torch.allclose(warps.warp_with_field(img, control), img, atol=1e-5)
    det = warps.jacobian_determinant(warps.field_grid(control, img.shape[-2:]))
    assert torch.allclose(det, torch.ones_like(det), atol=1e-4)


def test_upsampled_field_is_exact_at_control_points_and_differentiable():
    control = torch.randn(1, 2, 3, 4) * 0.1
    control.requires_grad_(True)
    dense = warps.upsample_field(control, (21, 31))
    assert dense.shape == (1, 21, 31, 2)
    assert torch.allclose(dense[0, 0, 0], control[0, :, 0, 0], atol=1e-6)
    assert torch.allclose(dense[0, -1, -1], control[0, :, -1, -1], atol=1e-6)
    dense.sum().backward()
    assert control.grad is not None and control.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(B, 2, gh, gw\)"):
        warps.upsample_field(torch.zeros(1, 3, 4, 4), (8, 8))


def test_jacobian_detects_a_fold_and_smoothness_ignores_translation():
    control = warps.zero_control((3, 3))
    control[0, 0, :, 1] = 1.5  # the middle column reads far to the right: the map folds
    assert warps.jacobian_determinant(warps.field_grid(control, (32, 32))).min() < 0
    translation = torch.full((1, 2, 4, 4), 0.2)
    assert warps.smoothness(translation) == 0
    assert warps.smoothness(torch.randn(1, 2, 4, 4)) > 0.1


def test_mask_moves_exactly_with_the_image():
    img = torch.zeros(1, 1, 32, 32)
    img[..., 8:16, 8:16] = 1.0
    theta = geometry.compose(geometry.rotation_theta(30), geometry.translation_theta(0.2, 0.1))
    assert torch.allclose(warps.warp_mask(img, theta), geometry.warp(img, theta))
    control = torch.randn(1, 2, 4, 4) * 0.05
    grid = warps.field_grid(control, (32, 32))
    hard = warps.warp_mask(img, grid, soft=False)
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(warps.warp_mask(img, grid), warps.warp_with_grid(img, grid, padding_mode="zeros"))
    # several regions warp at once, one channel each, as each would alone
    regions = torch.cat([img, 1 - img], dim=1)
    both = warps.warp_mask(regions, grid)
    assert torch.equal(both[:, 1:], warps.warp_mask(1 - img, grid))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, R, H, W\)"):
        warps.warp_mask(torch.zeros(8, 8), theta)


def test_keypoint_loss_measures_pixels():
    grid = warps.identity_grid((40, 40))
    pts = torch.tensor([[10.0, 12.0], [30.0, 5.0]])
    assert warps.keypoint_loss(grid, pts, pts) < 1e-8
    assert warps.keypoint_loss(grid, pts.tolist(), (pts + 1).tolist()) == pytest.approx(2.0, rel=1e-4)  # lists too
    # a translation of the picture by 3 px right: the target 3 px right reads the source
    moved = geometry.sampling_grid(geometry.translation_theta_pixels(3, 0, 40, 40), (40, 40))
    assert warps.keypoint_loss(moved, pts, pts + torch.tensor([3.0, 0.0])) < 1e-6
    assert warps.keypoint_loss(grid, pts, pts + torch.tensor([3.0, 4.0])) == pytest.approx(25.0, rel=1e-4)


def test_register_affine_recovers_a_known_transform():
    torch.manual_seed(0)
    fixed_img = F.avg_pool2d(_photo(96), 3, stride=1, padding=1)
    true = geometry.theta_from_params(angle=12, scale=1.1, tx=0.08, ty=-0.05, aspect=fixed_img.shape[-1] / fixed_img.shape[-2])
    moved = geometry.warp(fixed_img, geometry.invert(true), padding_mode="border")
    theta, losses = warps.register_affine(moved, fixed_img, steps=60, progress=False)
    # warping the moved image with θ gives back the fixed one: θ undoes the inverse, θ ≈ true
    assert (theta - true).abs().max() < 0.05
    assert losses[-1] < 0.2 * losses[0]


def test_register_field_recovers_a_smooth_field():
    gen = torch.Generator().manual_seed(1)
    fixed_img = F.avg_pool2d(_photo(64), 3, stride=1, padding=1)
    true = torch.randn(1, 2, 4, 4, generator=gen) * 0.04
    moving = warps.warp_with_field(fixed_img, -true)  # approximately the inverse motion
    control, _ = warps.register_field(moving, fixed_img, grid_size=(4, 4), steps=80, lr=0.01,
                                      smooth_weight=0.0, progress=False)
    size = fixed_img.shape[-2:]
    assert warps.end_point_error(warps.field_grid(control, size), warps.field_grid(true, size), margin=4) < \
        0.5 * warps.end_point_error(warps.identity_grid(size), warps.field_grid(true, size), margin=4)


def test_fit_field_to_points_carries_sources_to_targets_at_any_size():
    src = torch.tensor([[10.0, 12.0], [30.0, 20.0], [20.0, 30.0]])
    tgt = src + torch.tensor([[-2.0, -1.5], [2.0, -1.0], [0.0, 2.0]])
    fields = []
    for factor in (1, 4):  # the same picture at 40 and 160 px (pixel centres scale): the same field
        s, t = (src + 0.5) * factor - 0.5, (tgt + 0.5) * factor - 0.5
        control = warps.fit_field_to_points(s, t, (40 * factor, 40 * factor), grid_size=(5, 5))
        grid = warps.field_grid(control, (40 * factor, 40 * factor))
        reached = warps.sample_grid_at(grid, t[None])[0]
        assert (reached - s).norm(dim=-1).max() < 0.05 * factor
        assert warps.jacobian_determinant(grid).min() > 0.3
        fields.append(control)
    assert torch.allclose(fields[0], fields[1], atol=5e-3)  # up to the pixel grid's discretisation
    assert warps.fit_field_to_points(src, src, (40, 40)).abs().max() < 1e-6


def test_fit_affine_to_points_recovers_a_known_theta_and_prefers_the_identity():
    size = (40, 50)
    theta = torch.tensor([[[1.1, 0.2, 0.05], [-0.1, 0.9, -0.03]]])
    tgt = torch.tensor([[5.0, 6.0], [40.0, 10.0], [20.0, 35.0], [30.0, 30.0]])
    src = warps.sample_grid_at(geometry.sampling_grid(theta, size), tgt[None])[0]  # where each target reads
    assert torch.allclose(warps.fit_affine_to_points(src, tgt, size), theta, atol=1e-4)
    # one pair leaves four numbers free: the fit carries it and is the map nearest the
    # identity (no further from it than the plain shift that also carries the pair)
    one = warps.fit_affine_to_points(src[:1], tgt[:1], size)
    reached = warps.sample_grid_at(geometry.sampling_grid(one, size), tgt[None, :1])[0]
    assert (reached - src[:1]).norm() < 0.1
    offset = geometry.pixel_to_normalised(src[:1], size) - geometry.pixel_to_normalised(tgt[:1], size)
    shift = torch.cat([torch.eye(2), offset.T], dim=1)[None]
    identity = geometry.identity_theta()[None]
    assert (one - identity).norm() <= (shift - identity).norm()


def test_register_field_meets_the_course_figure_at_128_px():
    # notebook 05's claim: a smooth field is recovered to a mean end-point error under 1 px
    moving = F.avg_pool2d(_photo(128), 3, stride=1, padding=1)
    true = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(1)) * 0.04
    fixed_img = warps.warp_with_field(moving, true)  # warping `moving` by `true` gives `fixed`
    control, _ = warps.register_field(moving, fixed_img, grid_size=(5, 5), steps=40, progress=False)
    size = moving.shape[-2:]
    before = warps.end_point_error(warps.identity_grid(size), warps.field_grid(true, size))
    after = warps.end_point_error(warps.field_grid(control, size), warps.field_grid(true, size))
    assert before > 2.0 and after < 1.0


_IMG = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
_GRID = warps.identity_grid((16, 16))
_PTS = torch.tensor([[2.0, 3.0], [10.0, 4.0], [6.0, 12.0]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: warps.identity_grid(16), r"size must be \(H, W\), two positive integers, got 16"),
        (lambda: warps.zero_control((6,)), r"grid_size must be \(rows, columns\) of control points"),
        (lambda: warps.warp_with_grid(_IMG[0], _GRID), r"image must be a \(B, C, H, W\) tensor, got \(3, 16, 16\); add a batch"),
        (lambda: warps.warp_with_grid(_IMG, geometry.identity_theta()),
         r"grid must be a sampling grid \(B, H, W, 2\), got \(2, 3\); .*geometry\.sampling_grid"),
        (lambda: warps.warp_with_grid(_IMG.expand(2, -1, -1, -1), warps.identity_grid((16, 16), 3)),
         "the grid has a batch of 3 but the image batch is 2"),
        (lambda: warps.jacobian_determinant(_GRID[0]), r"grid must be a sampling grid .* got \(16, 16, 2\); add a batch dimension"),
        (lambda: warps.keypoint_loss(_GRID, torch.zeros(3), _PTS), r"source_px must have shape \(K, 2\)"),
        (lambda: warps.keypoint_loss(_GRID, "eyes", _PTS), "source_px must be .* pixel positions .* got str"),
        (lambda: warps.point_pairs(_PTS, _PTS + 20, (16, 16)), "target_px has points outside the 16x16 px image"),
        (lambda: warps.keypoint_loss(_GRID, _PTS, _PTS[:2]), "must pair up one to one"),
        (lambda: warps.fit_affine_to_points(_PTS, _PTS[:2], (16, 16)), r"source_px \(3, 2\) and target_px \(2, 2\) must pair up"),
        (lambda: warps.fit_affine_to_points(_PTS[:1], _PTS[:1], (16, 16), prior_weight=0),
         "do not fix an affine map .* use a prior_weight > 0"),
        (lambda: warps.fit_field_to_points(_PTS, _PTS, 16), r"size must be \(H, W\)"),
        (lambda: warps.end_point_error(_GRID, warps.identity_grid((8, 8))), "must have the same shape"),
        (lambda: warps.register_affine(_IMG[:, :1], _IMG, progress=False),
         r"moving \(1, 1, 16, 16\) and fixed \(1, 3, 16, 16\) must have the same shape"),
        (lambda: warps.register_affine(_IMG, _IMG, steps="10", progress=False), "steps must be an integer >= 0"),
        (lambda: warps.register_affine(_IMG, _IMG, scales=0.5, progress=False), r"scales must be a list .* e\.g\. \(0\.25"),
        (lambda: warps.register_field(_IMG, _IMG, grid_size=6, progress=False), "grid_size must be"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_register_refuses_nan_images_instead_of_crashing():
    # A NaN image made the sampling grid NaN after one step, and grid_sample's backward then
    # crashed the whole Python process (a segmentation fault, torch 2.14 on a CPU).
    nan = torch.full_like(_IMG, float("nan"))
    with pytest.raises(ValueError, match="moving contains NaN or infinite pixels"):
        warps.register_affine(nan, _IMG, steps=2, progress=False)
    with pytest.raises(ValueError, match="fixed contains NaN"):
        warps.register_field(_IMG, nan, steps=2, progress=False)


def _run_child(code: str):
    """Run ``code`` in a fresh Python: a segmentation fault there fails the test instead of
    killing pytest (and a learner's Jupyter kernel)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


_CHILD_IMAGES = ("import torch\nfrom course_utils import warps\n"
                 "m = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))\nf = m.roll(2, -1)\n")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_field_is_refused_before_grid_sample_backward_crashes(value):
    # grid_sample's backward on a NaN grid (bilinear, border padding: warp_with_grid's default)
    # is a segmentation fault in torch: the process (a Jupyter kernel) dies with no message.
    child = _run_child(
        _CHILD_IMAGES + f"c = torch.full((1, 2, 4, 4), float({value!r}), requires_grad=True)\n"
        "try:\n    warps.warp_with_field(m, c).sum().backward()\n"
        "except ValueError as exc:\n    print('REFUSED', exc)\n"
    )
    assert child.returncode == 0, f"the child died (return code {child.returncode}): {child.stderr[-500:]}"
    assert "REFUSED control displacements contain NaN or infinite values" in child.stdout


def test_a_diverging_registration_stops_with_a_sentence_instead_of_crashing():
    # lr=1e30 made the control points huge, the loss infinite and, a step later, the field
    # NaN: grid_sample's backward then crashed the process (a segmentation fault).
    child = _run_child(
        _CHILD_IMAGES + "try:\n    warps.register_field(m, f, lr=1e30, steps=2, progress=False)\n"
        "except ValueError as exc:\n    print('REFUSED', exc)\n"
    )
    assert child.returncode == 0, f"the child died (return code {child.returncode}): {child.stderr[-500:]}"
    assert "REFUSED field registration diverged at step 2" in child.stdout
    assert "lower the learning rate" in child.stdout


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_grids_and_controls_get_a_clear_error(value):
    grid = _GRID.clone()
    grid[0, 3, 4, 0] = value
    control = warps.zero_control((4, 4))
    control[0, 1, 2, 2] = value
    for call, match in ((lambda: warps.warp_with_grid(_IMG, grid), "grid contains NaN or infinite values"),
                        (lambda: warps.jacobian_determinant(grid), "grid contains NaN or infinite values"),
                        (lambda: warps.end_point_error(_GRID, grid), "grid_b contains NaN or infinite values"),
                        (lambda: warps.field_grid(control, (16, 16)), "control displacements contain NaN or inf"),
                        (lambda: warps.smoothness(control), "control displacements contain NaN or inf")):
        with pytest.raises(ValueError, match=match + ".* lower the learning rate or check what produced it"):
            call()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_warping_names_an_image_that_is_not_floating_point(dtype):
    image = (_IMG * 255).to(dtype)
    match = rf"image has dtype {dtype}; warping needs a floating-point image: use image\.float\(\) / 255"
    with pytest.raises(ValueError, match=match):
        warps.warp_with_grid(image, _GRID)
    with pytest.raises(ValueError, match=match):
        warps.warp_with_field(image, warps.zero_control((4, 4)))
    with pytest.raises(ValueError, match=rf"moving has dtype {dtype}; registration needs floating-point images"):
        warps.register_field(image, _IMG, steps=1, progress=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_the_grid_follows_the_image_dtype(dtype):
    image = _IMG.to(dtype)
    out = warps.warp_with_grid(image, _GRID)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), _IMG, atol=2e-3, rtol=0)
    assert warps.warp_with_field(image, warps.zero_control((4, 4))).dtype == dtype


def test_warp_mask_names_a_mask_that_is_not_floating_point():
    with pytest.raises(ValueError, match=r"mask has dtype torch.bool; warping needs a floating-point mask: use mask\.float"):
        warps.warp_mask(torch.rand(1, 1, 16, 16) > 0.5, _GRID)


@pytest.mark.parametrize("call, match", [
    (lambda: warps.fit_field_to_points(_PTS, _PTS + 1, (16, 16), grid_size=(4, 4), smooth_weight=-1),
     "smooth_weight must be a finite number >= 0, got -1"),
    (lambda: warps.fit_field_to_points(_PTS, _PTS + 1, (16, 16), grid_size=(4, 4), smooth_weight=float("nan")),
     "smooth_weight must be a finite number"),
    (lambda: warps.fit_field_to_points(_PTS, _PTS + 1, (16, 16), grid_size=(4, 4), smooth_weight=None),
     "smooth_weight must be a number"),
    (lambda: warps.fit_affine_to_points(_PTS, _PTS + 1, (16, 16), prior_weight=float("inf")),
     "prior_weight must be a finite number"),
    (lambda: warps.fit_affine_to_points(_PTS, _PTS + 1, (16, 16), prior_weight=-1.0),
     "prior_weight must be a finite number >= 0, got -1.0"),
    (lambda: warps.point_pairs([[float("nan"), 4.0]], [[4.0, 4.0]]), "source_px contains NaN or infinite positions"),
])
def test_fits_refuse_weights_and_points_that_give_nan(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: warps.zero_control((4, 4), batch=None), "batch must be a positive integer, got None"),
    (lambda: warps.zero_control((4, 4), batch=-1), "batch must be a positive integer, got -1"),
    (lambda: warps.point_pairs(_PTS, _PTS, size=16), r"size must be \(H, W\), two positive integers, got 16"),
])
def test_counts_and_sizes_get_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
