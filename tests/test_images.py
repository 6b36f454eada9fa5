"""course_utils.images: every common mode loads; every bad file gives one clear error."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import images
from course_utils.images import ImageLoadError, load_image, load_image_bytes, save_image


def _write(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


@pytest.fixture
def rgb_array():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)


def test_rgb_png_round_trip_is_exact(tmp_path, rgb_array):
    path = _write(Image.fromarray(rgb_array), tmp_path / "a.png")
    t = load_image(path)
    assert t.shape == (1, 3, 12, 20) and t.dtype == torch.float32
    assert torch.equal((t[0].permute(1, 2, 0) * 255).round().to(torch.uint8), torch.from_numpy(rgb_array))


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1", "LA", "RGBA", "I;16"])
def test_every_common_mode_gives_three_channels_in_range(tmp_path, rgb_array, mode):
    base = Image.fromarray(rgb_array)
    if mode == "I;16":
        arr16 = (np.linspace(0, 65535, 12 * 20).reshape(12, 20)).astype(np.uint16)
        img = Image.fromarray(arr16)
        suffix = ".png"
    else:
        img = base.convert(mode)
        suffix = ".tif" if mode == "CMYK" else ".png"
    path = _write(img, tmp_path / f"m{suffix}")
    t = load_image(path)
    assert t.shape == (1, 3, 12, 20)
    assert 0.0 <= t.min() and t.max() <= 1.0
    if mode == "I;16":
        # 16-bit precision kept: the ramp reaches white and has more than 256 levels
        assert t.max() == pytest.approx(1.0) and t[0, 0].unique().numel() > 200


def test_alpha_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    t = load_image(_write(img, tmp_path / "t.png"))
    assert torch.allclose(t, torch.ones_like(t))
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    t2 = load_image(_write(half, tmp_path / "h.png"))
    assert torch.allclose(t2, torch.full_like(t2, 127 / 255), atol=2 / 255)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (30, 10), "white")
    img.paste((255, 0, 0), (0, 0, 5, 10))  # red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    t = load_image(path)
    assert t.shape == (1, 3, 30, 10)  # portrait after applying the orientation
    assert t[0, 0, :5].mean() > 0.8 and t[0, 1, :5].mean() < 0.3  # red now on top


def test_max_side_shrinks_keeping_aspect_and_never_enlarges(tmp_path, rgb_array):
    path = _write(Image.fromarray(rgb_array), tmp_path / "a.png")
    assert load_image(path, max_side=10).shape == (1, 3, 6, 10)
    assert load_image(path, max_side=100).shape == (1, 3, 12, 20)
    with pytest.raises(ValueError, match="max_side"):
        load_image(path, max_side=0)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png.*does not exist"):
        load_image(tmp_path / "nope.png")


def test_folder_empty_junk_and_truncated_files(tmp_path, rgb_array):
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.png.*empty"):
        load_image(empty)
    junk = tmp_path / "junk.jpg"
    junk.write_text("this is not an image")
    with pytest.raises(ImageLoadError, match=r"junk\.jpg.*not an image"):
        load_image(junk)
    good = _write(Image.fromarray(rgb_array).resize((200, 200)), tmp_path / "good.jpg", quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageLoadError, match=r"truncated\.jpg.*(damaged|truncated)"):
        load_image(truncated)


def test_absurd_size_is_refused_before_decoding(tmp_path, monkeypatch):
    img = Image.new("L", (300, 300))
    path = _write(img, tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    with pytest.raises(ImageLoadError, match=r"big\.png.*300x300"):
        load_image(path)


def test_decompression_bomb_guard_gives_clear_error(tmp_path, monkeypatch):
    path = _write(Image.new("L", (400, 400)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow's own guard
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*too large"):
        load_image(path)


def test_load_image_bytes_uses_name_only_in_messages(rgb_array):
    buf = io.BytesIO()
    Image.fromarray(rgb_array).save(buf, format="PNG")
    assert load_image_bytes(buf.getvalue()).shape == (1, 3, 12, 20)
    with pytest.raises(ImageLoadError, match=r"\.\./evil\.png.*not an image"):
        load_image_bytes(b"garbage", name="../evil.png")


def test_save_round_trip_and_formats(tmp_path):
    t = torch.rand(1, 3, 9, 7)
    p = save_image(t, tmp_path / "sub" / "out.png")
    assert p.exists()
    back = load_image(p)
    assert torch.allclose(back, (t * 255).round() / 255, atol=1e-6)
    assert save_image(t[0], tmp_path / "o.jpg").exists()
    assert oct(os.stat(p).st_mode & 0o777) != oct(0o600)


def test_save_never_leaves_a_half_written_file(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(ValueError, match="suffix"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.xyz")
    with pytest.raises(ValueError, match="batch of 2"):
        save_image(torch.rand(2, 3, 4, 4), target)
    with pytest.raises(ValueError, match="shape"):
        save_image(torch.rand(5, 4, 4), target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: load_image(torch.rand(1, 3, 4, 4)), TypeError, r"load_image needs a file path \(str or pathlib\.Path\), got Tensor"),
        (lambda: load_image_bytes("photo.png"), TypeError, r"needs the image file's bytes, got str; for a file on disk use load_image\(path\)"),
        (lambda: images.from_pil("photo.png"), TypeError, r"from_pil needs a PIL image, got str; for a file use load_image\(path\)"),
        (lambda: images.resize(torch.rand(1, 3, 8, 8), 4), ValueError, r"size must be \(H, W\), two positive integers, got 4"),
        (lambda: images.resize(torch.rand(1, 3, 8, 8), (0, 4)), ValueError, r"size must be \(H, W\), two positive integers, got \(0, 4\)"),
        (lambda: images.resize(torch.rand(3, 8, 8), (4, 4)), ValueError, r"image must be a batch of images \(B, C, H, W\), got \(3, 8, 8\); add a batch"),
        (lambda: images.resize_max_side(torch.rand(1, 3, 8, 8), "4"), ValueError, "max_side must be a positive number of pixels, got '4'"),
        (lambda: images.resize_max_side(torch.rand(1, 3, 8, 8), -4), ValueError, "max_side must be a positive number of pixels, got -4"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------- hardening (issue "Hardening")
def _as_non_root(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that file rights apply to. As root (the test
    machine), the capabilities that ignore rights are dropped with util-linux's setpriv."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root, where file rights do not stop reads or writes, and setpriv is missing")
        prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_an_unreadable_file_is_an_image_load_error_with_a_sentence(tmp_path, rgb_array):
    path = _write(Image.fromarray(rgb_array), tmp_path / "private.png")
    path.chmod(0)
    done = _as_non_root(
        "from course_utils.images import load_image\n"
        "try:\n    load_image('private.png')\nexcept Exception as e:\n    print(type(e).__name__, e)\n",
        tmp_path,
    )
    assert done.stdout.startswith("ImageLoadError Cannot load image 'private.png': you have no permission to read it"), done


def test_saving_into_a_read_only_folder_names_the_target_not_a_temporary_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    done = _as_non_root(
        "import torch\nfrom course_utils.images import save_image\n"
        "try:\n    save_image(torch.rand(1, 3, 4, 4), 'ro/out.png')\nexcept Exception as e:\n    print(type(e).__name__, e)\n",
        tmp_path,
    )
    assert done.stdout.startswith("ImageSaveError Cannot save image 'ro/out.png': Permission denied"), done
    assert ".tmp-" not in done.stdout and os.listdir(folder) == []


def test_saving_onto_a_folder_or_under_a_file_is_a_sentence_naming_the_target(tmp_path):
    image = torch.rand(1, 3, 4, 4)
    with pytest.raises(images.ImageSaveError, match=r"Cannot save image '.*pic\.png': it is a folder; give a file name"):
        (tmp_path / "pic.png").mkdir()
        save_image(image, tmp_path / "pic.png")
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(images.ImageSaveError, match=r"out\.png': '.*notes\.txt' is a file, not a folder"):
        save_image(image, tmp_path / "notes.txt" / "sub" / "out.png")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "pic.png"]  # no temporary file left


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_saving_nan_or_infinite_pixels_is_refused(tmp_path, bad):
    image = torch.rand(1, 3, 4, 4)
    image[0, 1, 2, 3] = bad
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        save_image(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_a_uint8_image_is_read_as_0_to_255_and_other_integers_are_refused(tmp_path, rgb_array):
    as_uint8 = torch.from_numpy(rgb_array).permute(2, 0, 1)[None]  # (1, 3, 12, 20), 0-255
    back = load_image(save_image(as_uint8, tmp_path / "u8.png"))
    assert torch.equal((back * 255).round().to(torch.uint8), as_uint8)  # not a white picture
    with pytest.raises(ValueError, match=r"dtype torch.int64; give floats in \[0, 1\]"):
        save_image(as_uint8.long(), tmp_path / "i64.png")


def _peak_rss_mb_added(code: str) -> float:
    """Peak resident memory (MB) that ``code`` adds in a fresh interpreter, after imports."""
    script = (
        "import resource, io\nfrom course_utils.images import load_image_bytes, load_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"{code}\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_small_file_of_many_pixels_costs_little_memory_when_shrunk(tmp_path, fmt):
    path = tmp_path / f"flat.{fmt.lower()}"
    Image.new("RGB", (6000, 6000), (30, 120, 200)).save(path, format=fmt)
    assert path.stat().st_size < 1_000_000  # a small upload...
    added = _peak_rss_mb_added(
        f"data = open({str(path)!r}, 'rb').read()\nt = load_image_bytes(data, max_side=64)\n"
        "assert t.shape == (1, 3, 64, 64) and abs(t[0, 2].mean().item() - 200 / 255) < 0.01"
    )
    # ...of 36 Mpx: the 8-bit decode is 108 MB; decoding and converting it whole took 1.1 GB
    assert added < 300, f"{added:.0f} MB"


def test_shrinking_while_decoding_gives_the_picture_the_exact_path_gives(tmp_path):
    rng = np.random.default_rng(1)
    smooth = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((2400, 1800), Image.BICUBIC)
    for fmt, tolerance in (("PNG", 0.02), ("JPEG", 0.03)):
        path = tmp_path / f"big.{fmt.lower()}"
        smooth.save(path, format=fmt, quality=95)
        exact = images.resize_max_side(load_image(path), 100)  # the whole image, then shrunk
        fast = load_image(path, max_side=100)
        assert fast.shape == exact.shape == (1, 3, 75, 100)
        assert (fast - exact).abs().mean() < tolerance / 4 and (fast - exact).abs().max() < 4 * tolerance


def test_a_large_palette_or_16_bit_image_keeps_its_colours_when_shrunk_while_decoding(tmp_path):
    palette = Image.new("P", (2400, 2000), 1)
    palette.putpalette([0, 0, 0, 200, 30, 10] + [0] * 762)
    ramp = Image.fromarray(np.full((2000, 2400), 30000, dtype=np.uint16))
    for img, colour in ((palette, (200 / 255, 30 / 255, 10 / 255)), (ramp, (30000 / 65535,) * 3)):
        path = _write(img, tmp_path / "p.png")
        t = load_image(path, max_side=50)
        assert t.shape == (1, 3, 42, 50)
        assert torch.allclose(t.mean((0, 2, 3)), torch.tensor(colour), atol=1 / 255)


# ------------------------------------------------- bad input found by the fuzzer (6 Dec 2026)
@pytest.mark.parametrize("dtype, fix", [(torch.uint8, r"image\.float\(\) / 255"), (torch.int64, r"image\.float\(\) / 255"),
                                        (torch.bool, r"image\.float\(\)\."), (torch.complex64, r"image\.real")])
@pytest.mark.parametrize("call", [lambda x: images.resize(x, (8, 8)), lambda x: images.resize(x, (32, 32)),
                                  lambda x: images.resize_max_side(x, 8), lambda x: images.resize_max_side(x, 64)])
def test_resizing_an_image_that_is_not_floats_is_refused_with_a_sentence(dtype, fix, call):
    image = torch.randint(0, 255, (1, 3, 16, 16)).to(dtype)  # a uint8 image used to come back all white
    with pytest.raises(ValueError, match=rf"image has dtype {dtype}; resize\w* needs a float image in \[0, 1\]: use {fix}"):
        call(image)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_image_is_resized_in_its_own_dtype(dtype):
    image = torch.rand(1, 3, 16, 16)
    for size in ((8, 8), (32, 32)):  # shrinking (antialiased) had no half kernel on the CPU
        out = images.resize(image.to(dtype), size)
        assert out.dtype == dtype and out.shape == (1, 3, *size)
        assert (out.float() - images.resize(image, size)).abs().max() < 0.02
    assert images.resize_max_side(image.to(dtype), 8).dtype == dtype


def test_resizing_to_more_pixels_than_an_image_can_have_is_refused_before_allocation():
    # 12 TB of float32: without the check torch's allocator refuses it at once, with its own words
    with pytest.raises(ValueError, match=r"size \(1000000, 1000000\) is 1,000,000,000,000 pixels, more than .* pick a smaller size"):
        images.resize(torch.rand(1, 3, 16, 16), (10**6, 10**6))


@pytest.mark.parametrize("path", [None, 3, torch.rand(2)])
def test_saving_to_something_that_is_not_a_path_is_a_sentence(tmp_path, path):
    with pytest.raises(TypeError, match=rf"save_image needs a file path \(str or pathlib\.Path\), got {type(path).__name__}; "
                                        r"pass e\.g\. 'results/out\.png'"):
        save_image(torch.rand(1, 3, 4, 4), path)


@pytest.mark.parametrize("shape", [(1, 3, 0, 16), (3, 16, 0), (0, 0)])
def test_an_empty_image_is_refused_and_no_file_is_left(tmp_path, shape):
    with pytest.raises(ValueError, match=rf"Cannot save '.*x\.png': the image is empty, shape {tuple(shape)}, it has no "
                                         r"pixels; check how it was cropped or sliced".replace("(", r"\(").replace(")", r"\)")):
        save_image(torch.rand(shape), tmp_path / "x.png")  # was PIL's 'cannot write empty image'
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", [lambda x: images.resize(x, (8, 8)), lambda x: images.resize_max_side(x, 8)])
def test_resizing_an_empty_image_is_refused_with_a_sentence(call):
    with pytest.raises(ValueError, match=r"image is empty, shape \(1, 3, 0, 16\), it has no pixels to resize; "
                                         r"check how it was cropped or sliced"):
        call(torch.rand(1, 3, 0, 16))  # was torch's 'Input and output sizes should be greater than 0'


def test_a_premultiplied_alpha_image_converts_like_its_straight_alpha_copy():
    la = Image.new("La", (4, 4), (100, 128))  # Pillow cannot convert La to RGB or RGBA directly
    assert torch.equal(images.from_pil(la), images.from_pil(la.convert("LA")))
    assert images.from_pil(la).shape == (1, 3, 4, 4)
