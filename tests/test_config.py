"""course_utils.config: modes, device and seeding."""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys

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


def _import_config_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import course_utils.config in a fresh interpreter with ``env`` (the switches are
    read once, at import)."""
    full = {**os.environ, "COURSE_FAST": "", "COURSE_OFFLINE": "", **env}
    code = "from course_utils import config; print(config.FAST, config.OFFLINE)"
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value, on", [("1", True), ("TRUE", True), ("Yes", True), (" on ", True),
                                       ("0", False), ("false", False), ("NO", False), ("off", False), ("", False)])
def test_switches_accept_the_usual_spellings(monkeypatch, value, on):
    monkeypatch.setenv("COURSE_FAST", value)
    monkeypatch.setenv("COURSE_OFFLINE", value)
    try:
        reloaded = importlib.reload(config)
        assert reloaded.FAST is on and reloaded.OFFLINE is on
    finally:
        monkeypatch.undo()
        importlib.reload(config)


@pytest.mark.parametrize("name", ["COURSE_FAST", "COURSE_OFFLINE"])
def test_a_switch_with_an_unknown_value_is_refused_with_a_sentence(name):
    done = _import_config_with({name: "banana"})
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: ") and f"{name}='banana'" in last
    assert all(word in last for word in ("1, true, yes or on", "0, false, no, off or empty"))


@pytest.mark.parametrize("value", ["tpu", "meta", "gpu", "cuda:x", "cpu:0"])
def test_a_device_the_course_does_not_run_on_is_refused(monkeypatch, value):
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(ValueError, match=rf"COURSE_DEVICE='{value}' is not a device the course runs on: use cpu, cuda"):
        config.device()


def test_a_missing_gpu_is_refused_not_described_as_in_use(monkeypatch):
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    monkeypatch.setenv("COURSE_DEVICE", f"cuda:{count}")  # one past the last GPU, or the first of none
    with pytest.raises(ValueError, match=rf"COURSE_DEVICE=cuda:{count} was requested but PyTorch sees"):
        config.device()
    with pytest.raises(ValueError):
        config.describe()
    if not torch.backends.mps.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "mps")
        with pytest.raises(ValueError, match="COURSE_DEVICE=mps was requested but this machine has no Apple GPU"):
            config.device()


def test_cache_pointing_at_a_file_gets_a_sentence(tmp_path, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    for value in (a_file, a_file / "cache"):
        monkeypatch.setenv("COURSE_CACHE", str(value))
        with pytest.raises(ValueError, match=rf"cannot be created because {a_file} is a file; point COURSE_CACHE at a folder"):
            config.cache_dir()
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    assert config.cache_dir().is_dir()


# ------------------------------------------------- bad input found by the fuzzer (6 Dec 2026)
def test_a_seed_beyond_torchs_range_is_refused_with_the_range():
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\*\*64 - 1 \(what torch's generator takes\), "
                                         r"got 18446744073709551616; e\.g\. seed=0"):
        config.seed_everything(2**64)  # was torch's 'Overflow when unpacking long long'
    assert config.seed_everything(2**64 - 1).initial_seed() == 2**64 - 1


@pytest.mark.parametrize("value", ["²", "-1", "2.5", "four"])
def test_threads_that_are_not_a_whole_number_get_the_sentence(value):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=rf"COURSE_THREADS='{value}' should be a whole number of threads, or 0 for torch's default"):
        config.set_threads(environ={"COURSE_THREADS": value})  # '²' passed str.isdigit, then int() failed
    assert torch.get_num_threads() == before


def test_an_absurd_thread_count_is_refused_before_torch_sees_it():
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=r"COURSE_THREADS='99999999999' is more threads than the course uses \(at most 1024\); "
                                         r"set it to the number of CPU cores, or 0 for torch's default"):
        config.set_threads(environ={"COURSE_THREADS": "99999999999"})  # was torch's 'Overflow when unpacking long'
    assert torch.get_num_threads() == before


def test_check_device_names_a_device_that_is_not_one_or_is_missing():
    """One home for the device check (features.FeatureExtractor and transfer.stylise use it)."""
    assert config.check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device='tpu' is not a PyTorch device; use 'cpu', 'cuda' or 'mps'"):
        config.check_device("tpu")
    with pytest.raises(ValueError, match=r"device='cuda:99' is not available on this machine; leave it out"):
        config.check_device("cuda:99")
