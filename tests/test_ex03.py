"""Exercise checkers of notebook 03: the package's answers pass, templates are "not yet",
wrong answers fail with a hint."""

from __future__ import annotations

import numpy as np
import pytest

from course_exercises import ex03
from course_utils import features


def _no_doubling(name):  # forgets that a pool doubles the distance between positions
    size = 1
    for layer in features.LAYER_NAMES[: features.layer_index(name) + 1]:
        size += 2 if layer.startswith("conv") else 1 if layer.startswith("pool") else 0
    return size


def _relu_counts_too(name):  # a ReLU counted as another 3x3 convolution
    extra = 2 if name.startswith("relu") else 0
    return features.receptive_field(name) + extra


def test_receptive_field_checker():
    assert ex03.check_receptive_field(features.receptive_field).passed
    assert ex03.check_receptive_field(lambda n: np.int64(features.receptive_field(n))).passed
    assert not ex03.check_receptive_field(None).passed
    assert not ex03.check_receptive_field(lambda n: None).passed
    with pytest.raises(AssertionError, match="adds that distance once and then doubles it"):
        ex03.check_receptive_field(_no_doubling)
    with pytest.raises(AssertionError, match="a ReLU works position by position"):
        ex03.check_receptive_field(_relu_counts_too)
    with pytest.raises(AssertionError, match="sees 3 px, not 1"):
        ex03.check_receptive_field(lambda n: 1)
    with pytest.raises(AssertionError, match="return a number of pixels"):
        ex03.check_receptive_field(lambda n: "3 px")


def test_layers_for_scale_checker():
    assert ex03.check_layers_for_scale(features.layers_for_scale).passed
    assert not ex03.check_layers_for_scale(lambda px: None).passed
    with pytest.raises(AssertionError, match="expected"):
        ex03.check_layers_for_scale(lambda px: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    with pytest.raises(AssertionError, match="not a VGG19 layer name"):
        ex03.check_layers_for_scale(lambda px: ["conv_1"])
