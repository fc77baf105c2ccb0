"""MNIST-style preprocessing of digit photos: reading any image mode, polarity, size, centring and errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from neuralab.data.digit_images import (
    BOX,
    MAX_PIXELS,
    SIZE,
    load_digit_images,
    preprocess_digit,
    read_image,
)
from neuralab.errors import DataError


def bar(height: int = 60, width: int = 40, *, ink: float = 1.0, paper: float = 0.0) -> np.ndarray:
    """A "1": a vertical bar 40 px tall and 4 px wide, off-centre so that centring has work to do."""
    img = np.full((height, width), paper, dtype=np.float32)
    img[12:52, 6:10] = ink
    return img


def seven(paper: float, ink: float) -> np.ndarray:
    """A crude "7" (a top stroke and a slanted stem) on a 50×50 canvas."""
    img = np.full((50, 50), paper, dtype=np.float32)
    img[8:13, 10:40] = ink
    for r in range(13, 44):
        c = 38 - (r - 13) * 20 // 31
        img[r, c - 2:c + 3] = ink
    return img


def save(path: Path, array: np.ndarray, mode: str = "L") -> Path:
    """Write a float image in [0, 1] as an 8-bit file in the given Pillow mode."""
    Image.fromarray(np.rint(array * 255).astype(np.uint8)).convert(mode).save(path)
    return path


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    mass = img.sum()
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / mass), float((cols * img).sum() / mass)


def ink_box(img: np.ndarray, level: float = 0.1) -> tuple[int, int]:
    rows, cols = np.nonzero(img > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_bar_is_28x28_in_unit_range_centred_and_20_px_tall(tmp_path):
    out = preprocess_digit(read_image(save(tmp_path / "one.png", bar())))
    assert out.shape == (SIZE, SIZE) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() == pytest.approx(1.0, abs=0.01)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    height, width = ink_box(out)
    assert abs(height - BOX) <= 1  # the longer side is size-normalised to 20 px...
    assert width <= 4  # ...and the aspect ratio is kept: 40×4 becomes 20×2 (plus anti-aliasing)
    assert out[0].max() == 0 and out[-1].max() == 0  # black margin, as in MNIST


def test_wide_digit_is_scaled_by_its_width():
    img = np.zeros((30, 90), dtype=np.float32)
    img[10:20, 5:85] = 1.0  # an 80×10 dash
    height, width = ink_box(preprocess_digit(img))
    assert abs(width - BOX) <= 1 and height <= 4


def test_dark_on_light_rgb_matches_light_on_dark_gray(tmp_path):
    light = preprocess_digit(read_image(save(tmp_path / "light.png", seven(paper=0.0, ink=1.0))))
    dark = preprocess_digit(read_image(save(tmp_path / "dark.png", seven(paper=1.0, ink=0.0), mode="RGB")))
    assert np.corrcoef(light.ravel(), dark.ravel())[0, 1] > 0.95
    assert dark[0, 0] == 0.0  # inverted: the background is black


def test_grey_paper_is_removed():
    out = preprocess_digit(bar(paper=0.8, ink=0.1))  # a dark pen on grey paper
    assert out.max() == pytest.approx(1.0, abs=0.01)
    assert ink_box(out)[0] == pytest.approx(BOX, abs=1) and out[:, :8].max() == 0


def test_rgba_png_with_transparent_background_is_read(tmp_path):
    rgba = np.zeros((60, 40, 4), dtype=np.uint8)  # fully transparent canvas...
    rgba[12:52, 6:10] = (20, 20, 200, 255)  # ...with an opaque dark-blue stroke
    path = tmp_path / "stroke.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    img = read_image(path)
    assert img.shape == (60, 40) and img.dtype == np.float32
    assert img[0, 0] == pytest.approx(1.0)  # composited onto white, behind a dark stroke
    assert img[30, 7] < 0.2
    out = preprocess_digit(img)
    assert np.corrcoef(out.ravel(), preprocess_digit(bar()).ravel())[0, 1] > 0.95


def test_sixteen_bit_png_is_scaled_to_unit_range(tmp_path):
    data = (bar() * 65535).astype(np.uint16)
    data[0, 0] = 32768
    path = tmp_path / "deep.png"
    Image.fromarray(data).save(path)
    img = read_image(path)
    assert img.dtype == np.float32 and img.max() == pytest.approx(1.0)
    assert img[0, 0] == pytest.approx(0.5, abs=1e-3)
    assert centre_of_mass(preprocess_digit(img)) == pytest.approx((14, 14), abs=1)


def test_palette_and_jpeg_images_are_read(tmp_path):
    assert read_image(save(tmp_path / "p.png", bar(), mode="P")).max() == pytest.approx(1.0)
    jpeg = read_image(save(tmp_path / "one.jpg", seven(paper=1.0, ink=0.0), mode="RGB"))
    assert jpeg.shape == (50, 50) and 0.0 <= jpeg.min() and jpeg.max() <= 1.0


def test_tiny_image_is_upscaled(tmp_path):
    tiny = np.zeros((5, 3), dtype=np.float32)
    tiny[1:4, 1] = 1.0  # a 3-pixel "1"
    out = preprocess_digit(read_image(save(tmp_path / "tiny.png", tiny)))
    assert out.shape == (SIZE, SIZE) and 0.0 <= out.min() and out.max() <= 1.0
    assert ink_box(out)[0] == pytest.approx(BOX, abs=1)
    assert centre_of_mass(out) == pytest.approx((14, 14), abs=1)


def test_uint8_arrays_are_scaled():
    a = preprocess_digit(np.rint(bar() * 255).astype(np.uint8))
    np.testing.assert_allclose(a, preprocess_digit(bar()), atol=1e-6)


def test_blank_image_has_no_ink(tmp_path):
    with pytest.raises(DataError, match="no ink"):
        preprocess_digit(np.full((28, 28), 0.7, dtype=np.float32))
    path = save(tmp_path / "blank.png", np.ones((20, 20)))
    with pytest.raises(DataError, match=r"blank\.png: no ink found"):
        load_digit_images([path])


def test_bad_array_shape_is_a_data_error():
    with pytest.raises(DataError, match=r"2-D.*\(4, 4, 3\)"):
        preprocess_digit(np.zeros((4, 4, 3)))


def test_text_file_is_not_a_readable_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image\n")
    with pytest.raises(DataError, match=r"notes\.png: not a readable image"):
        read_image(path)


def test_empty_file_is_not_a_readable_image(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png: not a readable image"):
        read_image(path)


def test_truncated_png_is_not_a_readable_image(tmp_path):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.png"
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(full)
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut\.png: not a readable image") as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"absent\.png: no such image file"):
        read_image(tmp_path / "absent.png")


def test_load_digit_images_returns_an_mnist_shaped_uint8_batch(tmp_path):
    paths = [save(tmp_path / "a.png", bar()), save(tmp_path / "b.png", seven(1.0, 0.0), mode="RGB")]
    batch = load_digit_images(paths)
    assert batch.shape == (2, 1, SIZE, SIZE) and batch.dtype == np.uint8
    assert batch.max() == 255
    expected = np.rint(preprocess_digit(read_image(paths[0])) * 255).astype(np.uint8)
    np.testing.assert_array_equal(batch[0, 0], expected)
    assert load_digit_images([]).shape == (0, 1, SIZE, SIZE)


def test_an_image_over_max_pixels_is_refused_from_its_header(tmp_path, monkeypatch, big_png):
    # A 9000×9000 RGBA PNG used to take 5.3 GB; the size is now read from the header and nothing is decoded.
    path = big_png(tmp_path / "huge.png", 9000, 9000)
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    message = (rf"^{re.escape(str(path))}: the image is 9000x9000 = 81,000,000 pixels, more than the "
               rf"{MAX_PIXELS:,} accepted; scale it down \(a digit needs far fewer\)$")
    with pytest.raises(DataError, match=message):
        read_image(path)
    with pytest.raises(DataError, match=message):
        load_digit_images([path])
    with pytest.raises(DataError, match=r"garbage\.png: the image is 9000x9000 = 81,000,000 pixels"):
        read_image(big_png(tmp_path / "garbage.png", 9000, 9000, valid=False))


def test_max_pixels_is_a_keyword_of_read_image_and_load_digit_images(tmp_path):
    path = save(tmp_path / "one.png", bar())  # 60×40 = 2400 pixels
    assert read_image(path, max_pixels=2400).shape == (60, 40)
    with pytest.raises(DataError, match=r"one\.png: the image is 40x60 = 2,400 pixels, more than the 2,399 accepted"):
        read_image(path, max_pixels=2399)
    with pytest.raises(DataError, match=r"the image is 40x60 = 2,400 pixels, more than the 100 accepted"):
        load_digit_images([path], max_pixels=100)
    with pytest.raises(DataError, match=r"^max_pixels must be a positive int; got 0$"):
        read_image(path, max_pixels=0)


@pytest.mark.parametrize("side", [10_000, 15_000])  # Pillow warns above 89 MP and raises above 179 MP
def test_pillows_decompression_bomb_check_is_a_one_line_data_error(tmp_path, side, big_png):
    path = big_png(tmp_path / "bomb.png", side, side, valid=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out as a warning either
        with pytest.raises(DataError, match=r"bomb\.png: the image is too large to decode safely \(Image size "
                                            r"\(\d+ pixels\) exceeds limit of \d+ pixels.*\); scale it down$") as info:
            read_image(path, max_pixels=side * side)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a\xff\xff",
                                  b"BM" + b"\xff" * 60, b"\xff\xd8\xff\xe0" + b"\x00" * 30, bytes(range(256))])
def test_garbage_and_truncated_headers_are_one_line_data_errors(tmp_path, data):
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    with pytest.raises(DataError, match=r"bad\.img: ") as info:
        read_image(path)
    assert "\n" not in str(info.value)
