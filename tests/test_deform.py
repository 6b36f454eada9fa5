"""course_utils.deform: deformable style transfer (image and smooth field optimised together)."""

from __future__ import annotations

import pytest
import torch
from tiny_images import FAST_SETTINGS
from tiny_images import smooth_image as _img

from course_utils import deform, geometry, transfer, warps

FAST = dict(FAST_SETTINGS, steps=25)


@pytest.fixture(scope="module")
def content():
    return _img(0, 32, 40)


@pytest.fixture(scope="module")
def style():
    return _img(1, 36, 36)


SRC = torch.tensor([[12.0, 10.0], [28.0, 20.0]])
TGT = torch.tensor([[10.0, 8.0], [30.0, 22.0]])


@pytest.fixture(scope="module")
def run(content, style):
    return deform.deformable_stylise(content, style, SRC, TGT, grid_size=(4, 4), **FAST)


def test_the_objective_measures_content_on_x_and_style_on_the_warped_image(content, style):
    cfg = transfer.TransferConfig(**FAST)
    objective = transfer.Objective(transfer.feature_network(cfg), content, [style], [1.0], cfg)
    field = deform.initial_warp(SRC, TGT, (32, 40), grid_size=(4, 4)).requires_grad_(True)
    x = content.clone().requires_grad_(True)
    terms = deform.deformable_objective(objective, x, field, SRC, TGT)
    assert sorted(terms) == ["content", "keypoint", "smooth", "style", "tv"]
    assert terms["content"] < 1e-6  # x is the photo itself: only W(x), not x, has moved
    assert terms["keypoint"] ** 0.5 * 20 < 0.5  # the warm start carries the points (px: × half of 40)
    assert terms["smooth"] == warps.smoothness(field)
    plain = objective.style_term(objective.features(content))
    warped = warps.warp_with_grid(content, deform.warp_grid(field, (32, 40)), mode="bicubic")
    assert torch.isclose(terms["style"], objective.style_term(objective.features(warped)))
    assert not torch.isclose(terms["style"], plain)
    sum(terms.values()).backward()  # one backward pass reaches the image and the control points
    assert x.grad.abs().max() > 0 and field.grad.abs().max() > 0
    theta = deform.initial_warp(SRC, TGT, (32, 40), "affine")
    assert theta.shape == (1, 2, 3) and deform.warp_grid(theta, (32, 40)).shape == (1, 32, 40, 2)
    assert deform.deformable_objective(objective, content, theta, SRC, TGT)["smooth"] == 0


def test_keypoints_reach_their_targets_without_folds(run, content):
    before = (SRC - TGT).norm(dim=-1)
    assert before.min() > 2.5  # the points really had to move
    assert run.keypoint_errors().max() < 0.5
    assert run.min_jacobian() > 0
    assert run.image.shape == run.unwarped.shape == content.shape
    assert run.control.shape == (1, 2, 4, 4) and run.grid.shape == (1, 32, 40, 2)
    assert 0 <= run.image.min() and run.image.max() <= 1


def test_output_is_the_optimised_image_warped_by_the_field(run):
    expected = warps.warp_with_grid(run.unwarped, warps.field_grid(run.control, run.unwarped.shape[-2:]), mode="bicubic")
    assert torch.allclose(run.image, expected.clamp(0, 1), atol=1e-6)
    assert not torch.allclose(run.image, run.unwarped, atol=1e-3)  # the field did move it


def test_losses_fall_and_the_run_is_reproducible(run, content, style):
    h = run.history
    assert len(h["total"]) == run.steps_done == FAST["steps"]
    # the field starts where the keypoints alone put it, and the style never pulls it away
    assert max(h["keypoint"]) ** 0.5 * 20 < 0.5  # normalised units → px (half the longer side)
    assert min(h["style"]) < h["style"][0]
    again = deform.deformable_stylise(content, style, SRC, TGT, grid_size=(4, 4), **FAST)
    assert torch.equal(again.image, run.image) and torch.equal(again.control, run.control)


def test_no_keypoint_pull_keeps_the_identity_field(content, style):
    still = deform.deformable_stylise(content, style, SRC, SRC, grid_size=(4, 4), **{**FAST, "steps": 6})
    assert still.keypoint_errors().max() < 0.3
    assert still.min_jacobian() > 0.5


def test_coarse_to_fine_and_size_scale_the_points(content, style):
    r = deform.deformable_stylise(content, style, SRC, TGT, grid_size=(4, 4),
                                  **{**FAST, "size": 20, "scales": (0.5, 1.0), "steps": (10, 10)})
    assert r.image.shape == (1, 3, 16, 20)
    assert torch.allclose(r.target_points, (TGT + 0.5) * 0.5 - 0.5)
    assert r.history["scale"] == [0] * 10 + [1] * 10
    assert r.keypoint_errors().max() < 0.5


def test_region_masks_move_with_the_field(content, style):
    other = _img(2, 30, 30)
    left = torch.zeros(1, 1, 32, 40)
    left[..., :20] = 1.0
    r = deform.deformable_stylise(content, [style, other], SRC, TGT, grid_size=(4, 4),
                                  style_masks=[left, 1 - left], **{**FAST, "steps": 10})
    assert r.keypoint_errors().max() < 1.0
    cfg = r.config
    obj = transfer.Objective(transfer.feature_network(cfg), content, [style, other], [0.5, 0.5], cfg)
    moved = torch.cat([warps.warp_mask(m, r.grid) for m in (left, 1 - left)], dim=1)
    feats = obj.features(r.image)
    # the loss the engine minimised (masks moved by the grid) is the one that fell
    assert obj.style_term(feats, moved) < obj.style_term(obj.features(content), moved)


def test_an_affine_theta_learned_with_the_image(content, style):
    r = deform.deformable_stylise(content, style, SRC, TGT, transform="affine", **FAST)
    assert r.transform == "affine" and r.control.shape == (1, 2, 3)
    assert r.keypoint_errors().max() < 0.5  # two pairs: an affine map can carry both exactly
    # the output is the optimised image warped by the STN's grid of that θ
    expected = warps.warp_with_grid(r.unwarped, geometry.sampling_grid(r.control, r.unwarped.shape[-2:]), mode="bicubic")
    assert torch.allclose(r.image, expected.clamp(0, 1), atol=1e-6)
    # an affine map has the same Jacobian everywhere: det of θ's 2x2 part, > 0 (no mirror, no fold)
    jac = warps.jacobian_determinant(r.grid)
    assert jac.min() > 0 and (jac.max() - jac.min()) < 1e-3 * jac.abs().max()
    assert abs(jac.mean().item() - torch.linalg.det(r.control[0, :, :2]).item()) < 1e-2
    assert max(r.history["smooth"]) == 0.0
    assert min(r.history["style"]) < r.history["style"][0]


def test_bad_input_names_the_problem(content, style):
    with pytest.raises(ValueError, match="source_points"):
        deform.deformable_stylise(content, style, torch.zeros(3), TGT, **FAST)
    with pytest.raises(ValueError, match="outside"):
        deform.deformable_stylise(content, style, SRC, TGT + 100, **FAST)
    with pytest.raises(ValueError, match="pair up"):
        deform.deformable_stylise(content, style, SRC, TGT[:1], **FAST)
    with pytest.raises(ValueError, match="transform='rigid' is invalid"):
        deform.deformable_stylise(content, style, SRC, TGT, transform="rigid", **FAST)
    with pytest.raises(ValueError, match="grid_size"):
        deform.deformable_stylise(content, style, SRC, TGT, grid_size=(1, 4), **FAST)
    for bad in (6, ("6", 6), (6.0, 6)):  # not a pair of integers: named, not a bare TypeError
        with pytest.raises(ValueError, match=r"grid_size must be \(rows, columns\) of control points, two integers"):
            deform.deformable_stylise(content, style, SRC, TGT, grid_size=bad, **FAST)
    with pytest.raises(ValueError, match="smooth_weight"):
        deform.deformable_stylise(content, style, SRC, TGT, smooth_weight=-1.0, **FAST)
    with pytest.raises(ValueError, match="preserve_colour"):
        deform.deformable_stylise(content, style, SRC, TGT, preserve_colour="luminance", **FAST)
    with pytest.raises(ValueError, match="pixel_range"):
        deform.deformable_stylise(content, style, SRC, TGT, pixel_range="clamp", **FAST)
    with pytest.raises(ValueError, match="style_masks"):
        deform.deformable_stylise(content, [style, style], SRC, TGT, style_masks=[torch.ones(1, 1, 32, 40)], **FAST)


def test_a_callback_stops_the_run_with_a_complete_result(content, style):
    seen = []

    def stop_at_three(step, image, losses):
        seen.append((step, tuple(image.shape), sorted(losses)))
        return step == 3

    r = deform.deformable_stylise(content, style, SRC, TGT, grid_size=(4, 4), callback=stop_at_three, **FAST)
    assert r.stopped_reason == "callback" and r.steps_done == 3 and len(seen) == 3
    assert seen[0][1] == content.shape and "keypoint" in seen[0][2]
    assert r.image.shape == content.shape and torch.isfinite(r.image).all()


@pytest.mark.parametrize("settings", [{"size": 100000}, {"size": 64, "style_scale": 1000}])
def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_allocates(content, style, settings):
    """stylise's refusal holds here too: one sentence before any image, warp or network is
    built (before, size=64 with style_scale=1000 asked torch's allocator for 49 GB)."""
    calls = []
    with pytest.raises(MemoryError, match=r"needs about [\d,.]+ GB of memory but only [\d,.]+ GB is free"):
        deform.deformable_stylise(content, style, SRC, TGT, steps=2, progress=False,
                                  callback=lambda *a: calls.append(a), **settings)
    assert calls == []


@pytest.mark.parametrize("weight, match", [(-1, "smooth_weight must be a finite number >= 0, got -1"),
                                           (float("nan"), "smooth_weight must be a finite number")])
def test_initial_warp_refuses_a_smooth_weight_that_gives_nan(weight, match):
    src = torch.tensor([[3.0, 4.0], [10.0, 10.0], [5.0, 12.0]])
    with pytest.raises(ValueError, match=match):
        deform.initial_warp(src, src + 1, (16, 16), smooth_weight=weight)
