"""Where the ImageNet VGG19 weights come from: find, verify, download, install.

The course uses torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``, file
``vgg19-dcbb9e9d.pth``). :func:`locate` looks for it in this order:

1. a path the caller gives;
2. the path in the environment variable ``COURSE_VGG19_WEIGHTS``;
3. torch's hub cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``, where torchvision
   itself keeps it, so a machine that ever ran ``vgg19(weights=...)`` already has it).

If none is there, :func:`download` fetches it, when the network is allowed
(``COURSE_OFFLINE`` unset) and reachable, with a short time-out so that a notebook never
hangs. Every file is checked against torchvision's published SHA-256 prefix
(``dcbb9e9d``) and loaded with ``torch.load(weights_only=True)``.

A classroom prepares once, then goes offline::

    python -m course_utils.weights status        # what is there, what would be used
    python -m course_utils.weights fetch         # download into the cache (progress bar)
    python -m course_utils.weights install FILE  # copy a teacher's file into the cache
    python -m course_utils.weights verify        # hash + load check of what would be used
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config
from .files import atomic_path

#: torchvision's download address for ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``).
WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
#: The file name torchvision uses; the part after the dash is the start of its SHA-256.
WEIGHTS_FILENAME = "vgg19-dcbb9e9d.pth"
#: torchvision's published SHA-256 prefix for that file (the default every check uses).
SHA256_PREFIX = "dcbb9e9d"
#: Environment variable that may point at a copy of the weights file.
ENV_VAR = "COURSE_VGG19_WEIGHTS"
#: Seconds to wait for the server (connecting and each read); the course never hangs longer.
TIMEOUT_S = 10.0

#: VGG19's ``features`` layout (torchvision's configuration "E"): channels or "M" (max-pool).
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip

_FIX = (
    f"run `python -m course_utils.weights fetch` where there is internet, or copy "
    f"torchvision's {WEIGHTS_FILENAME} and run `python -m course_utils.weights install FILE`"
)


class WeightsError(RuntimeError):
    """The weights file is missing, damaged or not the expected one (message says what to do)."""


def vgg19_state_shapes() -> dict[str, tuple[int, ...]]:
    """The parameter shapes of VGG19's ``features``, keyed like its ``state_dict``
    (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, …; the index is the module's position)."""
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
    """Where torch (and torchvision) cache the file: ``<torch hub dir>/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


@dataclass(frozen=True)
class Located:
    """A candidate weights file and how it was found (``origin``, for messages)."""

    path: Path
    origin: str


def locate(path: str | os.PathLike | None = None) -> Located | None:
    """Find the weights file in the course's order (given path, ``$COURSE_VGG19_WEIGHTS``,
    torch's hub cache). Returns ``None`` when there is none; never touches the network.

    A given path or an environment variable is returned even if the file is missing, so
    that loading it gives a clear error instead of silently using something else.
    """
    if path is not None:
        return Located(Path(path).expanduser(), "the path you gave")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Located(Path(env).expanduser(), f"environment variable {ENV_VAR}")
    cached = cache_path()
    if cached.is_file():
        return Located(cached, "torch's hub cache")
    return None


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex (remembered per path, size and modification time)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def verify_hash(
    path: str | os.PathLike, expected_sha256_prefix: str = SHA256_PREFIX, origin: str = "file"
) -> str:
    """Check that ``path`` exists and its SHA-256 starts with ``expected_sha256_prefix``.

    Returns:
        The full hex digest.

    Raises:
        WeightsError: missing, empty or a different file (one sentence saying what to do).
    """
    p = Path(path)
    where = f"The VGG19 weights file '{p}' (from {origin})"
    if not p.exists():
        raise WeightsError(f"{where} does not exist; fix the path or {_FIX}.")
    if not p.is_file():
        raise WeightsError(f"{where} is not a file; point it at {WEIGHTS_FILENAME}.")
    if p.stat().st_size == 0:
        raise WeightsError(f"{where} is empty (0 bytes); delete it and {_FIX}.")
    digest = sha256_of(p)
    if not digest.startswith(expected_sha256_prefix.lower()):
        raise WeightsError(
            f"{where} has SHA-256 {digest[:8]}…, not torchvision's {expected_sha256_prefix}…, "
            f"so it is truncated, damaged or a different file; delete it and {_FIX}."
        )
    return digest


def _torch_load(p: Path) -> object:
    try:  # memory-map when the format allows: the classifier (~480 MB) is never read
        return torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return torch.load(p, map_location="cpu", weights_only=True)


def load_vgg19_state(
    path: str | os.PathLike,
    expected_sha256_prefix: str = SHA256_PREFIX,
    origin: str = "the path you gave",
) -> dict[str, torch.Tensor]:
    """Verify and load VGG19 ``features`` weights from a torchvision-format file.

    Accepts the full model's ``state_dict`` (keys ``features.0.weight``, …, plus the
    classifier, which is ignored) or a features-only one (keys ``0.weight``, …).

    Args:
        path: the ``.pth`` file.
        expected_sha256_prefix: the start of the file's SHA-256 (default: torchvision's
            ``dcbb9e9d``; tests pass the hash of a file they made).
        origin: how the file was found, used in error messages.

    Returns:
        ``{"0.weight": (64, 3, 3, 3), "0.bias": (64,), …}`` ready for
        ``nn.Sequential.load_state_dict`` on VGG19's ``features``.

    Raises:
        WeightsError: with one sentence naming the file, what was wrong and what to do.
    """
    p = Path(path)
    verify_hash(p, expected_sha256_prefix, origin)
    where = f"The VGG19 weights file '{p}' (from {origin})"
    try:
        raw = _torch_load(p)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{where} cannot be read by torch.load(weights_only=True) ({reason}), so it is "
            f"truncated or not a PyTorch weights file; delete it and {_FIX}."
        ) from None
    if not isinstance(raw, dict):
        raise WeightsError(
            f"{where} holds a {type(raw).__name__}, not a state_dict (a dict of tensors); "
            f"use torchvision's {WEIGHTS_FILENAME}."
        )
    if any(str(k).startswith("features.") for k in raw):
        state = {k[len("features.") :]: v for k, v in raw.items() if k.startswith("features.")}
    else:
        state = dict(raw)
    expected = vgg19_state_shapes()
    missing = [k for k in expected if k not in state]
    if missing:
        raise WeightsError(
            f"{where} has no tensor '{missing[0]}' (features.{missing[0]} in torchvision's "
            f"layout), so it is not VGG19; use torchvision's {WEIGHTS_FILENAME}."
        )
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(
                f"{where} has '{key}' of shape {got}, expected {shape} for VGG19; "
                f"use torchvision's {WEIGHTS_FILENAME}."
            )
    return {k: state[k].detach().to(torch.float32).clone() for k in expected}


# ---------------------------------------------------------------------------- network
_NETWORK_FAILED: list[str] = []  # remembered for this process: one failed try is enough


def _reachable(url: str, timeout: float) -> str | None:
    """None if a TCP connection to the server opens within ``timeout`` s, else the reason.
    Runs in a thread joined with a time-out, so even a stuck name lookup cannot hang us."""
    parsed = urllib.request.urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[str | None] = ["timed out"]

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = None
        except OSError as exc:
            result[0] = f"{type(exc).__name__}: {exc}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    return result[0]


def download(
    dest: str | os.PathLike | None = None,
    url: str = WEIGHTS_URL,
    expected_sha256_prefix: str = SHA256_PREFIX,
    timeout: float = TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download the weights to ``dest`` (default: torch's hub cache) and verify them.

    The file is streamed into a temporary file next to ``dest`` with a progress bar, its
    SHA-256 checked, and only then renamed into place, so an interrupted or wrong download
    never leaves a file that looks valid.

    Raises:
        WeightsError: offline mode, no connection (after at most ``timeout`` s), or a file
            whose hash is wrong.
    """
    if config.OFFLINE:
        raise WeightsError(
            "Downloading the VGG19 weights is switched off by offline mode (COURSE_OFFLINE=1); "
            f"unset it where there is internet, or copy {WEIGHTS_FILENAME} and run "
            "`python -m course_utils.weights install FILE`."
        )
    target = Path(dest) if dest is not None else cache_path()
    reason = _reachable(url, timeout)
    if reason is not None:
        _NETWORK_FAILED.append(reason)
        raise WeightsError(
            f"Cannot reach {url} ({reason}); connect to the internet and run "
            f"`python -m course_utils.weights fetch`, or copy {WEIGHTS_FILENAME} and run "
            "`python -m course_utils.weights install FILE`."
        )
    from tqdm.auto import tqdm

    h = hashlib.sha256()
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=WEIGHTS_FILENAME,
                          disable=not progress) as bar:
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
            digest = h.hexdigest()
            if not digest.startswith(expected_sha256_prefix):
                raise WeightsError(
                    f"The download from {url} has SHA-256 {digest[:8]}…, not "
                    f"{expected_sha256_prefix}…, so it was corrupted on the way; it was deleted, "
                    "run `python -m course_utils.weights fetch` again."
                )
    except (urllib.error.URLError, OSError) as exc:
        _NETWORK_FAILED.append(str(exc))
        raise WeightsError(
            f"The download from {url} failed ({exc}); run "
            "`python -m course_utils.weights fetch` again or install a copied file."
        ) from None
    return target


def network_may_work() -> bool:
    """False in offline mode or after a failed connection in this process."""
    return not config.OFFLINE and not _NETWORK_FAILED


def install(
    src: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    expected_sha256_prefix: str = SHA256_PREFIX,
) -> Path:
    """Verify a copied weights file (hash and load) and copy it into the cache atomically."""
    state = load_vgg19_state(src, expected_sha256_prefix, origin="the file to install")
    del state
    target = Path(dest) if dest is not None else cache_path()
    with atomic_path(target) as tmp:
        shutil.copyfile(src, tmp)
        if sha256_of(tmp) != sha256_of(src):
            raise WeightsError(f"Copying '{src}' to '{target}' changed it; check the disk and retry.")
    return target


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
        lines.append(f"would use: {found.path} (from {found.origin}); run `verify` to check it")
    elif config.OFFLINE:
        lines.append("would use: the offline fallback (random VGG19, not ImageNet)")
    else:
        lines.append(f"would use: a download from {WEIGHTS_URL}, else the offline fallback")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``status``, ``fetch``, ``install FILE``, ``verify [FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.weights",
        description="Prepare the ImageNet VGG19 weights once, so that the course runs offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="say where the weights would come from")
    p_fetch = sub.add_parser("fetch", help="download into torch's hub cache (progress bar)")
    p_fetch.add_argument("--dest", help="write here instead of the cache")
    p_inst = sub.add_parser("install", help="verify a copied file and put it in the cache")
    p_inst.add_argument("file")
    p_inst.add_argument("--dest", help="write here instead of the cache")
    p_ver = sub.add_parser("verify", help="hash- and load-check the file that would be used")
    p_ver.add_argument("file", nargs="?")
    for p in (p_inst, p_ver):
        p.add_argument(
            "--expected-sha256", default=SHA256_PREFIX, metavar="PREFIX",
            help=f"start of the expected SHA-256 (default: torchvision's {SHA256_PREFIX})",
        )
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            print(status())
        elif args.command == "fetch":
            path = download(dest=args.dest)
            print(f"OK: downloaded and verified {path}")
        elif args.command == "install":
            path = install(args.file, args.dest, args.expected_sha256)
            print(f"OK: verified and installed {path}")
        elif args.command == "verify":
            found = locate(args.file)
            if found is None:
                print(f"No VGG19 weights file found ({status().splitlines()[2]}); {_FIX}.",
                      file=sys.stderr)
                return 1
            load_vgg19_state(found.path, args.expected_sha256, found.origin)
            print(f"OK: {found.path} (from {found.origin}) is torchvision's VGG19 and loads")
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
