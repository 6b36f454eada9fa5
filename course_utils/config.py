"""Course-wide switches, read once from the environment so that every notebook agrees:

* ``COURSE_FAST=1`` shrinks sizes, step counts and epochs (the tests set it): cells ask
  :func:`pick` for a number and never branch their teaching on the mode.
* ``COURSE_OFFLINE=1`` forbids every network access (weights, paintings).
* ``COURSE_DEVICE=cpu`` (or ``cuda``, ``cuda:N``, ``mps``) overrides the device choice.
* ``COURSE_CACHE=folder`` moves the download cache.
* ``COURSE_THREADS=N`` sets torch's CPU threads (default :func:`cpu_budget`; 0: torch's own).

The switches accept 1/0, true/false, yes/no, on/off or empty (any case), and refuse a typo.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .i18n import localised as _

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    value = os.environ.get(name, "")
    if value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(
        f"{name}={value!r} is not a switch value: use 1, true, yes or on to switch it on, "
        f"and 0, false, no, off or empty to switch it off (any case)."
    )


FAST: bool = _flag("COURSE_FAST")
OFFLINE: bool = _flag("COURSE_OFFLINE")

#: The project's root folder (holds ``data/`` and ``notebooks/``) for an editable install.
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent


def pick(full: T, fast: T) -> T:
    """``fast`` in fast mode, else ``full``: ``size = config.pick(full=384, fast=64)``."""
    return fast if FAST else full


def device() -> torch.device:
    """The best available device: ``COURSE_DEVICE`` if set, else CUDA, then MPS, then CPU."""
    requested = os.environ.get("COURSE_DEVICE", "").strip().lower()
    if requested:
        return _requested_device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(device: torch.device | str | int) -> torch.device:
    """``device`` (``"cpu"``, ``"cuda:0"``, ...) as a ``torch.device`` this machine has, or a
    ValueError saying why not."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a PyTorch device; use 'cpu', 'cuda' or 'mps', or leave it out "
                         "to let config.device() choose.") from None
    if (dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count())) or (
            dev.type == "mps" and not torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} is not available on this machine; leave it out to let config.device() "
                         "choose, or use 'cpu'.")
    return dev


def _requested_device(requested: str) -> torch.device:
    """``COURSE_DEVICE``'s value as a device this machine has, or a ValueError saying why not."""
    fix = "unset COURSE_DEVICE or set it to 'cpu'"
    kind, _, index = requested.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind == "cuda" and (not index or index.isdigit()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"COURSE_DEVICE={requested} was requested but PyTorch sees no CUDA GPU; {fix}.")
        if index and int(index) >= count:
            raise ValueError(f"COURSE_DEVICE={requested} was requested but PyTorch sees {count} CUDA GPU(s), "
                             f"numbered 0 to {count - 1}; {fix}, or pick one of those.")
        return torch.device(requested)
    if kind == "mps" and not index:
        if not torch.backends.mps.is_available():
            raise ValueError(f"COURSE_DEVICE=mps was requested but this machine has no Apple GPU (MPS); {fix}.")
        return torch.device("mps")
    raise ValueError(f"COURSE_DEVICE={requested!r} is not a device the course runs on: use cpu, cuda, cuda:N "
                     "(a GPU's number) or mps, or unset it to let the course choose.")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (the same seed, the same pixels on CPU); returns a
    ``torch.Generator`` seeded with ``seed`` too."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if seed >= 2**64:
        raise ValueError(f"seed must be an integer from 0 to 2**64 - 1 (what torch's generator takes), got {seed}; "
                         "e.g. seed=0.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Where downloads are cached, created on demand: ``COURSE_CACHE`` or ``~/.cache/course_utils``."""
    root = Path(os.environ.get("COURSE_CACHE", "") or Path.home() / ".cache" / "course_utils")
    blocker = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(f"The course's cache folder {root} (COURSE_CACHE, or ~/.cache/course_utils) cannot be "
                         f"created because {blocker} is a file; point COURSE_CACHE at a folder or move that file.")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cpu_budget(*, environ: dict[str, str] | None = None, cpu_max: str | Path = "/sys/fs/cgroup/cpu.max",
               affinity: int | None = None) -> int:
    """The CPUs this process may use, at least 1 (so that twenty kernels on a hub do not each
    start a thread per core): the least of its CPU affinity, its cgroup v2 quota (``cpu.max``)
    and JupyterHub's ``CPU_LIMIT`` (maybe a fraction), rounded down."""
    env = os.environ if environ is None else environ
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limits: list[float] = [affinity]
    try:
        quota, period = Path(cpu_max).read_text().split()[:2]
        if quota != "max" and float(period) > 0:
            limits.append(float(quota) / float(period))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    value = env.get("CPU_LIMIT", "").strip()
    if value:
        try:
            limit = float(value)
        except ValueError:
            raise ValueError(f"CPU_LIMIT={value!r} is not a number of CPUs: JupyterHub sets it like 2 or 0.5.") from None
        if limit > 0:
            limits.append(limit)
    return max(1, int(min(limits)))


#: The most threads ``COURSE_THREADS`` may ask for: more than any machine the course runs on has
#: cores, so a bigger number is a typo (one past int32 reached torch as 'Overflow when unpacking long').
MAX_THREADS = 1024


def set_threads(*, environ: dict[str, str] | None = None) -> int:
    """Set torch's thread count from ``COURSE_THREADS`` or :func:`cpu_budget` and return it."""
    env = os.environ if environ is None else environ
    value = env.get("COURSE_THREADS", "").strip()
    if value:
        if not value.isdecimal():  # not isdigit(): that takes '²', which int() refuses
            raise ValueError(f"COURSE_THREADS={value!r} should be a whole number of threads, or 0 for torch's default.")
        if int(value) == 0:
            return torch.get_num_threads()
        threads = int(value)
        if threads > MAX_THREADS:
            raise ValueError(f"COURSE_THREADS={value!r} is more threads than the course uses (at most {MAX_THREADS}); "
                             "set it to the number of CPU cores, or 0 for torch's default.")
    else:
        threads = cpu_budget(environ=env)
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


THREADS: int = set_threads()


def describe() -> str:
    """One line saying which mode and device this kernel runs in (notebooks print it)."""
    mode = _("FAST (small sizes, few steps)") if FAST else _("full")
    net = _("offline (no network)") if OFFLINE else _("network allowed")
    return _("torch {version} | device: {device} | mode: {mode} | {network} | CPU threads: {threads}").format(
        version=torch.__version__, device=device().type, mode=mode, network=net, threads=torch.get_num_threads())
