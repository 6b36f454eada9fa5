"""VGG19 features by layer name (``conv1_1`` … ``pool5``), with honest weights.

:class:`FeatureExtractor` wraps the convolutional part of torchvision's VGG19 (only
``vgg19().features``: the classifier is 102 M parameters the course never needs). It

* returns a dict ``{name: tensor}`` for the layers you ask for, by the names of Simonyan &
  Zisserman (2014) and Gatys et al. (2016): block ``k``, convolution ``i`` → ``convk_i``,
  its ReLU → ``reluk_i``, the max-pool ending block ``k`` → ``poolk``;
* runs the network only up to the deepest requested layer;
* applies the ImageNet mean/std normalisation itself (images go in as ``[0, 1]``);
* is frozen (``requires_grad_(False)``, ``eval()``): gradients flow to the *image* only;
* never hands back a tensor that a later in-place ReLU overwrote (its ReLUs are not
  in-place; torchvision's are, see notebook 03);
* says where its weights came from in ``.source``.

Weights: ``weights="auto"`` uses ImageNet VGG19 when :mod:`course_utils.weights` finds or
can download it, and otherwise falls back, with a printed notice, to a **seeded random
VGG19** (same layers, names and shapes; torchvision's own initialisation, chosen by
measurement in ``benchmarks/fallback_choice.py``). Random convolutional features still carry texture
statistics (Ustyuzhaninov et al., ICLR 2017; He, Wang & Hopcroft, NeurIPS 2016): colours,
blob sizes and stroke directions transfer, but the style's *shapes* (swirls, tiles, brush
marks) do not, as they do with ImageNet features. The fallback is never called VGG19-ImageNet.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch
from torch import nn

from . import config
from . import weights as wts
from .checks import is_whole

#: ImageNet statistics that torchvision's VGG19 was trained with (RGB, images in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Gatys et al. (2016): style from the first layer of each block, content from block 4.
#: They name them conv1_1 …; in Caffe the ReLU ran in place, so those blobs held the
#: *rectified* outputs, which is what the relu names ask for here.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"

#: The seed for the offline fallback network (same pictures on every machine).
FALLBACK_SEED = 0


def _layer_table() -> tuple[dict[str, int], dict[str, int], dict[str, tuple[int, int]]]:
    index: dict[str, int] = {}
    channels: dict[str, int] = {}
    rf: dict[str, tuple[int, int]] = {}  # receptive field (px), stride (px)
    block, conv, i, c = 1, 1, 0, 3
    r, j = 1, 1
    for v in wts.VGG19_CFG:
        if v == "M":
            r, j = r + j, j * 2  # 2x2 max-pool, stride 2
            index[f"pool{block}"], channels[f"pool{block}"], rf[f"pool{block}"] = i, c, (r, j)
            block, conv, i = block + 1, 1, i + 1
            continue
        c = int(v)
        r += 2 * j  # 3x3 convolution, stride 1
        for kind, offset in (("conv", 0), ("relu", 1)):
            name = f"{kind}{block}_{conv}"
            index[name], channels[name], rf[name] = i + offset, c, (r, j)
        conv, i = conv + 1, i + 2
    return index, channels, rf


_INDEX, _CHANNELS, _RF = _layer_table()

#: Every layer name in network order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, …, pool5.
LAYER_NAMES: tuple[str, ...] = tuple(sorted(_INDEX, key=_INDEX.__getitem__))


def layer_index(name: str) -> int:
    """Position of a named layer in ``vgg19().features`` (``conv4_2`` → 23)."""
    return _INDEX[check_layer_name(name)]


def channels(name: str) -> int:
    """Number of feature channels the layer outputs (64, 128, 256 or 512)."""
    return _CHANNELS[check_layer_name(name)]


def stride(name: str) -> int:
    """How many input pixels one step in the layer's feature map spans (1, 2, 4, 8, 16, 32)."""
    return _RF[check_layer_name(name)][1]


def receptive_field(name: str) -> int:
    """Side in pixels of the input square that one output position of the layer sees
    (``conv1_1`` → 3, ``conv2_1`` → 10, ``conv3_1`` → 24, ``conv4_1`` → 68, ``conv5_1`` → 156)."""
    return _RF[check_layer_name(name)][0]


def check_layer_name(name: str) -> str:
    """Return ``name`` if it is a VGG19 layer name, else raise a ``ValueError`` that says
    what the names look like and suggests the closest one."""
    if isinstance(name, str) and name in _INDEX:
        return name
    close = difflib.get_close_matches(str(name), LAYER_NAMES, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    extra = ""
    if isinstance(name, str) and name.startswith("conv_") and name[5:].isdigit():
        k = int(name[5:])
        convs = [n for n in LAYER_NAMES if n.startswith("conv")]
        hint = ""
        if 1 <= k <= len(convs):
            extra = f"; counting convolutions, 'conv_{k}' would be '{convs[k - 1]}'"
    raise ValueError(
        f"'{name}' is not a VGG19 layer name: names are block_layer like conv4_2, relu3_1 or "
        f"pool2{hint}{extra}; see features.LAYER_NAMES."
    )


def build_vgg19_features() -> nn.Sequential:
    """VGG19's ``features`` (torchvision's layout, so ``state_dict`` keys match), with
    out-of-place ReLUs. Parameters are left uninitialised-random; load or initialise them."""
    layers: list[nn.Module] = []
    c = 3
    for v in wts.VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c = int(v)
    return nn.Sequential(*layers)


# ------------------------------------------------------------------ offline fallback
#: The initialisations :func:`random_vgg19_state` knows (the candidates that were measured);
#: ``FALLBACK_INIT`` is the one used.
FALLBACK_INITS = ("kaiming", "kaiming+standardise", "kaiming+rescale", "torch-default")
#: Chosen by ``benchmarks/fallback_choice.py`` (numbers in notebook 03): torchvision's own
#: VGG initialisation (Kaiming-normal, fan-out, zero biases; what ``vgg19(weights=None)``
#: gives). PyTorch's default conv init scored better on texture statistics, but only because
#: its deep layers are swamped by the biases: at relu4_2 two different photos differ by
#: 0.000 (relative), so deep style layers and the content layer would carry no weight.
#: Per-filter standardisation or rescaling kept depth but matched textures worse.
FALLBACK_INIT = "kaiming"


def calibration_images(n: int = 4, size: int = 96, seed: int = 0) -> torch.Tensor:
    """``(n, 3, size, size)`` images in [0, 1] with a natural 1/f amplitude spectrum and
    correlated colour channels, made from a seed (no data set needed). Used to standardise
    the filters of the "+standardise"/"+rescale" candidates measured in
    ``benchmarks/fallback_choice.py``; the same seed always gives the same images."""
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(size).abs()[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    f = torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / size)
    noise = torch.randn(n, 3, size, size, generator=g)
    grey = torch.randn(n, 1, size, size, generator=g)
    mixed = 0.6 * grey + 0.4 * noise  # channels share structure, as in photographs
    img = torch.fft.irfft2(torch.fft.rfft2(mixed) / f, s=(size, size))
    img = img - img.mean(dim=(2, 3), keepdim=True)
    img = img / img.flatten(1).std(dim=1).view(n, 1, 1, 1).clamp_min(1e-8)
    shift = torch.rand(n, 3, 1, 1, generator=g) * 0.4 + 0.3
    return (shift + 0.15 * img).clamp(0, 1)


@lru_cache(maxsize=4)
def _random_state(seed: int, init: str) -> dict[str, torch.Tensor]:
    if init not in FALLBACK_INITS:
        raise ValueError(f"init must be one of {FALLBACK_INITS}, got {init!r}.")
    net = build_vgg19_features()
    g = torch.Generator().manual_seed(seed)
    for m in net:
        if isinstance(m, nn.Conv2d):
            if init == "torch-default":
                bound = 1.0 / (m.in_channels * 9) ** 0.5  # what nn.Conv2d does by default
                m.weight.data.uniform_(-bound, bound, generator=g)
                m.bias.data.uniform_(-bound, bound, generator=g)
            else:  # torchvision's VGG initialisation
                std = (2.0 / (m.out_channels * 9)) ** 0.5
                m.weight.data.normal_(0.0, std, generator=g)
                m.bias.data.zero_()
    if init in ("kaiming+standardise", "kaiming+rescale"):
        # Each filter's response is standardised (mean 0, std 1 before its ReLU) on fixed
        # seeded 1/f images, layer by layer; folded into the weights and biases, so the
        # network is still a plain VGG19 with torchvision's state_dict layout.
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = (calibration_images(seed=seed) - mean) / std
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.Conv2d):
                    y = m(x)
                    mu = y.mean(dim=(0, 2, 3))
                    sd = y.std(dim=(0, 2, 3)).clamp_min(1e-6)
                    m.weight.data /= sd.view(-1, 1, 1, 1)
                    if init == "kaiming+rescale":  # unit std, keep the zero bias
                        mu = torch.zeros_like(mu)
                    m.bias.data = (m.bias.data - mu) / sd
                x = m(x)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def random_vgg19_state(seed: int = FALLBACK_SEED, init: str = FALLBACK_INIT) -> dict[str, torch.Tensor]:
    """A seeded random VGG19 ``features`` state_dict (the offline fallback's weights).

    Args:
        seed: same seed, same weights, on every machine.
        init: one of :data:`FALLBACK_INITS`; the default is the measured choice.
    """
    if not is_whole(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}; e.g. seed=0.")
    return {k: v.clone() for k, v in _random_state(seed, init).items()}


@lru_cache(maxsize=2)
def _imagenet_state(path: str, size: int, mtime_ns: int, prefix: str, origin: str):
    return wts.load_vgg19_state(path, prefix, origin)


def _load_file(found: wts.Located) -> dict[str, torch.Tensor]:
    p = found.path
    if not p.is_file():  # let load_vgg19_state word the error
        return wts.load_vgg19_state(p, wts.SHA256_PREFIX, found.origin)
    st = p.stat()
    return _imagenet_state(str(p), st.st_size, st.st_mtime_ns, wts.SHA256_PREFIX, found.origin)


NOTICE = "\n".join(
    [
        "+" + " OFFLINE FALLBACK ".center(76, "=") + "+",
        *(
            "| " + line.ljust(74) + " |"
            for line in (
                "Using a seeded RANDOM VGG19, NOT ImageNet VGG19: no ImageNet weights here.",
                "Same layers, names and shapes. Colours, blob sizes and stroke directions",
                "transfer; the style's shapes (swirls, tiles, brush strokes) do NOT, as",
                "they do with ImageNet features.",
                "For the real network, where there is internet, run once:",
                "    python -m course_utils.weights fetch        (see notebook 00)",
            )
        ),
        "+" + "=" * 76 + "+",
    ]
)

SHORT_NOTICE = "[offline fallback] random VGG19 in use, NOT ImageNet VGG19 (see notebook 00)."
_NOTICE_SHOWN: list[bool] = []


class FeatureExtractor(nn.Module):
    """Frozen VGG19 that returns the requested layers by name.

    Args:
        layers: layer names (see :data:`LAYER_NAMES`), e.g. ``["relu1_1", "relu4_2"]``,
            or one name.
        weights: ``"auto"`` (ImageNet weights if found or downloadable, else the offline
            fallback with a notice), ``"imagenet"`` (ImageNet or an error), ``"random"``
            (the offline fallback), or a path to torchvision's ``vgg19-dcbb9e9d.pth``.
        seed: seed of the fallback network.
        device: where to run (default :func:`course_utils.config.device`).
        verbose: print the fallback notice (default True).

    Attributes:
        source: a sentence saying where the weights came from (notebooks print it).
        is_imagenet: True for ImageNet weights, False for the fallback.

    Call it on ``(B, 3, H, W)`` images in [0, 1]; it returns ``{name: (B, C, H', W')}``
    in the order the layers were requested. Example::

        fx = FeatureExtractor(["relu1_1", "relu3_1"])
        feats = fx(image)            # feats["relu3_1"].shape == (1, 256, H/4, W/4)
    """

    def __init__(
        self,
        layers: Sequence[str] | str,
        weights: str | os.PathLike = "auto",
        *,
        seed: int = FALLBACK_SEED,
        device: torch.device | str | None = None,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, Iterable):
            raise TypeError(
                f"layers must be a layer name or a list of them, got {layers!r}; e.g. ['relu1_1', 'relu4_2']."
            )
        layers = list(layers)
        if not layers:
            raise ValueError("layers is empty; ask for at least one layer, e.g. ['relu1_1'].")
        self.layers: tuple[str, ...] = tuple(check_layer_name(n) for n in layers)
        self._wanted = {layer_index(n): [] for n in self.layers}
        for n in self.layers:
            self._wanted[layer_index(n)].append(n)
        self.depth = max(self._wanted) + 1  # modules run: features[:depth]
        target = config.device() if device is None else _check_device(device)

        state, self.source, self.is_imagenet = self._resolve(weights, seed)
        body = build_vgg19_features()[: self.depth]
        body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < self.depth})
        self.body = body
        # Each 2x2 max-pool halves the image (rounding down), so an image smaller than 2**k
        # px runs out of pixels at the k-th pool: say so before the network does.
        self._min_side = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in body)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.to(target)
        if not self.is_imagenet and verbose:
            # The full notice once per process, then one line each time: always visible,
            # never a wall of boxes in a notebook that builds several extractors.
            print(SHORT_NOTICE if _NOTICE_SHOWN else NOTICE)
            _NOTICE_SHOWN.append(True)

    @staticmethod
    def _resolve(choice, seed: int) -> tuple[dict[str, torch.Tensor], str, bool]:
        fallback = f"offline fallback: random VGG19 (seed {seed}, {FALLBACK_INIT} init) — NOT ImageNet"
        if isinstance(choice, str) and choice == "random":
            return random_vgg19_state(seed), fallback, False
        if isinstance(choice, str) and choice in ("auto", "imagenet"):
            found = wts.locate()
            if found is None and wts.network_may_work():
                try:
                    path = wts.download()
                    found = wts.Located(path, "a download")
                except wts.WeightsError as exc:
                    if choice == "imagenet":
                        raise
                    reason = "no weights found, download failed: " + str(exc).split(";")[0]
            elif found is None:
                reason = (
                    "no weights found; offline mode (COURSE_OFFLINE=1)"
                    if config.OFFLINE
                    else "no weights found; no network (an earlier download attempt failed)"
                )
            if found is None:
                if choice == "imagenet":
                    raise wts.WeightsError(
                        f"weights='imagenet' needs the ImageNet VGG19 file, but there is none "
                        f"({reason}); {wts._FIX}."
                    )
                return random_vgg19_state(seed), f"{fallback} [{reason}]", False
            state = _load_file(found)
            return state, f"ImageNet VGG19 ({found.path}, from {found.origin})", True
        if isinstance(choice, (str, os.PathLike)):
            found = wts.locate(choice)
            assert found is not None
            return _load_file(found), f"ImageNet VGG19 ({found.path})", True
        raise TypeError(
            f"weights must be 'auto', 'imagenet', 'random' or a file path, got {choice!r}."
        )

    def train(self, mode: bool = True) -> FeatureExtractor:
        """The extractor stays in evaluation mode: it is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, H, W)`` images in [0, 1] → ``{name: (B, C, H', W')}`` in request order."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(
                f"FeatureExtractor expects images of shape (B, 3, H, W) in [0, 1], got {shape}; "
                "add a batch dimension with image[None] or convert grey images to RGB."
            )
        if min(images.shape[-2:]) < self._min_side:
            deepest = max(self.layers, key=layer_index)
            raise ValueError(
                f"images of {images.shape[-2]}x{images.shape[-1]} px are too small for layer '{deepest}', "
                f"which needs at least {self._min_side} px per side (it follows "
                f"{self._min_side.bit_length() - 1} 2x2 poolings); use a larger image or shallower layers."
            )
        # Normalise in float32, then run the body in its own dtype (float32, or bfloat16 for
        # the GPU fast path of course_utils.accel, which converts a copy of the body).
        x = (images.to(self.mean.device, torch.float32) - self.mean.float()) / self.std.float()
        x = x.to(self.body[0].weight.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.body):
            x = module(x)
            for name in self._wanted.get(i, ()):
                out[name] = x
        return {name: out[name] for name in self.layers}

    def extra_repr(self) -> str:
        return f"layers={list(self.layers)}, source={self.source!r}"


def _check_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device`` that this machine has, or a ValueError that says what to pass."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a PyTorch device; use 'cpu', 'cuda' or 'mps', or leave it out "
            "to let config.device() choose."
        ) from None
    mps = getattr(torch.backends, "mps", None)
    missing = (dev.type == "cuda" and not torch.cuda.is_available()) or (
        dev.type == "mps" and not (mps is not None and mps.is_available())
    )
    if missing:
        raise ValueError(
            f"device={device!r} is not available on this machine; leave it out to let config.device() "
            "choose, or use 'cpu'."
        )
    return dev


def gatys_layers() -> tuple[str, ...]:
    """Style layers then the content layer of Gatys et al. (2016), as relu names."""
    return (*GATYS_STYLE_LAYERS, GATYS_CONTENT_LAYER)


__all__ = [
    "FeatureExtractor",
    "GATYS_CONTENT_LAYER",
    "GATYS_STYLE_LAYERS",
    "LAYER_NAMES",
    "build_vgg19_features",
    "channels",
    "check_layer_name",
    "layer_index",
    "random_vgg19_state",
    "receptive_field",
    "stride",
]
