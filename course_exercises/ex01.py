"""Checkers for notebook 01 (affine_grid and grid_sample)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_utils import geometry

from ._core import CheckResult, NotAttempted, check


def check_rotation_theta(fn: Callable[[float, float], torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(degrees, aspect)`` returns the θ that rotates the picture
    anticlockwise by ``degrees`` about its centre, correct for the aspect ratio."""

    def test(f):
        for degrees, aspect in ((0, 1.0), (30, 1.0), (90, 1.0), (-45, 2.0), (120, 0.75)):
            got = f(degrees, aspect)
            if got is None:
                raise NotAttempted
            assert isinstance(got, torch.Tensor), "return a torch.Tensor"
            assert tuple(got.shape) == (2, 3), f"θ must have shape (2, 3), got {tuple(got.shape)}"
            want = geometry.rotation_theta(degrees, aspect=aspect)
            if aspect != 1 and degrees % 180 and torch.allclose(
                    got.float(), geometry.rotation_theta(degrees, aspect=1 / aspect), atol=1e-4):
                raise AssertionError(
                    "the aspect correction is the wrong way round: in row 0 divide -sin by the aspect, "
                    "in row 1 multiply sin by it (x is in units of W/2, y of H/2)"
                )
            if torch.allclose(got.float(), geometry.invert(want), atol=1e-4) and degrees % 180:
                raise AssertionError(
                    f"for {degrees}° you rotate the wrong way: remember θ maps output to input"
                )
            assert torch.allclose(got.float(), want, atol=1e-4), (
                f"for {degrees}° and aspect {aspect} expected {want.tolist()}, got {got.tolist()}"
                + (" (did you scale the off-diagonal terms by the aspect?)" if aspect != 1 else "")
            )

    return check("Exercise 1 (rotation θ)", fn, test, "your θ rotates the right way, with the aspect correction.")


def check_invert(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(theta)`` returns the θ of the opposite motion."""

    def test(f):
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            theta = geometry.identity_theta() + 0.3 * torch.randn(2, 3, generator=gen)
            got = f(theta)
            assert isinstance(got, torch.Tensor) and tuple(got.shape) == (2, 3), "return a (2, 3) tensor"
            got = got.float()  # a float64 answer is as right as a float32 one
            ident = geometry.compose(theta, got)
            assert torch.allclose(ident, geometry.identity_theta(), atol=1e-4), (
                "compose(theta, your_inverse) should be the identity [[1, 0, 0], [0, 1, 0]]; "
                "hint: append [0, 0, 1], use torch.linalg.inv, drop the last row"
            )
        r = geometry.rotation_theta(30)
        assert torch.allclose(f(r).float(), geometry.rotation_theta(-30), atol=1e-4), "inverting +30° must give -30°"
        assert not math.isnan(float(f(r).sum()))

    return check("Exercise 2 (invert θ)", fn, test, "compose(θ, inverse) is the identity.")
