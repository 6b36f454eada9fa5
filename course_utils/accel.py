"""The engine's fast path: bfloat16 where the hardware has the units for it, and on a CUDA
GPU channels-last, a one-product Gram backward, CUDA graphs and (when asked) torch.compile.

``stylise`` follows :func:`plan` (``result.plan`` says what was used and why). Only the
network runs in bf16: features, Grams, losses and the image stay float32. CUDA graphs need
Adam: PyTorch's L-BFGS decides on the host whether to keep each curvature pair. Notebook 07
discusses it; ``benchmarks/README.md`` has the measured figures.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from . import loop, losses
from .i18n import N_
from .i18n import localised as _

PRECISIONS = ("auto", "fp32", "bf16")
#: The ``torch.compile`` modes ``TransferConfig.compile`` may name (``True`` is ``"default"``);
#: none with inductor's own CUDA graphs, since the engine records its own around the step.
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class Plan:
    """What the engine will do on one device (see :func:`plan`)."""

    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    cuda_graphs: bool
    compile: bool
    compile_mode: str = "default"
    reason: str = ""  # why this precision, e.g. "this CPU has amx_bf16, avx512_bf16"

    @property
    def precision(self) -> str:
        """``"bf16"`` or ``"fp32"``: the network's precision."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    def describe(self) -> str:
        """The device, then :meth:`describe_fast`, e.g. ``"cuda, bf16 (this GPU has bfloat16
        tensor cores), CUDA graphs"``."""
        return f"{self.device}, {self.describe_fast()}"

    def describe_fast(self) -> str:
        """The precision and why, and the fast-path pieces in use (what a result's line shows)."""
        parts = [f"{self.precision} ({self.reason})" if self.reason else self.precision]
        if self.channels_last:
            parts.append("channels-last")
        if self.cuda_graphs:
            parts.append("CUDA graphs")
        if self.compile:
            parts.append("torch.compile" + ("" if self.compile_mode == "default" else f" ({self.compile_mode})"))
        return ", ".join(parts)


#: The CPU flags of bfloat16 matrix units (as ``torch.cpu.get_capabilities()`` names them):
#: Intel AMX and AVX-512 BF16. Arm's bf16 is not counted: nobody has measured it here.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")

#: Optimisers with which bf16 failed ``benchmarks/bf16_quality.py``'s check, and the measured
#: figure: ``"auto"`` keeps fp32 for them and says why.
BF16_QUALITY_FAILS: dict[str, str] = {
    "lbfgs": N_("final loss 27.7 % above fp32's at 32 px after 4 steps (Adam: 0.42 %)"),
}


def cpu_bf16_units() -> tuple[str, ...]:
    """The bfloat16 matrix units of this CPU, among :data:`CPU_BF16_FLAGS`, from cpuinfo's
    flags (a timed trial costs seconds and wavers: ``benchmarks/bf16_detection.py``)."""
    caps = torch.cpu.get_capabilities()
    return tuple(flag for flag in CPU_BF16_FLAGS if caps.get(flag))


def bf16_hardware(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` runs bfloat16 convolutions natively (CUDA with compute capability
    ≥ 8, or a CPU with :func:`cpu_bf16_units`), and the reason in words."""
    if device.type == "cpu":
        units = cpu_bf16_units()
        if units:
            return True, _("this CPU has {units}").format(units=", ".join(units))
        return False, _("this CPU has no bfloat16 matrix units ({flags})").format(flags=" or ".join(CPU_BF16_FLAGS))
    if device.type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return True, _("this GPU has bfloat16 tensor cores")
        return False, _("this GPU (compute capability {major}.{minor}) has no bfloat16 tensor cores").format(major=major, minor=minor)
    return False, _("bf16 is not used on {device}").format(device=device.type)


def _precision(cfg: Any, device: torch.device) -> tuple[torch.dtype, str]:
    """The network's dtype for ``cfg.precision`` on ``device``, and why."""
    native, why = bf16_hardware(device)
    if cfg.precision == "fp32":
        return torch.float32, _("as asked")
    if cfg.precision == "bf16":
        return torch.bfloat16, _("as asked") if native else _("as asked; emulated, slow: {why}").format(why=why)
    if native and cfg.optimiser in BF16_QUALITY_FAILS:
        return torch.float32, _("bf16 failed the quality check with {optimiser}: {figure}").format(
            optimiser=cfg.optimiser, figure=_(BF16_QUALITY_FAILS[cfg.optimiser]))
    return (torch.bfloat16 if native else torch.float32), why


def plan(cfg: Any, device: torch.device) -> Plan:
    """Resolve ``cfg``'s ``precision``, ``channels_last``, ``cuda_graphs`` and ``compile``
    (``"auto"``/``None`` = decide) for ``device``: bf16 where the hardware has the units
    unless the optimiser is in :data:`BF16_QUALITY_FAILS`, channels-last on CUDA, graphs on
    CUDA with Adam unless pixels are clamped, compile only when asked."""
    cuda = device.type == "cuda"
    dtype, reason = _precision(cfg, device)
    channels_last = cuda if cfg.channels_last is None else bool(cfg.channels_last)
    graphable = cuda and cfg.optimiser == "adam" and cfg.pixel_range != "clamp"
    if cfg.cuda_graphs is None:
        graphs = graphable
    elif cfg.cuda_graphs and not graphable:
        raise ValueError("cuda_graphs=True needs a CUDA device, optimiser='adam' and a pixel_range other than "
                         f"'clamp' (got device {device}, optimiser {cfg.optimiser!r}, pixel_range "
                         f"{cfg.pixel_range!r}); use cuda_graphs=None to let the engine decide.")
    else:
        graphs = bool(cfg.cuda_graphs)
    mode = cfg.compile if isinstance(cfg.compile, str) else "default"
    return Plan(device, dtype, channels_last, graphs, bool(cfg.compile), mode, reason)


def compiled(objective: Callable, p: Plan) -> Callable:
    """``objective``, or ``torch.compile`` of it when the plan asks (once per image size)."""
    if not p.compile:
        return objective
    return torch.compile(objective.__call__, dynamic=False, mode=None if p.compile_mode == "default" else p.compile_mode)


#: Without a callback or a preview, the graphed step's losses are read back every this many steps.
READ_EVERY = 50

_NETWORK_CACHE: dict[tuple[int, torch.dtype, bool], torch.nn.Module] = {}


def prepare_network(extractor: torch.nn.Module, p: Plan) -> torch.nn.Module:
    """The feature network as the plan wants it: a cached **copy** in bf16 and/or
    channels-last that converts its input itself (the shared extractor is never changed)."""
    if p.device.type == "cuda":
        # a run's shapes never change: cuDNN's timing of its algorithms on the first step pays
        torch.backends.cudnn.benchmark = True
    if p.dtype == torch.float32 and not p.channels_last:
        return extractor
    key = (id(extractor), p.dtype, p.channels_last)
    net = _NETWORK_CACHE.get(key)
    if net is None:
        net = copy.deepcopy(extractor)
        net.body.to(dtype=p.dtype)  # mean/std stay float32: normalisation is done in fp32
        if p.dtype != torch.float32:  # features leave in float32: Grams and losses stay float32
            net.register_forward_hook(lambda module, args, out: {name: f.float() for name, f in out.items()})
        if p.channels_last:  # the copy takes images in either layout
            net.body.to(memory_format=torch.channels_last)
            net.register_forward_pre_hook(
                lambda module, args: (args[0].contiguous(memory_format=torch.channels_last), *args[1:]))
        _NETWORK_CACHE[key] = net
    return net


class GraphedAdam:
    """One Adam step of ``evaluate()`` recorded as a CUDA graph and replayed: a ``stepper``
    for :func:`course_utils.loop.optimise`. The step writes its loss terms into a table
    (``n_steps`` rows) and keeps the best image, all on the device, so a replay needs no
    host synchronisation. ``warmup`` (≥ 1) steps run eagerly before recording; off CUDA, or
    with ``use_graph=False``, every step runs eagerly with the same bookkeeping."""

    loss_scale = 1.0  # Adam does not depend on the loss's scale

    def __init__(self, variable: torch.Tensor, evaluate: Callable[[], loop.Evaluation], lr: float, n_steps: int,
                 warmup: int = 3, use_graph: bool = True) -> None:
        self.var, self.evaluate = variable, evaluate
        dev = variable.device
        self.use_graph = use_graph and dev.type == "cuda"
        # fused Adam on CUDA: one kernel for the update instead of about ten
        self.opt = torch.optim.Adam([variable], lr=lr, capturable=self.use_graph, fused=dev.type == "cuda")
        self.n_steps = max(n_steps, 1)
        self.counter = torch.zeros((), dtype=torch.long, device=dev)
        self.best_value = torch.full((), math.inf, device=dev)
        # made by the first (eager) step, which shows the terms' names and the image's shape
        self.terms: tuple[str, ...] = ()
        self.table: torch.Tensor | None = None
        self.best_image: torch.Tensor | None = None
        self.current: torch.Tensor | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.steps_done = self.read_up_to = 0
        self.warmup = max(warmup, 1)

    def _body(self) -> None:
        ev = self.evaluate()
        ev.loss.backward()
        with torch.no_grad():
            if self.table is None:
                self.terms = tuple(ev.terms)
                self.table = torch.full((self.n_steps, 1 + len(self.terms)), float("nan"), device=self.var.device)
                self.best_image, self.current = torch.zeros_like(ev.image), torch.zeros_like(ev.image)
            total = ev.loss.detach().float()
            row = torch.stack([total, *(ev.terms[k].detach().float() for k in self.terms)])
            self.table.index_copy_(0, self.counter.view(1), row.view(1, -1))
            self.counter.add_(1)
            better = total < self.best_value
            self.best_value.copy_(torch.where(better, total, self.best_value))
            self.best_image.copy_(torch.where(better, ev.image, self.best_image))
            self.current.copy_(ev.image)
        self.opt.step()

    def step(self, read: bool = True) -> list[loop.Record]:
        """Take one step (eagerly during warm-up, then by replaying the recorded graph);
        with ``read``, return the records of the steps not read yet (one synchronisation)."""
        if not self.use_graph:
            self.var.grad = None
            self._body()
        elif self.steps_done < self.warmup:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self.var.grad = None
                self._body()
            torch.cuda.current_stream().wait_stream(stream)
        else:
            if self.graph is None:
                self.var.grad = None
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):
                    self._body()
            self.graph.replay()
        self.steps_done += 1
        if not read:
            return []
        records = [loop.Record(losses, self.current) for losses in self.read(self.read_up_to, self.steps_done)]
        self.read_up_to = self.steps_done
        return records

    def read(self, start: int, stop: int) -> list[dict[str, float]]:
        """The recorded losses of steps ``start`` to ``stop - 1`` (one host synchronisation)."""
        rows = self.table[start:stop].tolist()
        names = ("total", *self.terms)
        return [dict(zip(names, r, strict=True)) for r in rows]

    def best(self) -> tuple[torch.Tensor | None, None]:
        """The best image so far (a copy; ``None`` before the first step), and no extra state."""
        return (None if self.best_image is None else self.best_image.clone()), None


def style_loss(generated_feats: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float]) -> torch.Tensor:
    """:func:`course_utils.losses.style_loss` with this module's :func:`gram_matrix`."""
    return sum(layer_weights[name] * losses.relative_error(gram_matrix(generated_feats[name]), target)
               for name, target in target_grams.items())


def style_loss_for(p: Plan) -> Callable[..., torch.Tensor]:
    """:func:`style_loss` on CUDA, elsewhere the lessons' :func:`course_utils.losses.style_loss`
    (on a CPU the faster Gram hardly matters)."""
    return style_loss if p.device.type == "cuda" else losses.style_loss


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """:func:`course_utils.losses.gram_matrix` with a one-product backward, reading
    channels-last features without a copy."""
    b, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return SymmetricGram.apply(x.permute(0, 2, 3, 1).reshape(b, h * w, c), True) / (h * w)
    return SymmetricGram.apply(x.reshape(b, c, h * w), False) / (h * w)


class SymmetricGram(torch.autograd.Function):
    """``G = F Fᵀ`` whose backward is one product, ``dF = (dG + dGᵀ)·F``, where autograd
    computes ``dG·F`` and ``dGᵀ·F`` separately. With ``positions_first`` the input is
    ``(B, N, C)`` (channels-last features, viewed without a copy)."""

    @staticmethod
    def forward(ctx, f: torch.Tensor, positions_first: bool) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.positions_first = positions_first
        return torch.bmm(f.transpose(1, 2), f) if positions_first else torch.bmm(f, f.transpose(1, 2))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_gram: torch.Tensor) -> tuple[torch.Tensor, None]:
        (f,) = ctx.saved_tensors
        sym = (grad_gram + grad_gram.transpose(1, 2)).to(f.dtype)
        return (torch.bmm(f, sym) if ctx.positions_first else torch.bmm(sym, f)), None


__all__ = ["BF16_QUALITY_FAILS", "COMPILE_MODES", "CPU_BF16_FLAGS", "GraphedAdam", "PRECISIONS", "Plan", "READ_EVERY",
           "SymmetricGram", "bf16_hardware", "compiled", "cpu_bf16_units", "gram_matrix", "plan", "prepare_network",
           "style_loss", "style_loss_for"]
