"""Measuring what style transfer costs: time, memory, arithmetic, and where the time goes.

Notebook 07 teaches these measurements; they live here once so that every notebook and
script measures the same way::

    from course_utils import data, perf

    step = perf.Step(data.content_image("chelsea", 128), data.style_image("swirl"))
    perf.time_call(step, repeats=5)       # Timing: median and best of 5 passes, in seconds
    step.flops()                          # FlopCount: FLOPs of one forward + backward pass
    step.activation_mb()                  # MB of tensors autograd keeps for the backward pass
    perf.profile(step).table              # torch.profiler's table of the top operators

* **Time** is wall-clock time, measured after a warm-up call, with the GPU synchronised
  before the clock is read (a CUDA call only *queues* work). On a shared machine other
  programs slow some calls down and never speed any up, so the **best** of several calls
  is the least disturbed estimate of the cost and the **median** what you typically wait.
* **Arithmetic** is counted, not timed: :func:`count_flops` runs the function under
  :class:`torch.utils.flop_counter.FlopCounterMode`, which adds up the FLOPs of every
  matrix product and convolution (a multiply-add counts as 2 FLOPs). It is exact and
  deterministic, so it is what tests and checkpoints can rely on.
* **Memory**: on a GPU, the allocator's peak during the call (:func:`peak_memory_mb`). A
  CPU has no such counter in PyTorch, so :func:`activation_memory_mb` measures what grows
  with the image: the tensors autograd saves during the forward pass for the backward
  pass (feature maps, pooling indices), counted once per storage.

How the cost grows with the image is fitted in :mod:`course_utils.scaling`
(:func:`fit_quadratic`, :func:`largest_side`, also reachable here).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from . import accel, loop, transfer
from .scaling import QuadraticFit, fit_quadratic, largest_side  # notebook 07 reads them here
from .transfer import sweep  # notebook 07 runs its parameter sweeps as perf.sweep

#: The precisions :class:`Step` can run the network in.
PRECISIONS = ("fp32", "bf16")


# ------------------------------------------------------------------------------ timing
def _synchronise() -> None:
    """Wait for queued GPU work, so that the clock measures it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of repeated calls, in seconds.

    Attributes:
        seconds: one entry per timed call (warm-up calls excluded).
    """

    seconds: tuple[float, ...]

    @property
    def repeats(self) -> int:
        """How many calls were timed."""
        return len(self.seconds)

    @property
    def median(self) -> float:
        """The typical time of one call (s)."""
        return float(statistics.median(self.seconds))

    @property
    def best(self) -> float:
        """The fastest call (s): the least disturbed by other programs."""
        return float(min(self.seconds))

    def __str__(self) -> str:
        return f"{1e3 * self.median:.1f} ms (median of {self.repeats}; best {1e3 * self.best:.1f} ms)"


def _check_callable(who: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(
            f"{who} needs a function of no arguments, got {type(fn).__name__}; "
            "pass the function itself, e.g. step, not step()."
        )


def _check_count(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def time_call(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, desc: str | None = None) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    The first call of a PyTorch function pays one-off costs (memory allocation, kernel
    selection, caches), so it is not timed. A GPU is synchronised before each clock read.

    Args:
        fn: a function of no arguments (e.g. a :class:`Step`).
        repeats: timed calls (≥ 1).
        warmup: untimed calls before them (≥ 0).
        desc: if given, a ``tqdm.auto`` progress bar with this label counts the calls.

    Returns:
        A :class:`Timing` with ``repeats`` entries.
    """
    return time_calls({"fn": fn}, repeats=repeats, warmup=warmup, desc=desc)["fn"]


def time_calls(fns: Mapping[Any, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1,
               desc: str | None = None) -> dict[Any, Timing]:
    """Time several functions **interleaved**: round after round, each is called once.

    A burst of activity from another program then slows one call of *every* function
    instead of all the calls of one, so the comparison between them (and the best of each)
    stays fair on a shared machine. Warm-up calls, untimed, come first.

    Args:
        fns: ``{name: function of no arguments}`` (at least one).
        repeats: timed calls of each (≥ 1); warmup: untimed calls of each first (≥ 0).
        desc: if given, a ``tqdm.auto`` progress bar with this label counts the rounds.

    Returns:
        ``{name: Timing}`` in the order given.
    """
    if not isinstance(fns, Mapping):
        raise TypeError(
            f"time_calls needs a dict {{name: function}}, got {type(fns).__name__}; e.g. {{'fp32': step}}."
        )
    if not fns:
        raise ValueError("time_calls needs at least one function to time.")
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"time_call needs a function of no arguments, got {type(fn).__name__} for {name!r}.")
    _check_count("repeats", repeats, 1)
    _check_count("warmup", warmup, 0)
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
    """Per-step wall-clock times of a finished :func:`course_utils.transfer.stylise` run.

    The differences of ``result.history["time"]`` at the last scale, without the first
    ``skip`` of them (the first steps pay one-off costs). This is what one step of the
    engine costs, its own overheads included.

    Raises:
        ValueError: the run has too few steps at its last scale to leave one difference.
    """
    if not isinstance(getattr(result, "history", None), Mapping):
        raise TypeError(
            f"step_times needs one TransferResult from stylise, got {type(result).__name__}; "
            "for a sweep, pass one of its results, e.g. results[value]."
        )
    _check_count("skip", skip, 0)
    times, scales = result.history.get("time", []), result.history.get("scale", [])
    if not times:
        raise ValueError("the result has no steps; run stylise with steps >= 2.")
    last = scales[-1] if scales else 0
    at_last = [t for t, s in zip(times, scales or [last] * len(times), strict=True) if s == last]
    diffs = [b - a for a, b in zip(at_last, at_last[1:], strict=False)][skip:]
    if not diffs:
        raise ValueError(
            f"the run has {len(at_last)} steps at its last scale; step_times(skip={skip}) "
            f"needs at least {skip + 2}: run more steps or lower skip."
        )
    return Timing(tuple(diffs))


# ------------------------------------------------------------------------------ FLOPs
@dataclass(frozen=True)
class FlopCount:
    """FLOPs counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    Attributes:
        total: all FLOPs of the call (a multiply-add counts as 2).
        by_operator: ``{"aten.convolution": n, ...}``, largest first.
    """

    total: int
    by_operator: dict[str, int] = field(default_factory=dict)

    def share(self, prefix: str) -> float:
        """Fraction (0…1) of the FLOPs in operators whose name starts with ``prefix``."""
        part = sum(n for k, n in self.by_operator.items() if k.startswith(prefix))
        return part / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.total / 1e9:.3g} GFLOP"


def count_flops(fn: Callable[[], Any]) -> FlopCount:
    """Count the FLOPs of one call of ``fn()`` (matrix products and convolutions,
    forward and backward), exactly and independently of the machine's speed."""
    from torch.utils.flop_counter import FlopCounterMode

    if not callable(fn):
        raise TypeError(f"count_flops needs a function of no arguments, got {type(fn).__name__}.")
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    by_op: dict[str, int] = {}
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        name = str(op)
        by_op[name] = by_op.get(name, 0) + int(n)
    by_op = dict(sorted(by_op.items(), key=lambda kv: -kv[1]))
    return FlopCount(int(counter.get_total_flops()), by_op)


def conv2d_flops(c_in: int, c_out: int, kernel: int | tuple[int, int], out_hw: tuple[int, int],
                 batch: int = 1) -> int:
    """FLOPs of one 2-D convolution's forward pass: ``2 · B · C_in · C_out · k_h · k_w · H_out · W_out``
    (each output value is ``C_in·k_h·k_w`` multiply-adds, 2 FLOPs each; bias not counted)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    for name, v in (("c_in", c_in), ("c_out", c_out), ("kernel", kh), ("kernel", kw),
                    ("out_hw", out_hw[0]), ("out_hw", out_hw[1]), ("batch", batch)):
        _check_count(name, v, 1)
    return 2 * batch * c_in * c_out * kh * kw * out_hw[0] * out_hw[1]


# ------------------------------------------------------------------------------ memory
def activation_memory_mb(fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()) -> float:
    """MB (2**20 bytes) of the tensors autograd saves for the backward pass during ``fn()``.

    Every tensor saved by an operation (a feature map, pooling indices, …) is counted once
    per storage, so a ReLU output that the next convolution saves too counts once. The
    tensors in ``exclude`` (typically a network's weights, which do not grow with the
    image) are left out. This is the memory that grows with the image size; on a GPU,
    :func:`peak_memory_mb` measures the allocator's peak as well.
    """
    _check_callable("activation_memory_mb", fn)
    skip = {t.untyped_storage().data_ptr() for t in exclude}
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
    ``None`` on a CPU (PyTorch keeps no such counter there: see :func:`activation_memory_mb`)."""
    _check_callable("peak_memory_mb", fn)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a PyTorch device; pass e.g. config.device() or 'cpu'.") from None
    if dev.type != "cuda":
        return None
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but this machine has no usable CUDA GPU; pass config.device(), "
            "or measure on the CPU with activation_memory_mb."
        )
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    fn()
    torch.cuda.synchronize(dev)
    return (torch.cuda.max_memory_allocated(dev) - before) / 2**20


# --------------------------------------------------------------------- one engine step
class Step:
    """One step's work of :func:`course_utils.transfer.stylise`, callable on its own.

    One call is one evaluation of the engine's loop (:class:`course_utils.loop.ClosureStepper`'s
    closure: the objective's forward and backward pass, :class:`course_utils.transfer.Objective`)
    at the content's full size, through the same (cached) feature network, from the content
    image: the work of one L-BFGS or Adam step without the optimiser's own vector
    arithmetic, so every call does the same work. The targets are computed once, here.

    Args:
        content: ``(1, 3, H, W)`` in [0, 1]; resized so that its longest side is
            ``config.size`` when that is set.
        style: ``(1, 3, H_s, W_s)`` in [0, 1]; resized like ``stylise`` does
            (longest side ``style_scale`` × the content's).
        config: a :class:`course_utils.transfer.TransferConfig` (layers, weights, device).
        precision: ``"fp32"``, or ``"bf16"`` to run a bfloat16 copy of the network (the
            engine's GPU path, :func:`course_utils.accel.prepare_network`), with the loss
            summed in float32 (on any device; fast only where the hardware has bf16 units).
        **overrides: settings that replace ``config``'s, e.g. ``style_layers=["relu1_1"]``.

    Calling it returns the loss (a float).
    """

    def __init__(self, content: torch.Tensor, style: torch.Tensor,
                 config: transfer.TransferConfig | None = None, *, precision: str = "fp32",
                 **overrides: Any) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        cfg = transfer.configured(config, **overrides)
        cfg.validate()
        content = transfer.check_image(content, "content")
        style = transfer.check_image(style, "style")
        self.device = transfer.device_of(cfg)
        self.config = cfg.replace(device=str(self.device))
        self.precision = precision
        self.extractor = transfer.feature_network(self.config)
        out_hw = transfer.output_size(content.shape[-2:], cfg)  # stylise's full-size level
        self.size, content, styles = transfer.inputs_at_scale(content, [style], out_hw, 1.0, cfg, self.device)
        # bf16: the engine's own GPU-path network (a bf16 copy; losses stay float32)
        network = self.extractor if precision == "fp32" else accel.prepare_network(
            self.extractor, accel.Plan(self.device, torch.bfloat16, False, False, False))
        self.objective = transfer.Objective(network, content, styles, [1.0], self.config)
        self.variable = transfer.to_variable(content, "sigmoid").requires_grad_(True)
        evaluate = transfer.evaluator(self.objective, self.variable, "sigmoid")
        self.stepper = loop.ClosureStepper([self.variable], evaluate, optimiser="adam", lr=0.0)

    def __call__(self) -> float:
        return float(self.stepper.closure().item())

    def weights(self) -> list[torch.Tensor]:
        """The feature network's parameters and buffers (memory that does not grow with size)."""
        return [*self.extractor.parameters(), *self.extractor.buffers()]

    def flops(self) -> FlopCount:
        """FLOPs of one call (see :func:`count_flops`)."""
        return count_flops(self)

    def activation_mb(self) -> float:
        """MB saved for the backward pass in one call, weights excluded (see :func:`activation_memory_mb`)."""
        return activation_memory_mb(self, exclude=self.weights())

    def __repr__(self) -> str:
        return f"Step(size={self.size}, device={self.device.type}, precision={self.precision})"


# ---------------------------------------------------------------------------- profiler
@dataclass(frozen=True)
class Profile:
    """Where the time of one call went, from :mod:`torch.profiler`.

    Attributes:
        table: the profiler's text table of the top operators by self time.
        top: ``[(operator, self milliseconds, share of all self time), …]``, largest first.
    """

    table: str
    top: list[tuple[str, float, float]]

    def share(self, contains: str) -> float:
        """Share (0…1) of the self time in the listed operators whose name contains ``contains``."""
        return sum(sh for name, _, sh in self.top if contains in name)


_KINETO_NOISE = ("USDT:", "STAGE:")


@contextmanager
def _without_profiler_chatter() -> Iterator[None]:
    """Hide the profiler back-end's (Kineto's) log lines, written straight to file
    descriptor 2 (``USDT: … profiler_start``, and on a CPU-only machine with a CUDA build of
    PyTorch ``ERROR: … gpuGetDeviceCount failed``); anything else written there is passed on."""
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
    """Profile one call of ``fn()`` (after ``warmup`` untimed calls) with :mod:`torch.profiler`:
    CPU operators, and GPU kernels when CUDA is available."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    _check_callable("profile", fn)
    _check_count("row_limit", row_limit, 1)
    _check_count("warmup", warmup, 0)
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


__all__ = [
    "FlopCount", "PRECISIONS", "Profile", "QuadraticFit", "Step", "Timing", "activation_memory_mb",
    "conv2d_flops", "count_flops", "fit_quadratic", "largest_side", "peak_memory_mb", "profile", "step_times",
    "sweep", "time_call", "time_calls",
]
