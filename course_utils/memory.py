"""How much memory a style-transfer run needs, and a refusal before it is asked for.

Optimising the pixels keeps the network's feature maps, from the input to the deepest
layer used, for the backward pass: VGG19 up to ``relu5_1`` makes 610 numbers per output
pixel (64 channels at full size, 128 at half size, …), and with the backward pass's
temporaries about 3.3 kB per pixel are alive. A 20,000 px square therefore needs about two
terabytes, and PyTorch would grab memory until the machine stops it. :func:`check_fits` refuses such a run at once, in one
sentence, with the largest size that would fit::

    from course_utils import memory
    memory.check_fits((20000, 20000), (20000, 20000))   # MemoryError: ... the largest ...
    memory.estimate((256, 256), (256, 256))["total"]    # bytes, about 0.45 GB

The estimate counts, from plain numbers: the feature maps kept for the backward pass (and
the gradients that flow back through them), the style's feature maps while its Gram
targets are computed (no backward pass there, so only a few maps are alive at once), and
the optimiser's state (L-BFGS keeps ``history_size`` pairs of image-sized vectors; Adam
two). Coarse to fine runs one level after the other, so the largest (the last) decides.
The factors were calibrated against the peak resident memory of real runs on a CPU (see
:func:`measure_peak`, and the measured figures in ``benchmarks/README.md``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

import torch

from . import features

#: Bytes in one float32 number.
FLOAT = 4
#: Share of the feature maps kept for the backward pass: the ReLUs' outputs (and the
#: max-pools'); a convolution's output is freed once its ReLU has read it (calibrated).
KEPT = 0.5
#: Numbers per output pixel alive on top of those during the backward pass: gradients and
#: temporaries at full size, about eight maps of 64 channels (calibrated).
TRANSIENT = 8 * 64
#: Numbers per style pixel alive while the style's Gram targets are computed without a
#: graph: the input and output of one layer of the first block, a little over three maps
#: of 64 channels (calibrated).
STYLE_NUMBERS = 200
#: Bytes a run allocates whatever its size (calibrated: about 34 MB on a CPU).
FIXED = 40 * 2**20
#: Memory kept free for Python, the notebook and everything else (bytes).
HEADROOM = 512 * 2**20


def numbers_per_pixel(deepest_layer: str = "relu5_1") -> float:
    """Feature-map numbers per input pixel that VGG19 produces up to ``deepest_layer``:
    every layer's channels divided by the square of its stride (610 for ``relu5_1``)."""
    last = features.layer_index(features.check_layer_name(deepest_layer))
    names = features.LAYER_NAMES[: last + 1]
    return sum(features.channels(n) / features.stride(n) ** 2 for n in names)


def estimate(
    out_hw: Sequence[int],
    style_hw: Sequence[int],
    *,
    deepest_layer: str = "relu5_1",
    optimiser: str = "lbfgs",
    history_size: int = 100,
    scales: int = 1,
    batch: int = 1,
) -> dict[str, int]:
    """The memory (bytes) a style-transfer run needs on top of the loaded network.

    Args:
        out_hw: the result's ``(H, W)`` (the last, largest level of coarse to fine).
        style_hw: the style image's ``(H, W)`` after ``style_scale``.
        deepest_layer: the deepest VGG19 layer used by the content or style loss.
        optimiser: ``"lbfgs"`` or ``"adam"``.
        history_size: L-BFGS memory (pairs of image-sized vectors).
        scales: number of coarse-to-fine levels (run one after the other: only the count
            of temporary images grows).
        batch: images optimised together.

    Returns:
        Bytes: ``"network"`` (its weights), ``"features"`` (maps kept for the backward pass
        and its temporaries), ``"optimiser"`` (its vectors and the images of each level),
        ``"style"`` (computing the style's targets, before the optimisation) and
        ``"total"``: a fixed part, the network and the larger of the two phases.
    """
    pixels = int(out_hw[0]) * int(out_hw[1]) * batch
    style_pixels = int(style_hw[0]) * int(style_hw[1])
    image = FLOAT * 3 * pixels  # one image-sized vector
    vectors = 2 * history_size + 4 if optimiser == "lbfgs" else 4  # L-BFGS's pairs; Adam's moments
    parts = {
        "network": FLOAT * network_numbers(deepest_layer),
        "features": round(FLOAT * pixels * (KEPT * numbers_per_pixel(deepest_layer) + TRANSIENT)),
        "optimiser": image * (vectors + scales),
        "style": FLOAT * style_pixels * STYLE_NUMBERS,
    }
    # the style's targets are computed before the optimisation starts: the larger phase counts
    parts["total"] = FIXED + parts["network"] + max(parts["features"] + parts["optimiser"], parts["style"])
    return parts


def network_numbers(deepest_layer: str = "relu5_1") -> int:
    """Weights and biases of VGG19's convolutions up to ``deepest_layer``."""
    last = features.layer_index(features.check_layer_name(deepest_layer))
    convs = [n for n in features.LAYER_NAMES[: last + 1] if n.startswith("conv")]
    total, c_in = 0, 3
    for name in convs:
        c_out = features.channels(name)
        total += c_out * c_in * 9 + c_out
        c_in = c_out
    return total


def available_bytes() -> int | None:
    """Memory that can be used now: Linux's ``MemAvailable``, else the free pages
    ``os.sysconf`` reports, else half of the physical memory; None if nothing says."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    for pages, half in (("SC_AVPHYS_PAGES", False), ("SC_PHYS_PAGES", True)):
        try:
            n = os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
        if n > 0:
            return n // 2 if half else n
    return None


def free_bytes() -> int | None:
    """What a run may use: :func:`available_bytes` less :data:`HEADROOM` (None if unknown)."""
    total = available_bytes()
    return None if total is None else max(0, total - HEADROOM)


def _readable(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def largest_fitting_side(out_hw: Sequence[int], style_hw: Sequence[int], free: int, **settings) -> int:
    """The longest side (px) the result can have, the style scaled along with it, so that
    :func:`estimate` stays within ``free`` bytes (0 if not even 16 px fits)."""
    longest = max(out_hw)

    def fits(side: int) -> bool:
        k = side / longest
        out = [max(1, round(v * k)) for v in out_hw]
        style = [max(1, round(v * k)) for v in style_hw]
        return estimate(out, style, **settings)["total"] <= free

    lo, hi = 0, max(longest, 16)
    while hi - lo > 1:  # bisection: fits(lo) or lo == 0, not fits(hi) or hi == longest
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return hi if fits(hi) else lo if lo >= 16 else 0


def check_fits(out_hw: Sequence[int], style_hw: Sequence[int], *, free: int | None = None, **settings) -> int:
    """Refuse, in one sentence, a run whose estimate exceeds the memory available.

    Args:
        out_hw, style_hw, **settings: as for :func:`estimate`.
        free: bytes available (default: :func:`free_bytes`).

    Returns:
        The estimate in bytes, when it fits (or when the free memory cannot be read).

    Raises:
        MemoryError: naming the size asked, the estimate, the memory free and the largest
            size that fits.
    """
    need = estimate(out_hw, style_hw, **settings)["total"]
    free = free_bytes() if free is None else free
    if free is None or need <= free:
        return need
    side = largest_fitting_side(out_hw, style_hw, free, **settings)
    if side:
        fix = f"the largest size that fits is about {side} px (size={side})"
    elif max(style_hw) > max(out_hw):
        fix = "not even 16 px fits with a style this large: lower style_scale"
    else:
        fix = "not even 16 px fits"
    raise MemoryError(
        f"A style transfer at {out_hw[0]}x{out_hw[1]} px (style {style_hw[0]}x{style_hw[1]} px) needs "
        f"about {_readable(need)} of memory but only {_readable(free)} is free; {fix}, or close other programs."
    )


def check_transfer(out_hw: Sequence[int], style_hws: Sequence[Sequence[int]], config, device=None) -> int:
    """:func:`check_fits` for :func:`course_utils.transfer.stylise`, before it allocates.

    Args:
        out_hw: the result's ``(H, W)``.
        style_hws: each style image's ``(H, W)`` as given (before ``config.style_scale``).
        config: the run's :class:`~course_utils.transfer.TransferConfig`.
        device: where the run happens; on a CUDA GPU its free memory is what counts.
    """
    longest = max(8, round(max(out_hw) * config.style_scale))  # as the engine resizes the style
    biggest = max(style_hws, key=lambda hw: hw[0] * hw[1])
    k = longest / max(biggest)
    style_hw = (max(1, round(biggest[0] * k)), max(1, round(biggest[1] * k)))
    layers = [*config.content_layers, *config.style_layers]
    free = None
    if device is not None and torch.device(device).type == "cuda":
        free = torch.cuda.mem_get_info(torch.device(device))[0]
    return check_fits(
        tuple(out_hw), style_hw, free=free,
        deepest_layer=max(layers, key=lambda n: features.layer_index(features.check_layer_name(n))),
        optimiser=config.optimiser, history_size=config.history_size, scales=len(tuple(config.scales)),
    )


def measure_peak(size: int, *, style_scale: float = 1.0, optimiser: str = "lbfgs",
                 layers: Sequence[str] = features.GATYS_STYLE_LAYERS, steps: int = 2,
                 history_size: int = 100) -> int:
    """The peak resident memory (bytes) one :func:`~course_utils.transfer.stylise` run at
    ``size`` px adds, measured in a fresh Python process (Linux only: it resets the
    process's peak with ``/proc/self/clear_refs`` after the network is loaded). The content
    and the style are random ``size``-px squares; the offline network, on the CPU."""
    code = f"""
import json, torch
from course_utils import transfer
def kb(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
g = torch.Generator().manual_seed(0)
content, style = torch.rand(1, 3, {size}, {size}, generator=g), torch.rand(1, 3, 64, 64, generator=g)
kw = dict(style_layers={list(layers)!r}, content_layers=[{layers[-1]!r}], weights="random", device="cpu",
          progress=False, optimiser={optimiser!r}, history_size={history_size})
transfer.stylise(content[..., :16, :16], style[..., :16, :16], size=16, steps=1, **kw)  # loads the network
try:  # hand freed memory back first, so that reusing it counts (glibc)
    import ctypes, gc
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
open("/proc/self/clear_refs", "w").write("5")  # the peak restarts from here
base = kb("VmRSS")
transfer.stylise(content, style, size={size}, style_scale={style_scale}, steps={steps}, **kw)
print(json.dumps((kb("VmHWM") - base) * 1024))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the peak memory failed: {done.stderr.strip().splitlines()[-1:]}")
    return int(json.loads(done.stdout.strip().splitlines()[-1]))
