"""The memory estimate (``course_utils.memory``) against the peak a real run adds.

Each run is a fresh process (Linux: it restarts its peak with ``/proc/self/clear_refs``
once the offline network is loaded) that stylises random squares on the CPU; the table
prints the measured peak beside the estimate without the network. ``tests/test_memory.py``
runs one size.

    .venv/bin/python benchmarks/memory_peak.py                       # 128, 192, 256 px; L-BFGS and Adam
    .venv/bin/python benchmarks/memory_peak.py --sizes 192 --optimisers adam
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from course_utils import memory

_RUN = """
import json, torch
from course_utils import features, transfer
def kb(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
g = torch.Generator().manual_seed(0)
content, style = torch.rand(1, 3, {size}, {size}, generator=g), torch.rand(1, 3, 64, 64, generator=g)
layers = list(features.GATYS_STYLE_LAYERS)
kw = dict(style_layers=layers, content_layers=[layers[-1]], weights="random", device="cpu",
          progress=False, optimiser={optimiser!r}, history_size=100)
transfer.stylise(content[..., :16, :16], style[..., :16, :16], size=16, steps=1, **kw)  # loads the network
try:  # hand freed memory back first, so that reusing it counts (glibc)
    import ctypes, gc
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
open("/proc/self/clear_refs", "w").write("5")  # the peak restarts from here
base = kb("VmRSS")
transfer.stylise(content, style, size={size}, style_scale=1.0, steps=2, **kw)
print(json.dumps((kb("VmHWM") - base) * 1024))
"""


def measure_peak(size: int, *, optimiser: str = "lbfgs") -> int:
    """The peak resident memory (bytes) one ``stylise`` run at ``size`` px adds."""
    code = _RUN.format(size=size, optimiser=optimiser)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the peak memory failed: {done.stderr.strip().splitlines()[-1:]}")
    return int(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256])
    parser.add_argument("--optimisers", nargs="+", default=["lbfgs", "adam"], choices=["lbfgs", "adam"])
    args = parser.parse_args()
    print("| size | optimiser | measured MB | estimated MB (without the network) | measured / estimated |")
    print("|---|---|---|---|---|")
    for optimiser in args.optimisers:
        for size in args.sizes:
            measured = measure_peak(size, optimiser=optimiser)
            est = memory.estimate((size, size), (size, size), optimiser=optimiser)
            expected = est["total"] - est["network"]
            print(f"| {size} | {optimiser} | {measured / 2**20:.0f} | {expected / 2**20:.0f} | {measured / expected:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
