"""course_utils.config: modes, device and seeding."""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
import torch

from course_utils import config


def test_fast_and_offline_follow_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    monkeypatch.setenv("COURSE_OFFLINE", "yes")
    reloaded = importlib.reload(config)
    try:
        assert reloaded.FAST is False and reloaded.OFFLINE is True
        assert reloaded.pick(full=512, fast=64) == 512
    finally:
        monkeypatch.undo()
        importlib.reload(config)
    assert config.FAST is True  # the test-suite runs in fast mode
    assert config.pick(full=512, fast=64) == 64


def test_device_honours_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="COURSE_DEVICE"):
            config.device()


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    config.seed_everything(7)
    a = draw()
    config.seed_everything(7)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_describe_mentions_mode_and_device():
    text = config.describe()
    assert "FAST" in text and "device" in text
