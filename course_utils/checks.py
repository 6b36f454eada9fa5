"""Argument checks shared by the modules: one clear sentence for a value of the wrong
kind (the course's rule: name the thing, what was expected, what to do)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral

import torch


def is_whole(value: object) -> bool:
    """True for an integer (Python, NumPy or other ``Integral``), but not for a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def number(name: str, value: object) -> float:
    """``value`` as a finite float, or a ValueError that names the parameter: a slider or
    a typed-in ``"45"`` would otherwise surface as a bare ``must be real number``."""
    try:
        if isinstance(value, (str, bytes)):  # float("45") would parse; we compute with numbers
            raise TypeError
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number, got {value!r} ({type(value).__name__}); pass e.g. 45, not '45'."
        ) from None
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return result


def count(name: str, value: object, minimum: int) -> int:
    """``value`` as a whole number ``>= minimum``, or a ValueError that names the parameter."""
    if not is_whole(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def floats(values: object) -> list[float] | None:
    """``values`` (a list, tuple, array or tensor of numbers) as a list of floats, or ``None``
    for anything else (a single number, a string, a dict, a list holding a non-number)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return None
    items = list(values)
    if any(isinstance(v, (str, bytes)) or v is None for v in items):  # float("1") would parse
        return None
    try:
        return [float(v) for v in items]
    except (TypeError, ValueError, RuntimeError):  # e.g. a list, or a tensor of several numbers
        return None


def refused_call(fn: Callable, *args: object) -> inspect.Signature | None:
    """``fn``'s signature when it cannot be called with ``args``, else ``None`` (also when the
    signature cannot be read, as for some builtins)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*args)
    except TypeError:
        return signature
    return None


#: The most pixels an ``(H, W)`` size may have: 8192 x 8192. That holds every size the course
#: or a learner really uses (an 8000 x 8000 photo, a 4096 x 4096 grid, a 4K frame), yet an image
#: of it is small next to a 24 GB machine: 768 MiB as float32 RGB, its sampling grid 512 MiB,
#: a warp and its backward pass a few GiB. A size beyond it (say 100000 x 100000, 120 GB) is a
#: typo or a unit slip, refused here instead of by torch's allocator or after eating the memory.
MAX_SIZE_PIXELS = 2**26


def check_size(size: object, what: str = "size", example: str = "(64, 64)") -> None:
    """``size`` must be ``(H, W)``: two positive integers of at most :data:`MAX_SIZE_PIXELS` pixels."""
    if not (isinstance(size, Sequence) and len(size) == 2 and all(is_whole(v) and v > 0 for v in size)):
        raise ValueError(f"{what} must be (H, W), two positive integers, got {size!r}; e.g. {example}.")
    h, w = (int(v) for v in size)  # Python ints: a NumPy product could wrap around
    if h * w > MAX_SIZE_PIXELS:
        raise ValueError(f"{what} {(h, w)} is {h * w:,} pixels, more than the {MAX_SIZE_PIXELS:,} (8192 x 8192) "
                         f"the course makes in one image; pick a smaller {what}, e.g. {example}.")


def shape_of(x: object) -> object:
    """What an error message says a value is: a tensor's shape, else its type's name."""
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__


def feature_maps(x: object, who: str) -> None:
    """``x`` must be a batch of feature maps ``(B, C, H, W)``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{who} expects features of shape (B, C, H, W), got {shape_of(x)}; "
                         "add a batch dimension with x[None].")
