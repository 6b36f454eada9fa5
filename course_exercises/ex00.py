"""Checkers for notebook 00 (setup and tour)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils import data

from ._core import CheckResult, check

#: How far (mean absolute difference, on the [0, 1] scale) a loaded picture may be from the
#: course's own ``load_image``: room for another sensible resize, not for another picture.
_PIXEL_TOLERANCE = 0.03


def check_loaded_image(
    image: torch.Tensor | None, max_side: int = 256, name: str = "coffee"
) -> CheckResult:
    """Exercise 1: ``data/content/coffee.jpg`` loaded with ``load_image(path, max_side=256)``:
    the course's own loader's shape for photo ``name``, and its pixels up to a tolerance."""
    filename = data.CONTENT_IMAGES[name]

    def test(img):
        assert isinstance(img, torch.Tensor), f"expected a torch.Tensor, got {type(img).__name__}"
        assert img.dim() == 4 and img.shape[:2] == (1, 3), f"expected shape (1, 3, H, W), got {tuple(img.shape)}"
        assert img.dtype == torch.float32, f"expected float32, got {img.dtype}"
        assert 0.0 <= img.min() and img.max() <= 1.0, "pixel values must lie in [0, 1]"
        assert max(img.shape[-2:]) <= max_side, f"the longest side must be at most {max_side}: pass max_side"
        expected = data.content_image(name, max_side=max_side)
        (h, w), (eh, ew) = img.shape[-2:], expected.shape[-2:]
        if abs(h - eh) <= 1 and abs(w - ew) <= 1 and (h, w) != (eh, ew):
            # Another resizer may round the short side the other way (e.g. PIL's thumbnail
            # gives 171 where 170.5 rounds to 170): the same picture, compared at one size.
            img = F.interpolate(img.detach().float(), size=(eh, ew), mode="bilinear", align_corners=False)
            h, w = eh, ew
        assert (h, w) == (eh, ew), (
            f"{filename} with its longest side at most {max_side} is {ew}×{eh} px (width × height), "
            f"yours is {w}×{h} px: load it with images.load_image(path, max_side={max_side}), "
            "which keeps the aspect ratio"
        )
        if torch.allclose(img.detach().cpu().flip(1), expected, atol=0.05):
            raise AssertionError("the colour channels are in BGR order (OpenCV's); the course uses RGB: "
                                 "load with images.load_image, or reverse the channels with image.flip(1)")
        diff = (img.detach().cpu() - expected).abs().mean().item()
        assert diff < _PIXEL_TOLERANCE, (
            f"the size is right, but the pixels differ from {filename}'s (mean difference "
            f"{diff:.3f} on the 0–1 scale, at most {_PIXEL_TOLERANCE} expected): did you load "
            f"another picture? The path is data.DATA_DIR / \"content\" / \"{filename}\""
        )

    return check("Exercise 1 (load an image)", image, test,
                 f"{filename}, longest side at most {max_side} px, a (1, 3, H, W) float image in [0, 1].")


def check_mean_colour(answer: torch.Tensor | None, image: torch.Tensor) -> CheckResult:
    """Exercise 2: the mean (R, G, B) of ``image`` as a tensor of 3 values."""

    def test(ans):
        try:
            ans = torch.as_tensor(ans, dtype=torch.float32).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise AssertionError(f"return three numbers (R, G, B), e.g. a tensor; got {type(ans).__name__}") from None
        assert ans.numel() == 3, f"expected 3 numbers (R, G, B), got {ans.numel()}: average over dims (0, 2, 3)"
        expected = image.mean(dim=(0, 2, 3))
        assert torch.allclose(ans, expected, atol=1e-4), (
            f"expected about {[round(v, 3) for v in expected.tolist()]}, got {[round(v, 3) for v in ans.tolist()]}"
        )

    return check("Exercise 2 (mean colour)", answer, test, "that is the image's average colour.")
