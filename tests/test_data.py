"""course_utils.data: generated styles are deterministic and match the committed files
(course_tools.styles writes and checks them)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from course_tools import styles
from course_utils import config, data
from course_utils.images import ImageLoadError, save_image


@pytest.mark.parametrize("name", data.STYLE_NAMES)
def test_committed_style_matches_generator(name):
    stats = styles.compare_with_committed(name)
    assert stats["max_diff"] <= 1 and stats["fraction_equal"] >= 0.999, stats


def test_styles_are_deterministic_and_distinct():
    a = data.generate_style("mosaic", size=64, seed=3)
    assert torch.equal(a, data.generate_style("mosaic", size=64, seed=3))
    assert not torch.equal(a, data.generate_style("mosaic", size=64, seed=4))
    styles = [data.style_image(n, size=64) for n in data.STYLE_NAMES]
    for i in range(len(styles)):
        for j in range(i + 1, len(styles)):
            assert (styles[i] - styles[j]).abs().mean() > 0.05


def test_regenerate_writes_identical_files(tmp_path):
    paths = styles.regenerate(tmp_path)
    assert [p.name for p in paths] == [f"{n}.png" for n in data.STYLE_NAMES]
    for p in paths:
        assert p.read_bytes() == data.style_path(p.stem).read_bytes()


def test_stripes_are_horizontal():
    s = data.style_image("stripes", size=128).mean(1)[0]
    # intensity varies much more down the columns than along the rows
    assert s.diff(dim=0).abs().mean() > 3 * s.diff(dim=1).abs().mean()


def test_content_photos_load_with_sizes():
    for name in data.CONTENT_IMAGES:
        img = data.sample_image(name, max_side=128)
        assert img.shape[:2] == (1, 3) and max(img.shape[-2:]) == 128
    assert set(data.list_samples()) == set(data.CONTENT_IMAGES) | set(data.STYLE_NAMES)


def test_unknown_names_give_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        data.sample_image("mona_lisa")
    with pytest.raises(ValueError, match="choose one of"):
        data.generate_style("plaid")


def test_painting_offline_is_clear_and_cached_file_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert config.OFFLINE
    with pytest.raises(ImageLoadError, match="offline"):
        data.load_painting("starry_night")
    # a teacher can copy the file in by hand
    save_image(torch.rand(1, 3, 20, 30), data.painting_path("starry_night"))
    assert data.load_painting("starry_night").shape == (1, 3, 20, 30)
    # a recorded hash that no longer matches is noticed
    data.painting_path("starry_night").with_suffix(".sha256").write_text("0" * 64)
    with pytest.raises(ImageLoadError, match="SHA-256"):
        data.load_painting("starry_night")


def test_bad_sizes_and_seeds_are_named():
    with pytest.raises(ValueError, match="size must be a positive number of pixels .* got '128'"):
        data.style_image("swirl", "128")
    with pytest.raises(ValueError, match="size must be a positive number of pixels .* got -1"):
        data.style_image("swirl", -1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got '1'"):
        data.generate_style("swirl", 16, seed="1")


def test_a_downloaded_painting_is_written_whole_with_normal_rights(tmp_path):
    source = tmp_path / "source.jpg"
    save_image(torch.rand(1, 3, 20, 30), source)
    target = tmp_path / "cache" / "paintings" / "starry_night.jpg"
    data._download(source.as_uri(), target, timeout=5)  # a file:// address stands in for the server
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~mask  # not mkstemp's private 0600
    assert sorted(os.listdir(target.parent)) == ["starry_night.jpg", "starry_night.sha256"]
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        data._download(junk.as_uri(), target.with_name("junk.jpg"), timeout=5)
    assert sorted(os.listdir(target.parent)) == ["starry_night.jpg", "starry_night.sha256"]  # nothing left


# ------------------------------------------------- bad input found by the fuzzer (6 Dec 2026)
@pytest.mark.parametrize("name", data.STYLE_NAMES)
def test_each_style_generator_checks_its_size_and_seed_as_generate_style_does(name):
    make = data.STYLE_GENERATORS[name]
    for size in (0, -1, None, "64", 2.5, True):  # PIL's 'height and width must be > 0', NumPy's 'must be real number'
        with pytest.raises(ValueError, match=rf"size must be an integer from 8 to 4096 pixels, got {size!r}".replace("(", r"\(")):
            make(size, 0)
    # 74.5 GiB (100000) or TiB of NumPy arrays: refused before any is allocated
    for size in (100_000, 10**6):
        with pytest.raises(ValueError, match=rf"size must be an integer from 8 to 4096 pixels, got {size}; e\.g\. 512"):
            make(size=size)
    for seed in (-1, "3", 2.5, None, torch.tensor(3)):  # NumPy's 'expected non-negative integer'
        with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got .*; e\.g\. seed=0"):
            make(16, seed)
    assert make(np.int64(16), np.int64(2)).size == make(16, 2).size == (16, 16)  # brush_strokes failed in PIL


def test_generate_style_refuses_a_huge_size_before_allocating():
    with pytest.raises(ValueError, match=r"size must be an integer from 8 to 4096 pixels, got 100000"):
        data.generate_style("swirl", size=100_000)


@pytest.mark.parametrize("call", [data.generate_style, data.style_image, data.content_image, data.sample_image,
                                  data.painting_path, data.load_painting])
def test_a_name_that_is_not_a_string_gets_the_list_of_names(call):
    with pytest.raises(ValueError, match=r"Unknown .*\['chelsea'\]; choose one of"):
        call(["chelsea"])  # was 'unhashable type: list' from the dictionary lookup
