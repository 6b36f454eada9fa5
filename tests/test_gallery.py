"""The README gallery: every figure function runs at tiny sizes, writes a valid small PNG,
and the seeded ones come out the same twice."""

from __future__ import annotations

import pytest
from PIL import Image

from course_tools import gallery


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    return out, gallery.make(out, gallery.QUICK, verbose=False)


def test_every_figure_is_written_as_a_valid_image(made):
    out, paths = made
    assert [p.name for p in paths] == [f"{name}.png" for name in gallery.FIGURES]
    for path in paths:
        assert path.parent == out and path.stat().st_size < 200 * 1024
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width > 50 and img.height > 50


def test_figures_are_deterministic(made, tmp_path):
    out, paths = made
    again = gallery.make(tmp_path, gallery.QUICK, only=["texture_synthesis", "oriented_strokes", "stn_before_after"],
                         verbose=False)
    for path in again:
        with Image.open(path) as a, Image.open(out / path.name) as b:
            assert a.size == b.size and a.tobytes() == b.tobytes(), path.name


def test_unknown_figure_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no gallery figure called 'deformable'"):
        gallery.make(tmp_path, gallery.QUICK, only=["deformable"])


def test_main_quick_writes_into_the_folder_given(tmp_path, capsys):
    assert gallery.main(["--quick", "--only", "samples", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "samples.png").exists() and "gallery done" in capsys.readouterr().out
