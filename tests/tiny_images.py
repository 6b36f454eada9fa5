"""Small seeded test images and a fast engine set-up, shared by the transfer and
deformable-transfer tests."""

from __future__ import annotations

import torch

#: TransferConfig settings that keep an engine run to a fraction of a second on a CPU: two
#: shallow layers of the offline (random) network, no progress bar. Add ``steps``.
FAST_SETTINGS = dict(
    content_layers=("relu2_1",),
    style_layers=("relu1_1", "relu2_1"),
    weights="random",
    device="cpu",
    progress=False,
)


def smooth_image(seed: int, h: int, w: int) -> torch.Tensor:
    """A seeded ``(1, 3, h, w)`` image in [0, 1]: smooth blobs plus a little noise, so that
    feature maps and Grams are neither constant nor pure noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, max(2, h // 4), max(2, w // 4), generator=g)
    smooth = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    return (0.8 * smooth + 0.2 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
