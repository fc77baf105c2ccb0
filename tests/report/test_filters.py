"""Classic convolution kernels: what each does, the convolution arithmetic, and the filter figure."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.errors import NeuralabError
from neuralab.report.filters import KERNELS, apply_kernel, filter_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def step(height: int = 12, width: int = 12) -> np.ndarray:
    """Dark on the left, bright on the right: a vertical edge between columns 5 and 6."""
    img = np.zeros((height, width))
    img[:, width // 2:] = 1.0
    return img


def test_every_kernel_is_odd_square_and_read_only():
    assert {"identity", "sharpen", "edge_detect", "strong_edge_detect", "sobel_x", "sobel_y", "box_blur",
            "gaussian_blur_3x3", "gaussian_blur_5x5"} <= set(KERNELS)
    for name, k in KERNELS.items():
        assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1, name
        assert not k.flags.writeable, name
    for blur in ("box_blur", "gaussian_blur_3x3", "gaussian_blur_5x5"):
        assert KERNELS[blur].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_identity_returns_the_image(padding):
    img = np.random.default_rng(0).random((7, 9))
    np.testing.assert_allclose(apply_kernel(img, KERNELS["identity"], padding=padding), img, atol=1e-12)


def test_box_blur_of_a_constant_image_is_constant_away_from_the_border():
    img = np.full((10, 10), 0.6)
    out = apply_kernel(img, KERNELS["box_blur"], padding="zero")
    np.testing.assert_allclose(out[1:-1, 1:-1], 0.6)
    assert out[0, 0] == pytest.approx(0.6 * 4 / 9)  # zero padding: only 4 of the 9 taps see the image
    np.testing.assert_allclose(apply_kernel(img, KERNELS["gaussian_blur_5x5"]), 0.6)  # reflect: flat everywhere


def test_sobel_x_responds_to_a_vertical_edge_and_sobel_y_does_not():
    img = step()
    gx = apply_kernel(img, KERNELS["sobel_x"])
    gy = apply_kernel(img, KERNELS["sobel_y"])
    assert gx[:, 5:7].min() == pytest.approx(4.0)  # brighter to the right: a positive response of 1+2+1
    assert np.abs(gx[:, :4]).max() == 0 and np.abs(gx[:, 8:]).max() == 0
    np.testing.assert_allclose(gy, 0.0, atol=1e-12)
    # Transposed, the roles swap: sobel_y sees the horizontal edge (brighter downwards).
    assert apply_kernel(img.T, KERNELS["sobel_y"])[5:7].min() == pytest.approx(4.0)


def test_apply_kernel_matches_a_hand_computed_convolution():
    img = np.arange(16, dtype=float).reshape(4, 4)  # rows: 0 1 2 3 / 4 5 6 7 / 8 9 10 11 / 12 13 14 15
    kernel = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    # A true convolution at (1, 1) flips the kernel: out = sum_{a,b} img[1 + a, 1 + b] * kernel[1 - a, 1 - b]
    #   a=-1,b=-1: img[0,0]=0  * k[2,2]=-1 ->   0
    #   a=-1,b= 0: img[0,1]=1  * k[2,1]= 0 ->   0
    #   a= 0,b= 0: img[1,1]=5  * k[1,1]= 1 ->   5
    #   a= 1,b= 0: img[2,1]=9  * k[0,1]= 2 ->  18
    #   a= 1,b= 1: img[2,2]=10 * k[0,0]= 1 ->  10
    #   (every other tap multiplies a zero of the kernel)               total = 33
    # Cross-correlation (no flip) would give 1*0 + 2*1 + 1*5 - 1*10 = -3.
    out = apply_kernel(img, kernel)
    assert out.shape == img.shape
    assert out[1, 1] == pytest.approx(33.0)


def test_bad_arguments_are_clear_errors():
    img = np.zeros((5, 5))
    with pytest.raises(NeuralabError, match=r"odd sides.*\(2, 2\)"):
        apply_kernel(img, np.ones((2, 2)))
    with pytest.raises(NeuralabError, match="padding must be one of reflect, zero; got 'zeros'"):
        apply_kernel(img, KERNELS["identity"], padding="zeros")
    with pytest.raises(NeuralabError, match="too small to reflect"):
        apply_kernel(np.zeros((2, 2)), KERNELS["gaussian_blur_5x5"])
    with pytest.raises(NeuralabError, match="unknown kernel 'sobelx' \\(did you mean 'sobel_x'\\?\\)"):
        filter_figure(img, "unused.png", kernels=["sobelx"])


def test_filter_figure_writes_a_png(tmp_path):
    img = np.zeros((28, 28))
    img[6:22, 12:16] = 1.0
    path = filter_figure(img, tmp_path / "figs" / "filters.png")
    assert path == tmp_path / "figs" / "filters.png"
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_filter_figure_accepts_an_image_file_and_custom_kernels(tmp_path):
    from PIL import Image

    source = tmp_path / "digit.png"
    Image.fromarray((step() * 255).astype(np.uint8)).save(source)
    path = filter_figure(source, tmp_path / "mine.png", kernels={"emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]})
    assert path.read_bytes()[:8] == PNG_MAGIC
