"""Checkers for notebook 03 (features and Gram matrices); the references are
:func:`course_utils.features.receptive_field` and :func:`course_utils.features.layers_for_scale`."""

from __future__ import annotations

from collections.abc import Callable

from course_utils import features
from course_utils.i18n import N_
from course_utils.i18n import localised as _

from ._core import CheckResult, answered, as_number, check


def check_receptive_field(fn: Callable[[str], int] | None) -> CheckResult:
    """Exercise 1: ``fn(name)`` is the side in pixels of the input square that one position
    of VGG19 layer ``name`` sees, for every layer from ``conv1_1`` to ``pool5``."""

    def test(f):
        if not callable(f):
            raise AssertionError(_("pass the function itself, e.g. check_receptive_field(my_receptive_field)."))
        for name in features.LAYER_NAMES:
            got = as_number(answered(f(name)))  # a NumPy or tensor integer is as right as a Python one
            assert isinstance(got, (int, float)), _(
                "return a number of pixels, got {got!r} for '{layer}'.").format(got=got, layer=name)
            want = features.receptive_field(name)
            if got == want:
                continue
            if name == "conv1_1":
                raise AssertionError(_(
                    "conv1_1 is one 3×3 convolution of the image, so it sees 3 px, not {got}.").format(got=got))
            if name.startswith("relu") and f(name.replace("relu", "conv")) == want:
                raise AssertionError(_("a ReLU works position by position: {layer} sees what its "
                                       "convolution sees ({want} px).").format(layer=name, want=want))
            raise AssertionError(_(
                "for '{layer}' expected {want} px, got {got}. Each 3×3 convolution adds 2 × the distance "
                "between positions; each 2×2 max-pool adds that distance once and then doubles it.").format(
                    layer=name, want=want, got=got))

    return check(N_("Exercise 1 (receptive field of a layer)"), fn, test,
                 N_("your receptive fields match VGG19's for all 37 layers."))


def check_layers_for_scale(fn: Callable[[float], list[str]] | None) -> CheckResult:
    """Exercise 2: ``fn(pixels)`` returns relu1_1, relu2_1, … up to the first layer whose
    receptive field is at least ``pixels`` (all five when none is)."""

    def test(f):
        if not callable(f):
            raise AssertionError(_("pass the function itself, e.g. check_layers_for_scale(layers_for_scale)."))
        for pixels in (2, 3, 4, 10, 11, 24, 30, 68, 100, 156, 500):
            got = answered(f(pixels))
            want = features.layers_for_scale(pixels)
            if isinstance(got, str):
                raise AssertionError(_("return a list of layer names, e.g. ['relu1_1', 'relu2_1'], "
                                       "not the string {got!r}").format(got=got))
            got = list(got)
            for name in got:
                if name not in features.LAYER_NAMES:
                    raise AssertionError(_(
                        "'{layer}' is not a VGG19 layer name; use names like relu3_1.").format(layer=name))
            if got != want:
                fields = ", ".join(_("{layer}: {px} px").format(layer=n, px=features.receptive_field(n))
                                   for n in features.GATYS_STYLE_LAYERS)
                raise AssertionError(_("for structures of {pixels} px expected {want}, got {got}; the "
                                       "receptive fields are {fields}.").format(
                                           pixels=pixels, want=want, got=got, fields=fields))

    return check(N_("Exercise 2 (layers for a texture scale)"), fn, test,
                 N_("you pick the shallowest set of layers that still sees the structure."))
