"""Where the ImageNet VGG19 weights come from: find, check, download (notebook 00 explains).

Every file must start its SHA-256 with torchvision's ``dcbb9e9d`` and is read with
``torch.load(weights_only=True)``. Teachers prepare an offline room once with ``make weights``.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config
from .checks import shape_of

#: torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``); the name holds its SHA-256's start.
WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
WEIGHTS_FILENAME = "vgg19-dcbb9e9d.pth"
SHA256_PREFIX = "dcbb9e9d"
#: Environment variable that may point at a copy of the weights file.
ENV_VAR = "COURSE_VGG19_WEIGHTS"

#: VGG19's ``features`` layout (torchvision's configuration "E"): channels or "M" (max-pool).
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip

#: The teacher's command line, and what a message tells a learner without good weights to do.
CLI = "python -m course_tools.weights_cli"
FIX = (f"run `{CLI} fetch` where there is internet, or copy torchvision's {WEIGHTS_FILENAME} "
       f"and run `{CLI} install FILE`")


class WeightsError(RuntimeError):
    """The weights file is missing, damaged or not the expected one (message says what to do)."""


def vgg19_state_shapes() -> dict[str, tuple[int, ...]]:
    """The parameter shapes of VGG19's ``features``, keyed like its ``state_dict`` (``"0.weight"``, …)."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, channels = 0, 3
    for v in VGG19_CFG:
        if v == "M":
            index += 1
            continue
        shapes[f"{index}.weight"] = (int(v), channels, 3, 3)
        shapes[f"{index}.bias"] = (int(v),)
        channels = int(v)
        index += 2  # conv, relu
    return shapes


def cache_path() -> Path:
    """Where torch and torchvision cache the file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


@dataclass(frozen=True)
class Located:
    """A candidate weights file and how it was found (``origin``, for messages)."""

    path: Path
    origin: str


def locate(path: str | os.PathLike | None = None) -> Located | None:
    """The weights file from the given path, ``$COURSE_VGG19_WEIGHTS`` or torch's hub cache, or
    ``None``. A given path or variable is returned even if missing, so that loading it fails clearly."""
    if path is not None:
        return Located(Path(path).expanduser(), "the path you gave")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Located(Path(env).expanduser(), f"environment variable {ENV_VAR}")
    cached = cache_path()
    return Located(cached, "torch's hub cache") if cached.is_file() else None


def sha256_of(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _torch_load(p: Path) -> object:
    try:  # memory-map when the format allows: the classifier (~480 MB) is never read
        return torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return torch.load(p, map_location="cpu", weights_only=True)


def load_vgg19_state(path: str | os.PathLike, expected_sha256_prefix: str = SHA256_PREFIX,
                     origin: str = "the path you gave") -> dict[str, torch.Tensor]:
    """Check and load VGG19 ``features`` weights from a torchvision file (the whole model's
    ``state_dict`` or the features' only); a :class:`WeightsError` names the file (``origin``:
    how it was found), what was wrong and what to do."""
    p = Path(path)
    where = f"The VGG19 weights file '{p}' (from {origin})"
    if not p.exists():
        raise WeightsError(f"{where} does not exist; fix the path or {FIX}.")
    if not p.is_file():
        raise WeightsError(f"{where} is not a file; point it at {WEIGHTS_FILENAME}.")
    if p.stat().st_size == 0:
        raise WeightsError(f"{where} is empty (0 bytes); delete it and {FIX}.")
    digest = sha256_of(p)
    if not digest.startswith(expected_sha256_prefix.lower()):
        raise WeightsError(f"{where} has SHA-256 {digest[:8]}…, not torchvision's {expected_sha256_prefix}…, "
                           f"so it is truncated, damaged or a different file; delete it and {FIX}.")
    try:
        raw = _torch_load(p)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{where} cannot be read by torch.load(weights_only=True) ({reason}), so it is "
                           f"truncated or not a PyTorch weights file; delete it and {FIX}.") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{where} holds a {type(raw).__name__}, not a state_dict (a dict of tensors); "
                           f"use torchvision's {WEIGHTS_FILENAME}.")
    if any(str(k).startswith("features.") for k in raw):
        state = {k[len("features.") :]: v for k, v in raw.items() if k.startswith("features.")}
    else:
        state = dict(raw)
    for key, shape in vgg19_state_shapes().items():
        if key not in state:
            raise WeightsError(f"{where} has no tensor '{key}' (features.{key} in torchvision's layout), so it "
                               f"is not VGG19; use torchvision's {WEIGHTS_FILENAME}.")
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            raise WeightsError(f"{where} has '{key}' of shape {shape_of(value)}, expected {shape} for VGG19; "
                               f"use torchvision's {WEIGHTS_FILENAME}.")
    return {k: state[k].detach().to(torch.float32).clone() for k in vgg19_state_shapes()}


_NETWORK_FAILED: list[str] = []  # remembered for this process: one failed try is enough


def download(dest: str | os.PathLike | None = None, url: str = WEIGHTS_URL,
             expected_sha256_prefix: str = SHA256_PREFIX, timeout: float = 10.0, progress: bool = True) -> Path:
    """Download the weights to ``dest`` (default: torch's hub cache) and return the path; torch
    renames the file into place only when its SHA-256 matches. ``timeout`` (seconds) bounds
    each connection and read, so a cell never hangs longer."""
    if config.OFFLINE:
        raise WeightsError("Downloading the VGG19 weights is switched off by offline mode (COURSE_OFFLINE=1); unset "
                           f"it where there is internet, or copy {WEIGHTS_FILENAME} and run `{CLI} install FILE`.")
    target = Path(dest) if dest is not None else cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # torch.hub's urlopen takes no time-out of its own
    try:
        torch.hub.download_url_to_file(url, str(target), expected_sha256_prefix, progress=progress)
    except RuntimeError as exc:  # torch.hub's hash check (it deleted the file)
        raise WeightsError(f"The download from {url} has the wrong SHA-256 ({exc}), so it was corrupted on the "
                           f"way; it was deleted, run `{CLI} fetch` again.") from None
    except OSError as exc:  # no connection, a time-out, a full disk
        reason = getattr(exc, "reason", None) or exc
        _NETWORK_FAILED.append(str(reason))
        raise WeightsError(f"Cannot reach or download {url} ({reason}); {FIX}.") from None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def network_may_work() -> bool:
    """False in offline mode or after a failed connection in this process."""
    return not config.OFFLINE and not _NETWORK_FAILED


def status() -> str:
    """A few lines saying where the weights would come from right now."""
    env = os.environ.get(ENV_VAR, "").strip()
    cached = cache_path()
    found = locate()
    lines = [
        f"offline mode (COURSE_OFFLINE): {'on' if config.OFFLINE else 'off'}",
        f"{ENV_VAR}: {env or '(not set)'}",
        f"torch hub cache: {cached} ({'present' if cached.is_file() else 'absent'})",
    ]
    if found is not None:
        lines.append(f"would use: {found.path} (from {found.origin}); `{CLI} verify` checks it")
    elif config.OFFLINE:
        lines.append("would use: the offline fallback (random VGG19, not ImageNet)")
    else:
        lines.append(f"would use: a download from {WEIGHTS_URL}, else the offline fallback")
    return "\n".join(lines)
