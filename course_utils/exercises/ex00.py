"""Checkers for notebook 00 (setup and tour)."""

from __future__ import annotations

import torch

from ._core import CheckResult, check


def check_loaded_image(image: torch.Tensor | None, max_side: int = 256) -> CheckResult:
    """Exercise 1: an image loaded with ``load_image(path, max_side=256)``."""

    def test(img):
        assert isinstance(img, torch.Tensor), f"expected a torch.Tensor, got {type(img).__name__}"
        assert img.dim() == 4 and img.shape[:2] == (1, 3), f"expected shape (1, 3, H, W), got {tuple(img.shape)}"
        assert img.dtype == torch.float32, f"expected float32, got {img.dtype}"
        assert 0.0 <= img.min() and img.max() <= 1.0, "pixel values must lie in [0, 1]"
        assert max(img.shape[-2:]) <= max_side, f"the longest side must be at most {max_side}: pass max_side"

    return check("Exercise 1 (load an image)", image, test, "a (1, 3, H, W) float image in [0, 1].")


def check_mean_colour(answer: torch.Tensor | None, image: torch.Tensor) -> CheckResult:
    """Exercise 2: the mean (R, G, B) of ``image`` as a tensor of 3 values."""

    def test(ans):
        ans = torch.as_tensor(ans, dtype=torch.float32).flatten()
        assert ans.numel() == 3, f"expected 3 numbers (R, G, B), got {ans.numel()}: average over dims (0, 2, 3)"
        expected = image.mean(dim=(0, 2, 3))
        assert torch.allclose(ans, expected, atol=1e-4), (
            f"expected about {[round(v, 3) for v in expected.tolist()]}, got {[round(v, 3) for v in ans.tolist()]}"
        )

    return check("Exercise 2 (mean colour)", answer, test, "that is the image's average colour.")
