"""Checkers for notebook 02 (the spatial transformer network); the references are
:class:`course_utils.stn.SpatialTransformer` and :func:`course_utils.stn.rotation_scale_theta`."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from course_utils import geometry, stn
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, check, same


def check_forward(stn_class: type[nn.Module] | None) -> CheckResult:
    """Exercise 1: ``stn_class(in_channels, transform)``, e.g. a subclass of the package's
    ``SpatialTransformer`` with the learner's ``forward(x) -> (output, theta)``, behaves as the
    package's module with the same weights, on several sizes, channel counts and transforms."""

    def test(cls: type[nn.Module]) -> None:
        if isinstance(cls, nn.Module):
            cls = type(cls)
        assert isinstance(cls, type) and issubclass(cls, nn.Module), _(
            "pass the class itself, e.g. a subclass of stn.SpatialTransformer: "
            "class MySpatialTransformer(stn.SpatialTransformer): def forward(self, x): ...")
        cases = [("affine", (3, 1, 28, 28)), ("affine", (2, 3, 20, 30)), ("rotation", (2, 1, 18, 36))]
        for transform, shape in cases:
            torch.manual_seed(0)
            reference = stn.SpatialTransformer(shape[1], transform)
            nn.init.normal_(reference.localization.head[-1].weight, std=0.3)  # not the identity
            nn.init.normal_(reference.localization.head[-1].bias, std=0.3)
            mine = cls(shape[1], transform)
            mine.load_state_dict(reference.state_dict())
            x = torch.rand(shape)
            got = answered(mine(x))
            assert isinstance(got, tuple) and len(got) == 2, _(
                "forward must return a pair (output, theta), got {kind}; the STN returns θ as well, "
                "so that we can look at what it learned.").format(kind=type(got).__name__)
            out, theta = got
            with torch.no_grad():
                expected_out, expected_theta = reference(x)
            assert isinstance(theta, torch.Tensor) and theta.shape == expected_theta.shape, _(
                "theta must have shape (B, 2, 3) = {shape}; turn the localization net's output into θ "
                "with stn.params_to_theta(params, self.transform, aspect=W / H).").format(
                    shape=tuple(expected_theta.shape))
            assert same(theta, expected_theta, atol=1e-5), _(
                "θ differs from the package's for transform {transform!r} on a {h}×{w} input: "
                "params = self.localization(x), then stn.params_to_theta(params, self.transform, "
                "aspect=x.shape[-1] / x.shape[-2]).").format(transform=transform, h=shape[-2], w=shape[-1])
            assert isinstance(out, torch.Tensor) and out.shape == x.shape, _(
                "output must have the input's shape {shape}; build the grid with "
                "F.affine_grid(theta, list(x.shape), ...) and sample x on it.").format(shape=tuple(x.shape))
            if same(out, x, atol=1e-5):
                raise AssertionError(_("the output is the input: sample x on the grid that θ makes "
                                       "(F.affine_grid, then F.grid_sample)."))
            if not same(out, expected_out):
                if same(out, geometry.warp(x, expected_theta)):
                    raise AssertionError(_("that is grid_sample's default zero padding: pass "
                                           "padding_mode=self.padding_mode ('border': the background)."))
                if same(out, geometry.warp(x, expected_theta, padding_mode="border", align_corners=True)):
                    raise AssertionError(_("pass align_corners=self.align_corners (False) to both "
                                           "F.affine_grid and F.grid_sample."))
                raise AssertionError(_(
                    "the output differs from the package's: grid = F.affine_grid(theta, list(x.shape), "
                    "align_corners=...), output = F.grid_sample(x, grid, padding_mode=..., align_corners=...)."))
            if out.requires_grad:
                out.square().sum().backward()
            grad = mine.localization.head[-1].weight.grad
            assert grad is not None and grad.abs().sum() > 0, _(
                "no gradient reaches the localization net: build θ, the grid and the output with torch "
                "operations (no .detach(), .item() or torch.no_grad()).")
        x = torch.rand(2, 1, 28, 28)
        with torch.no_grad():
            out, _theta = cls(1)(x)
        assert same(out, x, atol=1e-5), _("a fresh STN must return its input (θ starts at the identity).")

    return check(N_("Exercise 1 (the STN's forward)"), stn_class, test,
                 N_("localization net → θ → grid → sample: your forward is the package's SpatialTransformer."))


def check_rotation_scale_theta(theta_fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``theta_fn(params)`` maps ``(B, 2)`` = (angle in radians, log-scale) to θ
    ``(B, 2, 3)`` = ``exp(log_s) · [[cos α, -sin α, 0], [sin α, cos α, 0]]``."""

    def test(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        theta = answered(fn(torch.zeros(4, 2)))
        assert isinstance(theta, torch.Tensor), _("return a tensor, got {kind}.").format(
            kind=type(theta).__name__)
        assert theta.shape == (4, 2, 3), _(
            "θ must have shape (B, 2, 3) = (4, 2, 3) for 4 samples, got {shape}.").format(
                shape=tuple(theta.shape))
        assert same(theta, geometry.identity_theta().expand(4, 2, 3), atol=1e-6), _(
            "params = 0 (no rotation, log-scale 0 so scale 1) must give the identity θ.")
        quarter = fn(torch.tensor([[math.pi / 2, 0.0]]))[0]
        if same(quarter, geometry.rotation_theta(math.pi / 2), atol=1e-6):  # α read as degrees
            raise AssertionError(_("the angle is already in radians: use torch.cos(angle) and "
                                   "torch.sin(angle) directly, without converting it."))
        assert same(quarter, geometry.rotation_theta(90.0), atol=1e-6), _(
            "angle π/2 must give geometry.rotation_theta(90) = [[0, -1, 0], [1, 0, 0]]; got {got}. "
            "Check the signs of the sin terms.").format(got=quarter.tolist())
        double = fn(torch.tensor([[0.0, math.log(2.0)]]))[0]
        assert same(double, 2 * geometry.identity_theta(), atol=1e-5), _(
            "log-scale log(2) must multiply the 2×2 part by exp(log 2) = 2; got {got}.").format(
                got=double.tolist())
        torch.manual_seed(1)
        params = torch.randn(8, 2, requires_grad=True)
        theta = fn(params)
        assert same(theta, stn.rotation_scale_theta(params.detach()), atol=1e-5), _(
            "θ must be exp(log_s) · [[cos α, -sin α, 0], [sin α, cos α, 0]] for each row of params.")
        assert theta.requires_grad, _(
            "θ must stay connected to params (build it with torch operations, not .tolist() "
            "or torch.tensor(...)), or the localization net cannot learn.")
        theta.sum().backward()
        assert params.grad is not None and params.grad.abs().sum() > 0, _("no gradient reaches params.")

    return check(N_("Exercise 2 (rotation + scale STN)"), theta_fn, test,
                 N_("θ = s·R(α): two numbers per sample, an STN that can only rotate and zoom."))
