"""Checkers for notebook 02, *The Spatial Transformer Network*.

* :func:`check_identity_init`: write the identity initialisation of the localization net's
  last layer (the seed article got it wrong: seed defect 2).
* :func:`check_rotation_scale_theta`: restrict the STN to rotation + scale by building θ
  from two numbers per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .. import geometry, stn
from ._core import CheckResult, NotAttempted, check


def check_identity_init(init_fn: Callable[[nn.Linear], object] | None) -> CheckResult:
    """Check a function that makes an ``nn.Linear(hidden, 6)`` output the identity θ.

    Args:
        init_fn: the learner's ``init_fn(layer)``; it changes ``layer`` in place.
    """

    def test(fn: Callable[[nn.Linear], object]) -> None:
        torch.manual_seed(0)
        layer = nn.Linear(32, 6)
        before = [p.detach().clone() for p in layer.parameters()]
        with torch.no_grad():
            returned = fn(layer)
        w, b = layer.weight.detach(), layer.bias.detach()
        if all(torch.equal(p0, p) for p0, p in zip(before, layer.parameters(), strict=True)):
            if isinstance(returned, nn.Module):
                raise AssertionError(
                    "change `layer` itself, in place (layer.weight.zero_(), layer.bias.copy_(...)): the "
                    "STN keeps the layer it passed you, so a new layer you return is never used."
                )
            raise NotAttempted  # the template left the layer as it was
        assert w.abs().max() < 1e-8, (
            "the weights must be all zero, so that θ does not depend on the input at first "
            "(use layer.weight.zero_())."
        )
        assert layer.weight.requires_grad and layer.bias.requires_grad, (
            "do not freeze the layer (requires_grad_(False)): it starts at the identity, but the STN "
            "must still learn θ from there."
        )
        expected = geometry.identity_theta().flatten()
        if torch.allclose(b, torch.tensor([1.0, 0, 0, 0, 0, 1])):
            raise AssertionError(
                "that is the seed article's bias [1, 0, 0, 0, 0, 1]: read it row by row as "
                "θ = [[1, 0, 0], [0, 0, 1]], which sends every output row to y = +1 (the "
                "bottom edge). The second row must be [0, 1, 0]."
            )
        assert torch.allclose(b, expected), (
            f"the bias is θ written row by row, [a, b, tx, c, d, ty]; the identity is "
            f"{expected.tolist()}, got {[round(v, 3) for v in b.tolist()]}."
        )
        # The layer in a real STN must now pass an image through unchanged.
        net = stn.SpatialTransformer(1)
        net.localization.head[-1] = layer
        x = torch.rand(3, 1, 28, 28)
        out, _ = net(x)
        assert torch.allclose(out, x, atol=1e-5), "an STN with this layer does not return its input."

    return check(
        "Exercise 1 (identity initialisation)",
        init_fn,
        test,
        "zero weights and bias [1, 0, 0, 0, 1, 0]: the untrained STN passes its input through.",
    )


def reference_rotation_scale_theta(params: torch.Tensor) -> torch.Tensor:
    """The answer to exercise 2: ``(B, 2)`` (angle in radians, log-scale) → θ ``(B, 2, 3)``."""
    angle, s = params[:, 0], torch.exp(params[:, 1])
    c, si = s * torch.cos(angle), s * torch.sin(angle)
    zero = torch.zeros_like(c)
    return torch.stack(
        [torch.stack([c, -si, zero], -1), torch.stack([si, c, zero], -1)], dim=1
    )


def check_rotation_scale_theta(
    theta_fn: Callable[[torch.Tensor], torch.Tensor] | None,
) -> CheckResult:
    """Check a θ builder for a rotation + scale STN.

    Args:
        theta_fn: the learner's function from ``params`` ``(B, 2)`` = (angle in radians,
            log of the scale) to θ ``(B, 2, 3)``:
            ``s · [[cos α, -sin α, 0], [sin α, cos α, 0]]`` with ``s = exp(log_s)``.
    """

    def test(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        zeros = torch.zeros(4, 2)
        theta = fn(zeros)
        if theta is None or theta is Ellipsis:
            raise NotAttempted
        assert isinstance(theta, torch.Tensor), f"return a tensor, got {type(theta).__name__}."
        theta = theta.float()  # a float64 answer is as right as a float32 one
        assert theta.shape == (4, 2, 3), (
            f"θ must have shape (B, 2, 3) = (4, 2, 3) for 4 samples, got {tuple(theta.shape)}."
        )
        identity = geometry.identity_theta().expand(4, 2, 3)
        assert torch.allclose(theta, identity, atol=1e-6), (
            "params = 0 (no rotation, log-scale 0 so scale 1) must give the identity θ."
        )
        quarter = fn(torch.tensor([[math.pi / 2, 0.0]]))[0].float()
        if torch.allclose(quarter, geometry.rotation_theta(math.pi / 2), atol=1e-6):  # α read as degrees
            raise AssertionError("the angle is already in radians: use torch.cos(angle) and torch.sin(angle) "
                                 "directly, without converting it.")
        assert torch.allclose(quarter, geometry.rotation_theta(90.0), atol=1e-6), (
            "angle π/2 must give geometry.rotation_theta(90) = [[0, -1, 0], [1, 0, 0]]; "
            f"got {quarter.tolist()}. Check the signs of the sin terms."
        )
        double = fn(torch.tensor([[0.0, math.log(2.0)]]))[0].float()
        assert torch.allclose(double, 2 * geometry.identity_theta(), atol=1e-5), (
            "log-scale log(2) must multiply the 2×2 part by exp(log 2) = 2; "
            f"got {double.tolist()}."
        )
        torch.manual_seed(1)
        params = torch.randn(8, 2, requires_grad=True)
        theta = fn(params).float()
        expected = reference_rotation_scale_theta(params.detach())
        assert torch.allclose(theta.detach(), expected, atol=1e-5), (
            "θ must be exp(log_s) · [[cos α, -sin α, 0], [sin α, cos α, 0]] for each row of params."
        )
        assert theta.requires_grad, (
            "θ must stay connected to params (build it with torch operations, not .tolist() "
            "or torch.tensor(...)), or the localization net cannot learn."
        )
        theta.sum().backward()
        assert params.grad is not None and params.grad.abs().sum() > 0, "no gradient reaches params."

    return check(
        "Exercise 2 (rotation + scale STN)",
        theta_fn,
        test,
        "θ = s·R(α): two numbers per sample, an STN that can only rotate and zoom.",
    )


__all__ = ["check_identity_init", "check_rotation_scale_theta", "reference_rotation_scale_theta"]
