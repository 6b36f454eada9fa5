"""Checkers for notebook 00 (setup and tour)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils import data
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, check

#: How far (mean absolute difference, on the [0, 1] scale) a loaded picture may be from the
#: course's own ``load_image``: room for another sensible resize, not for another picture.
_PIXEL_TOLERANCE = 0.03


def check_loaded_image(image: torch.Tensor | None, max_side: int = 256, name: str = "coffee") -> CheckResult:
    """Exercise 1: ``data/content/coffee.jpg`` loaded with ``load_image(path, max_side=256)``:
    the course's own loader's shape for photo ``name``, and its pixels up to a tolerance."""
    filename = data.CONTENT_IMAGES[name]

    def test(img):
        assert isinstance(img, torch.Tensor), _("expected a torch.Tensor, got {kind}").format(
            kind=type(img).__name__)
        assert img.dim() == 4 and img.shape[:2] == (1, 3), _(
            "expected shape (1, 3, H, W), got {shape}").format(shape=tuple(img.shape))
        assert img.dtype == torch.float32, _("expected float32, got {dtype}").format(dtype=img.dtype)
        assert 0.0 <= img.min() and img.max() <= 1.0, _("pixel values must lie in [0, 1]")
        assert max(img.shape[-2:]) <= max_side, _(
            "the longest side must be at most {max_side}: pass max_side").format(max_side=max_side)
        expected = data.content_image(name, max_side=max_side)
        (h, w), (eh, ew) = img.shape[-2:], expected.shape[-2:]
        if abs(h - eh) <= 1 and abs(w - ew) <= 1 and (h, w) != (eh, ew):
            # Another resizer may round the short side the other way (e.g. PIL's thumbnail
            # gives 171 where 170.5 rounds to 170): the same picture, compared at one size.
            img = F.interpolate(img.detach().float(), size=(eh, ew), mode="bilinear", align_corners=False)
            h, w = eh, ew
        assert (h, w) == (eh, ew), _(
            "{file} with its longest side at most {max_side} is {ew}×{eh} px (width × height), yours "
            "is {w}×{h} px: load it with images.load_image(path, max_side={max_side}), which keeps "
            "the aspect ratio").format(file=filename, max_side=max_side, ew=ew, eh=eh, w=w, h=h)
        if torch.allclose(img.detach().cpu().flip(1), expected, atol=0.05):
            raise AssertionError(_("the colour channels are in BGR order (OpenCV's); the course uses "
                                   "RGB: load with images.load_image, or reverse the channels with "
                                   "image.flip(1)"))
        diff = (img.detach().cpu() - expected).abs().mean().item()
        assert diff < _PIXEL_TOLERANCE, _(
            "the size is right, but the pixels differ from {file}'s (mean difference {diff:.3f} on "
            "the 0–1 scale, at most {tolerance} expected): did you load another picture? The path "
            "is data.DATA_DIR / \"content\" / \"{file}\"").format(
                file=filename, diff=diff, tolerance=_PIXEL_TOLERANCE)

    success = _("{file}, longest side at most {max_side} px, a (1, 3, H, W) float image in [0, 1].")
    return check(N_("Exercise 1 (load an image)"), image, test,
                 success.format(file=filename, max_side=max_side))


def check_mean_colour(answer: torch.Tensor | None, image: torch.Tensor) -> CheckResult:
    """Exercise 2: the mean (R, G, B) of ``image`` as a tensor of 3 values."""

    def test(ans):
        try:
            ans = torch.as_tensor(ans, dtype=torch.float32).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise AssertionError(_("return three numbers (R, G, B), e.g. a tensor; got {kind}").format(
                kind=type(ans).__name__)) from None
        assert ans.numel() == 3, _(
            "expected 3 numbers (R, G, B), got {n}: average over dims (0, 2, 3)").format(n=ans.numel())
        expected = image.mean(dim=(0, 2, 3))
        assert torch.allclose(ans, expected, atol=1e-4), _("expected about {want}, got {got}").format(
            want=[round(v, 3) for v in expected.tolist()], got=[round(v, 3) for v in ans.tolist()])

    return check(N_("Exercise 2 (mean colour)"), answer, test, N_("that is the image's average colour."))
