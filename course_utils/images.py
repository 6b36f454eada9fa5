"""Load, convert and save images, with errors a learner can act on (notebook 00).

Every image in the course is a float32 ``(1, 3, H, W)`` tensor in ``[0, 1]`` (seed defect 7);
ImageNet normalisation belongs to the feature extractor, so pictures stay pictures.
"""

from __future__ import annotations

import io
import os
import warnings
from numbers import Real
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .checks import check_size, shape_of
from .files import atomic_path
from .i18n import localised as _

#: Largest image (in pixels) the course accepts; bigger files are refused before decoding.
MAX_PIXELS = 40_000_000
#: With ``max_side``, a larger image is shrunk while decoded (JPEG at 1/2 to 1/8 scale) and
#: by a whole factor before its float copy, so a small file of many pixels never costs gigabytes.
REDUCE_ABOVE = 4_000_000

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}


class ImageLoadError(ValueError):
    """An image could not be loaded; the message names the file and says what to do."""


class ImageSaveError(OSError):
    """An image could not be written; the message names the file and says what to do."""


def load_image(path: str | os.PathLike, max_side: int | None = None) -> torch.Tensor:
    """Load an image file as a ``(1, 3, H, W)`` float32 tensor in ``[0, 1]``, shrunk (never
    enlarged) to a longest side of ``max_side`` when given.

    Greyscale, palette, alpha (on white), CMYK and 16-bit files are handled and the EXIF
    orientation applied. A missing, unreadable, empty, damaged or too large file raises
    :class:`ImageLoadError` saying what to do.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"load_image needs a file path (str or pathlib.Path), got {type(path).__name__}; "
            "pass e.g. 'data/content/chelsea.jpg' (a tensor is already an image: use it as it is)."
        )
    p = Path(path)
    label = f"'{p}'"
    if not p.exists():
        raise ImageLoadError(_("Cannot load image {label}: the file does not exist; check the path "
                               "(current folder: {folder}).").format(label=label, folder=Path.cwd()))
    if p.is_dir():
        raise ImageLoadError(_("Cannot load image {label}: it is a folder, not an image file.").format(
            label=label))
    if p.stat().st_size == 0:
        raise ImageLoadError(_("Cannot load image {label}: the file is empty (0 bytes); copy it again.").format(
            label=label))
    try:
        fh = open(p, "rb")
    except PermissionError:
        raise ImageLoadError(_("Cannot load image {label}: you have no permission to read it; copy it "
                               "somewhere you can read or change its rights (chmod u+r).").format(
            label=label)) from None
    with fh:
        return _decode(fh, label, max_side)


def load_image_bytes(data: bytes, name: str = "uploaded image", max_side: int | None = None) -> torch.Tensor:
    """:func:`load_image` for an image in memory (an upload); ``name`` only labels errors."""
    label = f"'{name}'"
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"load_image_bytes needs the image file's bytes, got {type(data).__name__}; "
            "for a file on disk use load_image(path)."
        )
    if not data:
        raise ImageLoadError(_("Cannot load image {label}: it is empty (0 bytes); upload it again.").format(
            label=label))
    return _decode(io.BytesIO(data), label, max_side)


def _decode(fh: BinaryIO, label: str, max_side: int | None) -> torch.Tensor:
    if max_side is not None and (not isinstance(max_side, int) or max_side < 1):
        raise ValueError(f"max_side must be a positive integer or None, got {max_side!r}.")
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between its limit and twice it; treat both as errors.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageLoadError(_("Cannot load image {label}: it is {w}x{h} px ({mpx:.0f} Mpx), more than "
                                       "the {limit:.0f} Mpx this course accepts; resize it first.").format(
                    label=label, w=w, h=h, mpx=w * h / 1e6, limit=MAX_PIXELS / 1e6))
            large = max_side is not None and w * h > REDUCE_ABOVE and max(w, h) > 2 * max_side
            if large and img.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 size directly
                img.draft(None, (-(-2 * max_side * w // max(w, h)), -(-2 * max_side * h // max(w, h))))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            if large:
                img = _reduce(img, max_side)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(_("Cannot load image {label}: it is too large to decode safely ({error}); resize "
                               "it first.").format(label=label, error=exc)) from None
    except UnidentifiedImageError:
        raise ImageLoadError(_("Cannot load image {label}: it is not an image format Pillow can read "
                               "(expected PNG, JPEG, WebP, BMP, GIF or TIFF).").format(label=label)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(_("Cannot load image {label}: the file is damaged or truncated ({error}); copy or "
                               "export it again.").format(label=label, error=exc)) from None
    tensor = from_pil(img)
    if max_side is not None and max(tensor.shape[-2:]) > max_side:
        tensor = resize_max_side(tensor, max_side)
    return tensor


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink a large decoded image by a whole factor (box average) to about twice
    ``max_side`` while it is still 8 or 16 bits per value, so its float copy is small."""
    factor = max(img.size) // (2 * max_side)
    if factor < 2:
        return img
    if img.mode.startswith("I;16"):  # Pillow cannot reduce 16-bit ints: floats in [0, 1]
        img = Image.fromarray(np.asarray(img, dtype=np.float32) / 65535.0, mode="F")
    elif img.mode in ("1", "P", "PA"):  # averaging palette indices would mix wrong colours
        alpha = img.mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if alpha else "L" if img.mode == "1" else "RGB")
    return img.reduce(factor)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode → float32 ``(H, W, 3)`` array in ``[0, 1]``."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or 32-bit greyscale: keep the precision instead of clipping to 8 bits.
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F" and a.max() <= 1.0:
            top = 1.0
        a = np.clip(a / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    elif img.mode == "La":  # premultiplied alpha: Pillow converts it only to LA
        img = img.convert("LA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("RGB")  # also CMYK, YCbCr, L, 1
    array = np.asarray(img, dtype=np.float32)
    array /= 255.0  # in place: no second float copy
    return array


def _check_batch(image: torch.Tensor, who: str = "resize") -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        raise ValueError(
            f"image must be a batch of images (B, C, H, W), got {shape_of(image)}; add a batch dimension with image[None]."
        )
    if not image.is_floating_point():  # a uint8 image would interpolate, then clamp to 0 or 1: all white
        fix = ("image.real or image.abs()" if image.is_complex() else "image.float()" if image.dtype == torch.bool
               else "image.float() / 255 for values 0-255")
        raise ValueError(f"image has dtype {image.dtype}; {who} needs a float image in [0, 1]: use {fix}.")
    if image.numel() == 0:
        raise ValueError(f"image is empty, shape {tuple(image.shape)}, it has no pixels to resize; "
                         "check how it was cropped or sliced.")


def resize_max_side(image: torch.Tensor, max_side: int) -> torch.Tensor:
    """Shrink ``(B, C, H, W)`` so that its longest side is ``max_side`` (antialiased)."""
    _check_batch(image, "resize_max_side")
    if not (isinstance(max_side, Real) and not isinstance(max_side, bool) and max_side > 0):
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side!r}; e.g. 256.")
    h, w = image.shape[-2:]
    scale = max_side / max(h, w)
    return image if scale >= 1 else resize(image, (max(1, round(h * scale)), max(1, round(w * scale))))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` to ``size = (H, W)`` (antialiased when shrinking)."""
    _check_batch(image)
    check_size(size, example="(256, 256)")
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    # torch has no antialiased half or bfloat16 kernel on the CPU: shrink those in float32
    low = shrinking and image.device.type == "cpu" and image.dtype in (torch.float16, torch.bfloat16)
    out = torch.nn.functional.interpolate(image.float() if low else image, size=tuple(size), mode="bilinear",
                                          antialias=shrinking, align_corners=False)
    return out.clamp(0.0, 1.0).to(image.dtype)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)``, ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)`` tensor → PIL: floats
    in [0, 1], or ``uint8`` in 0–255 (as ``torchvision.io`` gives); other integers are refused."""
    if isinstance(image, torch.Tensor) and image.dtype == torch.uint8:
        image = image.float() / 255
    elif isinstance(image, torch.Tensor) and not image.is_floating_point():
        raise ValueError(
            f"image has dtype {image.dtype}; give floats in [0, 1] (e.g. image.float() / 255 "
            "for values 0-255) or a uint8 tensor."
        )
    t = _as_chw(image, "image")
    array = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[..., 0], mode="L")
    return Image.fromarray(array, mode="RGB")


def from_pil(img: Image.Image) -> torch.Tensor:
    """A PIL image (any mode) → ``(1, 3, H, W)`` float32 tensor in [0, 1]."""
    if not isinstance(img, Image.Image):
        raise TypeError(
            f"from_pil needs a PIL image, got {type(img).__name__}; for a file use load_image(path)."
        )
    return torch.from_numpy(_to_rgb_array(img)).permute(2, 0, 1).unsqueeze(0).contiguous()


def _as_chw(image: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(image).__name__}.")
    t = image.detach().float()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(
                f"{what} has a batch of {t.shape[0]} images; pass one image, e.g. image[:1]."
            )
        t = t[0]
    elif t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(
            f"{what} must have shape (1, 3, H, W), (3, H, W) or (H, W); got {tuple(image.shape)}."
        )
    return t


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save an image tensor (as :func:`to_pil` reads it) whole or not at all, in the format
    of the suffix (``.png``, ``.jpg``, ``.webp``, ``.bmp``), creating folders; returns the path.

    Raises ``ValueError`` for a bad suffix, shape or NaN values, and :class:`ImageSaveError`
    when ``path`` is a folder, under a file, or cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_image needs a file path (str or pathlib.Path), got {type(path).__name__}; "
                        "pass e.g. 'results/out.png'.")
    p = Path(path)
    fmt = _SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"Cannot save '{p}': unknown suffix '{p.suffix}'; use one of "
                         f"{', '.join(sorted(_SAVE_FORMATS))}.")
    if isinstance(image, torch.Tensor) and image.is_floating_point() and not torch.isfinite(image).all():
        raise ValueError(
            f"Cannot save '{p}': the image holds NaN or infinite values, which have no colour; "
            "find where they came from (e.g. a diverged optimisation) or use torch.nan_to_num first."
        )
    pil = to_pil(image)  # validates the tensor before anything touches the disk
    if 0 in pil.size:
        raise ValueError(f"Cannot save '{p}': the image is empty, shape {tuple(image.shape)}, it has no pixels; "
                         "check how it was cropped or sliced.")
    if p.is_dir():
        raise ImageSaveError(f"Cannot save image '{p}': it is a folder; give a file name, e.g. '{p / 'result.png'}'.")
    blocker = next((q for q in p.parents if q.exists() and not q.is_dir()), None)
    if blocker is not None:
        raise ImageSaveError(f"Cannot save image '{p}': '{blocker}' is a file, not a folder; choose another path.")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    try:
        with atomic_path(p) as tmp:
            pil.save(tmp, format=fmt, **options)
    except OSError as exc:  # no rights, read-only or full disk: name the target, not the temporary file
        raise ImageSaveError(
            f"Cannot save image '{p}': {exc.strerror or exc} while writing in '{p.parent}'; "
            "choose a folder you can write to, with free space."
        ) from None
    return p
