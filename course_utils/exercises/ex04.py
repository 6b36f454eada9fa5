"""Checkers for notebook 04 (style transfer by optimisation)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import colour, losses
from ._core import CheckResult, NotAttempted, check


def reference_total_loss(
    feats: dict[str, torch.Tensor],
    content_target: torch.Tensor,
    style_grams: dict[str, torch.Tensor],
    image: torch.Tensor,
    content_layer: str,
    weights: tuple[float, float, float],
) -> torch.Tensor:
    """The objective of notebook 04: ``α·content + β·style + γ·TV`` (scale-free terms)."""
    alpha, beta, gamma = weights
    c = losses.content_loss(feats[content_layer], content_target)
    s = losses.style_loss(feats, style_grams)
    return alpha * c + beta * s + gamma * losses.tv_loss(image)


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, 12, 10, generator=g)
    feats = {"relu1_1": torch.rand(1, 4, 12, 10, generator=g), "relu2_1": torch.rand(1, 6, 6, 5, generator=g)}
    content_target = torch.rand(1, 6, 6, 5, generator=g)
    style_grams = losses.grams({"relu1_1": torch.rand(1, 4, 9, 9, generator=g),
                                "relu2_1": torch.rand(1, 6, 4, 5, generator=g)})
    return feats, content_target, style_grams, image


def check_total_loss(fn: Callable[..., torch.Tensor] | None) -> CheckResult:
    """Exercise 1: ``fn(feats, content_target, style_grams, image, content_layer, weights)``
    returns the weighted sum of the content, style and TV losses as a scalar tensor."""

    def test(f):
        for seed, weights in ((0, (1.0, 1e3, 1.0)), (1, (2.0, 10.0, 0.0)), (2, (0.0, 1.0, 50.0))):
            args = _case(seed)
            got = f(*args, "relu2_1", weights)
            if got is None:
                raise NotAttempted
            assert isinstance(got, torch.Tensor) and got.dim() == 0, "return a scalar tensor (0-dim)"
            got = got.float()  # a float64 answer is as right as a float32 one
            want = reference_total_loss(*args, "relu2_1", weights)
            a, b, c = weights
            feats, ct, sg, img = args
            if b and torch.isclose(got, want - b * losses.style_loss(feats, sg), rtol=1e-4):
                raise AssertionError("the style term is missing")
            if c and torch.isclose(got, want - c * losses.tv_loss(img), rtol=1e-4):
                raise AssertionError("the TV term is missing (losses.tv_loss(image))")
            content = losses.content_loss(feats["relu2_1"], ct)
            if a and torch.isclose(got, want - a * content, rtol=1e-4):
                raise AssertionError("the content term is missing (losses.content_loss(feats[content_layer], "
                                     "content_target))")
            if a != b and torch.isclose(got, b * content + a * losses.style_loss(feats, sg)
                                        + c * losses.tv_loss(img), rtol=1e-4):
                raise AssertionError("α and β are swapped: weights = (α, β, γ) are the content, style and TV "
                                     "weights, in that order")
            if weights != (1.0, 1.0, 1.0) and torch.isclose(
                    got, content + losses.style_loss(feats, sg) + losses.tv_loss(img), rtol=1e-4):
                raise AssertionError("the weights are not applied: multiply each term by its weight")
            assert torch.isclose(got, want, rtol=1e-4, atol=1e-8), (
                f"with weights {weights} expected {want.item():.6g}, got {got.item():.6g}; "
                "hint: content_loss on feats[content_layer], style_loss on all feats, "
                "tv_loss on the image, each times its weight"
            )
        args = _case(3)
        img = args[3].clone().requires_grad_(True)
        out = f(args[0], args[1], args[2], img, "relu2_1", (1.0, 1.0, 1.0))
        assert out.requires_grad, "no gradient reaches the image: do not detach it or call .item()"
        out.backward()
        assert img.grad is not None and img.grad.abs().sum() > 0, (
            "no gradient reached the image: do not detach it or call .item()")

    return check("Exercise 1 (the total loss)", fn, test,
                 "content, style and TV terms, each with its weight, and gradients flow.")


def check_keep_colour(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None) -> CheckResult:
    """Exercise 2: ``fn(stylised, content)`` returns the stylised image's luminance with
    the content's chroma (YIQ), clipped to [0, 1]."""

    def test(f):
        g = torch.Generator().manual_seed(4)
        stylised = torch.rand(1, 3, 10, 14, generator=g)
        content = torch.rand(1, 3, 10, 14, generator=g)
        got = f(stylised, content)
        if got is None:
            raise NotAttempted
        assert isinstance(got, torch.Tensor) and got.shape == stylised.shape, (
            f"return a tensor of shape {tuple(stylised.shape)}")
        got = got.float()  # a float64 answer is as right as a float32 one
        yiq = torch.cat([colour.rgb_to_yiq(stylised)[:, :1], colour.rgb_to_yiq(content)[:, 1:]], 1)
        if torch.allclose(got, yiq, atol=1e-4):
            raise AssertionError("that is still YIQ: turn it back into RGB with colour.yiq_to_rgb")
        swapped = colour.with_chroma_of(colour.luminance(content), stylised)
        if torch.allclose(got, swapped, atol=1e-4):
            raise AssertionError("you kept the content's luminance and the stylised chroma: swap them")
        assert got.min() >= 0 and got.max() <= 1, "clip the result to [0, 1] (.clamp(0, 1))"
        want = colour.with_chroma_of(colour.luminance(stylised), content)
        assert torch.allclose(got, want, atol=1e-4), (
            "expected Y from the stylised image and I, Q from the content; hint: "
            "colour.rgb_to_yiq both, torch.cat([yiq_s[:, :1], yiq_c[:, 1:]], 1), colour.yiq_to_rgb"
        )

    return check("Exercise 2 (keep the content's colours)", fn, test,
                 "the stylised luminance with the photo's chroma.")


__all__ = ["check_keep_colour", "check_total_loss", "reference_total_loss"]
