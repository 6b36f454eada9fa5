"""What several benchmark scripts share: the test pictures, the machine line, step timing."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

import torch

from course_utils import accel, data, images, transfer
from course_utils.objective import Objective


def pictures(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Chelsea and the generated ``swirl`` style, both resized to ``size`` × ``size``."""
    content = images.resize(data.content_image("chelsea"), (size, size))
    return content, images.resize(data.style_image("swirl"), (size, size))


def fp32_objective(cfg: transfer.TransferConfig, content: torch.Tensor,
                   style: torch.Tensor) -> tuple[Objective, torch.device]:
    """The engine's objective for ``cfg`` in plain fp32 (no channels-last, no graphs), and
    the device it runs on."""
    c = cfg.replace(precision="fp32", channels_last=False, cuda_graphs=False)
    net = transfer.feature_network(c)
    dev = next(net.parameters()).device
    return Objective(net, content.to(dev), [style.to(dev)], [1.0], c), dev


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    """The CPU, its bfloat16 flags, torch's version and threads, and the load average."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    except OSError:
        pass
    caps = torch.cpu.get_capabilities()
    flags = ", ".join(f"{f} {'yes' if caps.get(f) else 'no'}"
                      for f in (*accel.CPU_BF16_FLAGS, "amx_tile", "avx512_f"))
    return (f"{cpu}; {os.cpu_count()} cores; flags: {flags}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; load average {load_average()}")


def median_step_ms(times: list[float]) -> float:
    """The median gap between successive timestamps (a run's ``history["time"]``), in ms."""
    return 1000 * statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
