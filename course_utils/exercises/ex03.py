"""Checkers for notebook 03 (features and Gram matrices)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import features
from ._core import CheckResult, NotAttempted, check


def _reference_gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return torch.einsum("bchw,bdhw->bcd", x, x) / (h * w)


def check_batched_gram(fn: Callable[[torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn((B, C, H, W)) → (B, C, C)``, one Gram per image, divided by ``H·W``."""

    def test(f):
        if not callable(f):
            raise AssertionError("pass the function itself, e.g. check_batched_gram(my_gram).")
        g = torch.Generator().manual_seed(3)
        x = torch.randn(3, 8, 5, 7, generator=g)
        out = f(x.clone())
        if out is None or out is Ellipsis:
            raise NotAttempted
        if not isinstance(out, torch.Tensor):
            raise AssertionError(f"return a tensor, got {type(out).__name__}.")
        out = out.float()  # a float64 answer is as right as a float32 one
        ref = _reference_gram(x)
        if tuple(out.shape) == (8, 8):
            raise AssertionError(
                "you returned one 8×8 matrix for a batch of 3: the batch was mixed (the seed's "
                "bug); reshape to (B, C, H·W) and use torch.bmm or einsum."
            )
        if tuple(out.shape) != (3, 8, 8):
            raise AssertionError(f"for x of shape (3, 8, 5, 7) expected (3, 8, 8), got {tuple(out.shape)}.")
        if torch.allclose(out, ref * 35, rtol=1e-4, atol=1e-4):
            raise AssertionError("the shape is right but the values are 35 = H·W times too big: divide by H·W.")
        if torch.allclose(out, ref / 8, rtol=1e-4, atol=1e-5):
            raise AssertionError("you also divided by C; this course normalises by H·W only.")
        if not torch.allclose(out, ref, rtol=1e-4, atol=1e-5):
            raise AssertionError("the values differ from F Fᵀ / (H·W) computed image by image.")

    return check("Exercise 1 (batched Gram matrix)", fn, test,
                 "one normalised C×C Gram per image, batch kept apart.")


def reference_layers_for_scale(pixels: float) -> list[str]:
    """The Gatys style layers up to the first whose receptive field covers ``pixels``."""
    chosen: list[str] = []
    for name in features.GATYS_STYLE_LAYERS:
        chosen.append(name)
        if features.receptive_field(name) >= pixels:
            break
    return chosen


def check_layers_for_scale(fn: Callable[[float], list[str]] | None) -> CheckResult:
    """Exercise 2: ``fn(pixels)`` returns relu1_1, relu2_1, … up to the first layer whose
    receptive field is at least ``pixels`` (all five when none is)."""

    def test(f):
        if not callable(f):
            raise AssertionError("pass the function itself, e.g. check_layers_for_scale(layers_for_scale).")
        for pixels in (2, 3, 4, 10, 11, 24, 30, 68, 100, 156, 500):
            got = f(pixels)
            if got is None or got is Ellipsis:
                raise NotAttempted
            want = reference_layers_for_scale(pixels)
            if isinstance(got, str):
                raise AssertionError(f"return a list of layer names, e.g. ['relu1_1', 'relu2_1'], not the string {got!r}")
            got = list(got)
            for name in got:
                if name not in features.LAYER_NAMES:
                    raise AssertionError(
                        f"'{name}' is not a VGG19 layer name; use names like relu3_1."
                    )
            if got != want:
                raise AssertionError(
                    f"for structures of {pixels} px expected {want}, got {got}; the receptive "
                    "fields are " + ", ".join(
                        f"{n}: {features.receptive_field(n)} px" for n in features.GATYS_STYLE_LAYERS
                    ) + "."
                )

    return check("Exercise 2 (layers for a texture scale)", fn, test,
                 "you pick the shallowest set of layers that still sees the structure.")


__all__ = ["check_batched_gram", "check_layers_for_scale", "reference_layers_for_scale"]
