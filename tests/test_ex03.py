"""Exercise checkers of notebook 03: right answers pass, templates are "not yet", wrong
answers fail with a hint."""

from __future__ import annotations

import pytest
import torch

from course_utils import losses
from course_utils.exercises import ex03


def _template(x):
    raise NotImplementedError


def _seed_gram(x):  # the seed article's version (seed defect 4)
    a = x.view(x.size(1), -1)
    return torch.mm(a, a.t())


def _unnormalised(x):
    b, c, h, w = x.shape
    f = x.reshape(b, c, -1)
    return f @ f.transpose(1, 2)


def test_batched_gram_checker():
    assert ex03.check_batched_gram(losses.gram_matrix).passed
    assert not ex03.check_batched_gram(None).passed
    assert not ex03.check_batched_gram(_template).passed
    with pytest.raises(AssertionError, match="batch was mixed"):
        ex03.check_batched_gram(_seed_gram)
    with pytest.raises(AssertionError, match="divide by H·W"):
        ex03.check_batched_gram(_unnormalised)
    with pytest.raises(AssertionError, match="also divided by C"):
        ex03.check_batched_gram(lambda x: losses.gram_matrix(x) / x.shape[1])


def test_layers_for_scale_checker():
    assert ex03.reference_layers_for_scale(3) == ["relu1_1"]
    assert ex03.reference_layers_for_scale(11) == ["relu1_1", "relu2_1", "relu3_1"]
    assert ex03.reference_layers_for_scale(1000) == list(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
    assert ex03.check_layers_for_scale(ex03.reference_layers_for_scale).passed
    assert not ex03.check_layers_for_scale(lambda px: None).passed
    with pytest.raises(AssertionError, match="expected"):
        ex03.check_layers_for_scale(lambda px: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    with pytest.raises(AssertionError, match="not a VGG19 layer name"):
        ex03.check_layers_for_scale(lambda px: ["conv_1"])
