"""Exercise checkers of notebook 04: right answers pass, templates are "not yet", wrong
answers fail with a hint."""

from __future__ import annotations

import pytest
import torch

from course_utils import colour, losses
from course_utils.exercises import ex04


def _template(*args):
    raise NotImplementedError


def test_total_loss_checker():
    assert ex04.check_total_loss(ex04.reference_total_loss).passed
    assert not ex04.check_total_loss(None).passed
    assert not ex04.check_total_loss(_template).passed

    def no_tv(feats, ct, sg, image, layer, weights):
        return weights[0] * losses.content_loss(feats[layer], ct) + weights[1] * losses.style_loss(feats, sg)

    with pytest.raises(AssertionError, match="TV term is missing"):
        ex04.check_total_loss(no_tv)

    def detached(*args):
        return ex04.reference_total_loss(*args).detach()

    with pytest.raises(AssertionError, match="no gradient"):
        ex04.check_total_loss(detached)


def test_keep_colour_checker():
    def right(stylised, content):
        return colour.with_chroma_of(colour.luminance(stylised), content)

    def swapped(stylised, content):
        return colour.with_chroma_of(colour.luminance(content), stylised)

    def unclipped(stylised, content):
        yiq = torch.cat([colour.rgb_to_yiq(stylised)[:, :1], colour.rgb_to_yiq(content)[:, 1:]], 1)
        return colour.yiq_to_rgb(yiq)

    assert ex04.check_keep_colour(right).passed
    assert not ex04.check_keep_colour(lambda s, c: None).passed
    with pytest.raises(AssertionError, match="swap"):
        ex04.check_keep_colour(swapped)
    with pytest.raises(AssertionError, match="clip"):
        ex04.check_keep_colour(unclipped)
