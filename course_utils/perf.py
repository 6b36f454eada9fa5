"""Measuring what style transfer costs (notebook 07): time (:func:`time_calls`), arithmetic
(:func:`count_flops`, exact), memory (:func:`activation_memory_mb`, :func:`peak_memory_mb`),
where the time goes (:func:`profile`), and :class:`Step`, one step of the engine's work.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from . import accel, loop, transfer
from .checks import count, refused_call
from .scaling import QuadraticFit, fit_quadratic, largest_side  # notebook 07 reads them here
from .transfer import sweep  # notebook 07 runs its parameter sweeps as perf.sweep

#: The precisions :class:`Step` can run the network in.
PRECISIONS = ("fp32", "bf16")


# ------------------------------------------------------------------------------ timing
def _synchronise() -> None:
    """Wait for queued GPU work, so that the clock measures it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    if torch.backends.mps.is_available():
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Wall-clock times (s) of the timed calls: the ``median`` is what one typically waits,
    the ``best`` the least disturbed by other programs (they slow calls, never speed them)."""

    seconds: tuple[float, ...]

    @property
    def repeats(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        return float(statistics.median(self.seconds))

    @property
    def best(self) -> float:
        return float(min(self.seconds))

    def __str__(self) -> str:
        return f"{1e3 * self.median:.1f} ms (median of {self.repeats}; best {1e3 * self.best:.1f} ms)"


def _check_callable(who: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{who} needs a function of no arguments, got {type(fn).__name__}; "
                        "pass the function itself, e.g. step, not step().")
    refused = refused_call(fn)
    if refused is not None:
        raise TypeError(f"{who} needs a function of no arguments, got {getattr(fn, '__name__', type(fn).__name__)}"
                        f"{refused}, which needs arguments; wrap the call, e.g. lambda: f(x).")


def time_call(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, desc: str | None = None) -> Timing:
    """Time ``fn()`` (no arguments, e.g. a :class:`Step`) ``repeats`` times after ``warmup``
    untimed calls, which pay the one-off costs; ``desc`` labels a progress bar."""
    return time_calls({"fn": fn}, repeats=repeats, warmup=warmup, desc=desc)["fn"]


def time_calls(fns: Mapping[Any, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1,
               desc: str | None = None) -> dict[Any, Timing]:
    """Time ``{name: function}`` **interleaved**, round after round, and return
    ``{name: Timing}``: a burst of load slows one call of each function, not all of one."""
    if not isinstance(fns, Mapping):
        raise TypeError(f"time_calls needs a dict {{name: function}}, got {type(fns).__name__}; e.g. {{'fp32': step}}.")
    if not fns:
        raise ValueError("time_calls needs at least one function to time.")
    for fn in fns.values():
        _check_callable("time_call", fn)
    count("repeats", repeats, 1)
    count("warmup", warmup, 0)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _synchronise()
    out: dict[Any, list[float]] = {name: [] for name in fns}
    from tqdm.auto import tqdm

    for _ in tqdm(range(repeats), desc=desc, disable=desc is None, leave=False):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            _synchronise()
            out[name].append(time.perf_counter() - start)
    return {name: Timing(tuple(times)) for name, times in out.items()}


def step_times(result: transfer.TransferResult, skip: int = 1) -> Timing:
    """Per-step times of a finished ``stylise`` run, its own overheads included: the
    differences of ``history["time"]`` at the last scale, without the first ``skip``."""
    if not isinstance(getattr(result, "history", None), Mapping):
        raise TypeError(f"step_times needs one TransferResult from stylise, got {type(result).__name__}; "
                        "for a sweep, pass one of its results, e.g. results[value].")
    count("skip", skip, 0)
    times, scales = result.history.get("time", []), result.history.get("scale", [])
    if not times:
        raise ValueError("the result has no steps; run stylise with steps >= 2.")
    last = scales[-1] if scales else 0
    at_last = [t for t, s in zip(times, scales or [last] * len(times), strict=True) if s == last]
    diffs = [b - a for a, b in zip(at_last, at_last[1:], strict=False)][skip:]
    if not diffs:
        raise ValueError(f"the run has {len(at_last)} steps at its last scale; step_times(skip={skip}) "
                         f"needs at least {skip + 2}: run more steps or lower skip.")
    return Timing(tuple(diffs))


# ------------------------------------------------------------------------------ FLOPs
@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one call (a multiply-add counts as 2), in all and ``by_operator``
    (``{"aten.convolution": n, ...}``, largest first)."""

    total: int
    by_operator: dict[str, int] = field(default_factory=dict)

    def share(self, prefix: str) -> float:
        """Fraction (0…1) of the FLOPs in operators whose name starts with ``prefix``."""
        part = sum(n for k, n in self.by_operator.items() if k.startswith(prefix))
        return part / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.total / 1e9:.3g} GFLOP"


def count_flops(fn: Callable[[], Any]) -> FlopCount:
    """The FLOPs of one call of ``fn()`` (matrix products and convolutions, forward and
    backward), counted by ``torch.utils.flop_counter.FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    _check_callable("count_flops", fn)
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    by_op: Counter[str] = Counter()
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        by_op[str(op)] += int(n)
    return FlopCount(int(counter.get_total_flops()), dict(by_op.most_common()))


def conv2d_flops(c_in: int, c_out: int, kernel: int | tuple[int, int], out_hw: tuple[int, int],
                 batch: int = 1) -> int:
    """FLOPs of one 2-D convolution's forward pass: ``2 · B · C_in · C_out · k_h · k_w · H_out · W_out``
    (each output value is ``C_in·k_h·k_w`` multiply-adds, 2 FLOPs each; bias not counted)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    for name, v in (("c_in", c_in), ("c_out", c_out), ("kernel", kh), ("kernel", kw),
                    ("out_hw", out_hw[0]), ("out_hw", out_hw[1]), ("batch", batch)):
        count(name, v, 1)
    return 2 * batch * c_in * c_out * kh * kw * out_hw[0] * out_hw[1]


# ------------------------------------------------------------------------------ memory
def activation_memory_mb(fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()) -> float:
    """MB (2**20 bytes) of the tensors autograd saves for the backward pass during ``fn()``,
    once per storage, without those in ``exclude`` (e.g. the network's weights; None: none)."""
    _check_callable("activation_memory_mb", fn)
    skip = {t.untyped_storage().data_ptr() for t in (() if exclude is None else exclude)}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # e.g. a tensor subclass without storage
            return t
        ptr = storage.data_ptr()
        if ptr not in skip:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values()) / 2**20


def peak_memory_mb(fn: Callable[[], Any], device: torch.device | str) -> float | None:
    """Peak of the GPU allocator during ``fn()`` above what was allocated before, in MB;
    ``None`` on a CPU, which keeps no such counter."""
    _check_callable("peak_memory_mb", fn)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a PyTorch device; pass e.g. config.device() or 'cpu'.") from None
    if dev.type != "cuda":
        return None
    if not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but this machine has no usable CUDA GPU; pass config.device(), "
                         "or measure on the CPU with activation_memory_mb.")
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    fn()
    torch.cuda.synchronize(dev)
    return (torch.cuda.max_memory_allocated(dev) - before) / 2**20


# --------------------------------------------------------------------- one engine step
class Step:
    """One step's work of ``stylise``: calling it evaluates the engine's objective and its
    backward pass once at full size from the content image (the loop's closure, without the
    optimiser's update) and returns the loss. The arguments are ``stylise``'s;
    ``precision="bf16"`` runs the engine's bfloat16 copy of the network."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor,
                 config: transfer.TransferConfig | None = None, *, precision: str = "fp32",
                 **overrides: Any) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        cfg = transfer.configured(config, **overrides)
        cfg.validate()
        # stylise's checked start (a run that cannot fit is refused before it allocates), for
        # one full-size level whose optimiser keeps no L-BFGS history
        content, styles, blend, out_hw, self.device = transfer.run_inputs(
            content, style, cfg.replace(optimiser="adam", scales=(1.0,)))
        self.config = cfg.replace(device=str(self.device))
        self.precision = precision
        self.extractor = transfer.feature_network(self.config)
        self.size, content, styles = transfer.inputs_at_scale(content, styles, out_hw, 1.0, cfg, self.device)
        network = self.extractor if precision == "fp32" else accel.prepare_network(
            self.extractor, accel.Plan(self.device, torch.bfloat16, False, False, False))
        self.objective = transfer.Objective(network, content, styles, blend, self.config)
        self.variable = transfer.to_variable(content, "sigmoid").requires_grad_(True)
        evaluate = transfer.evaluator(self.objective, self.variable, "sigmoid")
        self.stepper = loop.ClosureStepper([self.variable], evaluate, optimiser="adam", lr=0.0)

    def __call__(self) -> float:
        return float(self.stepper.closure().item())

    def weights(self) -> list[torch.Tensor]:
        """The feature network's parameters and buffers (memory that does not grow)."""
        return [*self.extractor.parameters(), *self.extractor.buffers()]

    def flops(self) -> FlopCount:
        return count_flops(self)

    def activation_mb(self) -> float:
        """MB saved for the backward pass in one call, weights excluded."""
        return activation_memory_mb(self, exclude=self.weights())

    def __repr__(self) -> str:
        return f"Step(size={self.size}, device={self.device.type}, precision={self.precision})"


# ---------------------------------------------------------------------------- profiler
@dataclass(frozen=True)
class Profile:
    """Where one call's time went: the profiler's ``table`` of the top operators by self
    time, and ``top`` as ``[(operator, self ms, share of all self time), …]``."""

    table: str
    top: list[tuple[str, float, float]]

    def share(self, contains: str) -> float:
        """Share (0…1) of the self time in the listed operators whose name contains ``contains``."""
        return sum(sh for name, _, sh in self.top if contains in name)


_KINETO_NOISE = ("USDT:", "STAGE:")


@contextmanager
def _without_profiler_chatter() -> Iterator[None]:
    """Hide what Kineto writes straight to file descriptor 2 (``USDT: …``, ``gpuGetDeviceCount
    failed``); pass anything else on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines():
                if line.strip() and not line.startswith(_KINETO_NOISE) and "gpuGetDeviceCount" not in line:
                    print(line, file=sys.stderr)


def profile(fn: Callable[[], Any], *, row_limit: int = 10, warmup: int = 1) -> Profile:
    """Profile one call of ``fn()`` after ``warmup`` untimed ones with ``torch.profiler``
    (CPU operators, and GPU kernels when CUDA is in use)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    _check_callable("profile", fn)
    count("row_limit", row_limit, 1)
    count("warmup", warmup, 0)
    for _ in range(warmup):
        fn()
    _synchronise()
    activities = [ProfilerActivity.CPU]
    on_gpu = torch.cuda.is_available() and torch.cuda.is_initialized()
    if on_gpu:
        activities.append(ProfilerActivity.CUDA)
    with _without_profiler_chatter():
        with torch_profile(activities=activities) as prof:
            fn()
            _synchronise()
        averages = prof.key_averages()
    key = "self_device_time_total" if on_gpu else "self_cpu_time_total"
    values = [(e.key, float(getattr(e, key, 0.0) or 0.0)) for e in averages]
    total = sum(v for _, v in values) or 1.0
    values.sort(key=lambda kv: -kv[1])
    top = [(name, v / 1e3, v / total) for name, v in values[:row_limit]]
    table = averages.table(sort_by=key, row_limit=row_limit)
    return Profile(table, top)


__all__ = ["FlopCount", "PRECISIONS", "Profile", "QuadraticFit", "Step", "Timing", "activation_memory_mb",
           "conv2d_flops", "count_flops", "fit_quadratic", "largest_side", "peak_memory_mb", "profile",
           "step_times", "sweep", "time_call", "time_calls"]
