"""VGG19 features by layer name (``conv1_1`` … ``pool5``), with honest weights (notebook 03).

:class:`FeatureExtractor` is frozen, normalises ``[0, 1]`` images itself and has out-of-place
ReLUs (torchvision's are in-place: notebook 03 shows what that breaks). ``.source`` says where
its weights came from: ImageNet VGG19, else, with a printed notice, a seeded **random** VGG19,
whose features carry colours, blob sizes and stroke directions but not a style's shapes
(notebook 03b tells how that fallback was chosen).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch
from torch import nn

from . import config, i18n
from . import weights as wts
from .checks import is_whole, shape_of

#: ImageNet statistics that torchvision's VGG19 was trained with (RGB, images in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Gatys et al. (2016): style from the first layer of each block, content from block 4. In
#: Caffe their conv blobs held the *rectified* outputs (in-place ReLU), hence the relu names.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"

#: The offline fallback: seeded, torchvision's VGG initialisation (``benchmarks/fallback_choice.py``).
FALLBACK_SEED = 0
FALLBACK_INIT = "kaiming"


def layer_names(net: nn.Sequential) -> list[str]:
    """The paper's name of every module of ``vgg19().features``, in order: ``convk_i``,
    ``reluk_i`` (block ``k``, ``i``-th convolution) and ``poolk``."""
    names, block, conv = [], 1, 0
    for module in net:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        else:  # a max-pool ends the block
            names.append(f"pool{block}")
            block, conv = block + 1, 0
    return names


def extract(net: nn.Sequential, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Run ``x`` (normalised) through ``net`` and return the named layers' outputs
    ``{name: (B, C, H', W')}`` in the order of ``layers``, stopping after the last one needed."""
    wanted = set(layers)
    out: dict[str, torch.Tensor] = {}
    for name, module in zip(layer_names(net), net, strict=True):
        x = module(x)
        if name in wanted:
            out[name] = x  # stays valid only if no later module changes x in place
            if len(out) == len(wanted):
                break  # the deeper layers are not needed
    if len(out) < len(wanted):
        raise ValueError(f"{sorted(wanted - set(out))} are not among the {len(net)} modules of net; "
                         "pass a deeper part of vgg19().features or shallower layers.")
    return {name: out[name] for name in layers}


def build_vgg19_features() -> nn.Sequential:
    """VGG19's ``features`` in torchvision's layout (its ``state_dict`` keys), ReLUs out of place."""
    layers: list[nn.Module] = []
    c = 3
    for v in wts.VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c = int(v)
    return nn.Sequential(*layers)


with torch.device("meta"):  # shapes only, no memory: the tables below read the layout
    _LAYOUT = build_vgg19_features()

#: Every layer name in network order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, …, pool5.
LAYER_NAMES: tuple[str, ...] = tuple(layer_names(_LAYOUT))


def check_layer_name(name: str) -> str:
    """``name`` if it is a VGG19 layer name, else a ValueError that suggests the closest one."""
    if isinstance(name, str) and name in LAYER_NAMES:
        return name
    close = difflib.get_close_matches(str(name), LAYER_NAMES, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    if isinstance(name, str) and name.startswith("conv_") and name[5:].isdigit():  # counting convolutions
        convs = [n for n in LAYER_NAMES if n.startswith("conv")]
        k = int(name[5:])
        hint = f"; counting convolutions, 'conv_{k}' would be '{convs[k - 1]}'" if 1 <= k <= len(convs) else ""
    raise ValueError(f"'{name}' is not a VGG19 layer name: names are block_layer like conv4_2, relu3_1 or "
                     f"pool2{hint}; see features.LAYER_NAMES.")


def layer_index(name: str) -> int:
    """Position of a named layer in ``vgg19().features`` (``conv4_2`` → 21)."""
    return LAYER_NAMES.index(check_layer_name(name))


def channels(name: str) -> int:
    """Number of feature channels the layer outputs (64, 128, 256 or 512)."""
    convs = [m for m in _LAYOUT[: layer_index(name) + 1] if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def stride(name: str) -> int:
    """How many input pixels one step in the layer's feature map spans (1 … 32)."""
    return 2 ** sum(n.startswith("pool") for n in LAYER_NAMES[: layer_index(name) + 1])


def receptive_field(name: str) -> int:
    """Side in pixels of the input square that one position of the layer sees (``conv3_1`` → 24)."""
    size, jump = 1, 1  # one pixel sees itself; neighbouring positions are `jump` px apart
    for layer in LAYER_NAMES[: layer_index(name) + 1]:
        if layer.startswith("conv"):
            size += 2 * jump  # a 3x3 convolution reaches one position further on each side
        elif layer.startswith("pool"):
            size += jump  # a 2x2 max-pool adds one position...
            jump *= 2  # ...and doubles the distance between positions
    return size


def layers_for_scale(pixels: float) -> list[str]:
    """The Gatys style layers, shallow to deep, up to the first whose receptive field is at
    least ``pixels`` (all five if none is)."""
    chosen = []
    for name in GATYS_STYLE_LAYERS:
        chosen.append(name)
        if receptive_field(name) >= pixels:
            break
    return chosen


# ------------------------------------------------------------------ the weights


@lru_cache(maxsize=4)
def _random_state(seed: int) -> dict[str, torch.Tensor]:
    net = build_vgg19_features()
    g = torch.Generator().manual_seed(seed)
    for m in net:
        if isinstance(m, nn.Conv2d):  # torchvision's VGG initialisation
            m.weight.data.normal_(0.0, (2.0 / (m.out_channels * 9)) ** 0.5, generator=g)
            m.bias.data.zero_()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def random_vgg19_state(seed: int = FALLBACK_SEED) -> dict[str, torch.Tensor]:
    """The offline fallback's VGG19 ``features`` state_dict, the same for a seed on every machine."""
    if not is_whole(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}; e.g. seed=0.")
    if not -(2**63) <= seed < 2**64:  # what torch.Generator.manual_seed takes
        raise ValueError(f"seed must be an integer that fits in 64 bits, got {seed!r}; e.g. seed=0.")
    return {k: v.clone() for k, v in _random_state(int(seed)).items()}  # int: NumPy integers too


@lru_cache(maxsize=2)
def _imagenet_state(path: str, size: int, mtime_ns: int, prefix: str, origin: str):  # again if the file changes
    return wts.load_vgg19_state(path, prefix, origin)


def _load_file(found: wts.Located) -> dict[str, torch.Tensor]:
    if not found.path.is_file():  # let load_vgg19_state word the error
        return wts.load_vgg19_state(found.path, wts.SHA256_PREFIX, found.origin)
    st = found.path.stat()
    return _imagenet_state(str(found.path), st.st_size, st.st_mtime_ns, wts.SHA256_PREFIX, found.origin)


NOTICE = "\n".join([
    "+" + " OFFLINE FALLBACK ".center(76, "=") + "+",
    *("| " + line.ljust(74) + " |" for line in (
        "Using a seeded RANDOM VGG19, NOT ImageNet VGG19: no ImageNet weights here.",
        "Same layers, names and shapes. Colours, blob sizes and stroke directions",
        "transfer; the style's shapes (swirls, tiles, brush strokes) do NOT, as",
        "they do with ImageNet features.",
        "For the real network, where there is internet, run once:",
        "    python -m course_tools.weights_cli fetch    (see notebook 00)",
    )),
    "+" + "=" * 76 + "+",
])
SHORT_NOTICE = "[offline fallback] random VGG19 in use, NOT ImageNet VGG19 (see notebook 00)."
_NOTICE_SHOWN: list[bool] = []


def _resolve_weights(choice: object, seed: int) -> tuple[dict[str, torch.Tensor], str, bool]:
    """``(state_dict, source, is_imagenet)`` for the ``weights`` argument of :class:`FeatureExtractor`."""
    fallback = f"offline fallback: random VGG19 (seed {seed}, {FALLBACK_INIT} init) — NOT ImageNet"
    if isinstance(choice, str) and choice == "random":
        return random_vgg19_state(seed), fallback, False
    if isinstance(choice, str) and choice in ("auto", "imagenet"):
        found = wts.locate()
        if found is None and wts.network_may_work():
            try:
                found = wts.Located(wts.download(), "a download")
            except wts.WeightsError as exc:
                if choice == "imagenet":
                    raise
                reason = "no weights found, download failed: " + str(exc).split(";")[0]
        elif found is None:
            reason = ("no weights found; offline mode (COURSE_OFFLINE=1)" if config.OFFLINE
                      else "no weights found; no network (an earlier download attempt failed)")
        if found is None:
            if choice == "imagenet":
                raise wts.WeightsError(f"weights='imagenet' needs the ImageNet VGG19 file, but there is none "
                                       f"({reason}); {wts.FIX} (notebook 00).")
            return random_vgg19_state(seed), f"{fallback} [{reason}]", False
        return _load_file(found), f"ImageNet VGG19 ({found.path}, from {found.origin})", True
    if isinstance(choice, (str, os.PathLike)):
        found = wts.locate(choice)
        assert found is not None
        return _load_file(found), f"ImageNet VGG19 ({found.path})", True
    raise TypeError(f"weights must be 'auto', 'imagenet', 'random' or a file path, got {choice!r}.")


# ------------------------------------------------------------------ the extractor


class FeatureExtractor(nn.Module):
    """Frozen VGG19 that returns the requested layers by name: ``fx(image)["relu3_1"]``.

    ``weights``: ``"auto"`` (ImageNet if found or downloadable, else the offline fallback),
    ``"imagenet"`` (ImageNet or an error), ``"random"`` (the fallback, ``seed``) or a file path.
    """

    def __init__(self, layers: Sequence[str] | str, weights: str | os.PathLike = "auto", *,
                 seed: int = FALLBACK_SEED, device: torch.device | str | None = None, verbose: bool = True) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, Iterable):
            raise TypeError(f"layers must be a layer name or a list of them, got {layers!r}; e.g. ['relu1_1', 'relu4_2'].")
        layers = list(layers)
        if not layers:
            raise ValueError("layers is empty; ask for at least one layer, e.g. ['relu1_1'].")
        self.layers: tuple[str, ...] = tuple(check_layer_name(n) for n in layers)
        self.depth = max(layer_index(n) for n in self.layers) + 1  # modules run: features[:depth]
        target = config.device() if device is None else config.check_device(device)

        state, self.source, self.is_imagenet = _resolve_weights(weights, seed)
        self.body = build_vgg19_features()[: self.depth]
        self.body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < self.depth})
        # Each 2x2 max-pool halves the image (rounding down): an image under 2**k px runs out at the k-th.
        self._min_side = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in self.body)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.to(target)
        if not self.is_imagenet and verbose:  # the full notice once per process, then one line
            print(i18n.translate(SHORT_NOTICE if _NOTICE_SHOWN else NOTICE))  # in the notebook's language
            _NOTICE_SHOWN.append(True)

    def train(self, mode: bool = True) -> FeatureExtractor:
        """The extractor stays in evaluation mode: it is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, H, W)`` images in [0, 1] → ``{name: (B, C, H', W')}`` in request order."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"FeatureExtractor expects images of shape (B, 3, H, W) in [0, 1], got {shape_of(images)}"
                             "; add a batch dimension with image[None] or convert grey images to RGB.")
        if min(images.shape[-2:]) < self._min_side:
            deepest = max(self.layers, key=layer_index)
            raise ValueError(f"images of {images.shape[-2]}x{images.shape[-1]} px are too small for layer '{deepest}', "
                             f"which needs at least {self._min_side} px per side (it follows "
                             f"{self._min_side.bit_length() - 1} 2x2 poolings); use a larger image or shallower layers.")
        # Normalise in float32, then run the body in its own dtype (bfloat16 for course_utils.accel).
        x = (images.to(self.mean.device, torch.float32) - self.mean.float()) / self.std.float()
        return extract(self.body, x.to(self.body[0].weight.dtype), self.layers)

    def extra_repr(self) -> str:
        return f"layers={list(self.layers)}, source={self.source!r}"

