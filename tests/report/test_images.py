"""Image grids: shapes read from a batch, pixel scaling, tiling, the array → PNG writer and the sampling wrapper."""

import numpy as np
import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.report.images import (
    grid_shape,
    infer_image_shape,
    samples_grid,
    save_image_grid,
    tile_images,
    to_pictures,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    return path.is_file() and path.stat().st_size > 100 and path.read_bytes()[:8] == PNG


class StubGenerator(nn.Module):
    """Anything with ``sample(n, generator)``: records the images it returns and the mode it was called in."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[torch.Tensor, bool, bool]] = []

    def sample(self, n, generator=None):
        images = torch.tanh(self.scale * torch.randn(n, 1, 5, 5, generator=generator))  # in [-1, 1], as a GAN's
        self.calls.append((images, self.training, torch.is_grad_enabled()))
        return images


@pytest.mark.parametrize(("shape", "image_shape", "expected"), [
    ((4, 3, 5, 6), None, (3, 5, 6)),
    ((4, 5, 6), None, (1, 5, 6)),
    ((4, 784), None, (1, 28, 28)),
    ((4, 12), (3, 4), (1, 3, 4)),
    ((4, 24), (2, 3, 4), (2, 3, 4)),
])
def test_infer_image_shape_reads_the_batch_or_takes_the_given_shape(shape, image_shape, expected):
    assert infer_image_shape(np.zeros(shape), image_shape) == expected
    assert infer_image_shape(torch.zeros(shape), image_shape) == expected


def test_infer_image_shape_names_the_fix_when_it_cannot_guess():
    with pytest.raises(NeuralabError, match=r"cannot draw examples of shape \(12,\) as images; pass image_shape"):
        infer_image_shape(np.zeros((4, 12)))
    with pytest.raises(NeuralabError, match=r"image_shape must be \(C, H, W\) with 12 values.*got \(1, 4, 4\)"):
        infer_image_shape(np.zeros((4, 12)), (1, 4, 4))


def test_to_pictures_keeps_unit_pixels_and_rescales_other_ranges_per_image():
    unit = torch.rand(3, 1, 4, 4)
    np.testing.assert_allclose(to_pictures(unit), unit[:, 0].numpy(), atol=1e-7)
    standardised = np.stack([np.linspace(-3, 3, 16), np.linspace(10, 20, 16)]).reshape(2, 4, 4)
    pictures = to_pictures(standardised)
    assert pictures.shape == (2, 4, 4)
    assert pictures.min(axis=(1, 2)).tolist() == [0, 0] and pictures.max(axis=(1, 2)).tolist() == [1, 1]
    assert to_pictures(torch.rand(2, 3, 4, 5)).shape == (2, 4, 5, 3)  # RGB last
    two = to_pictures(np.stack([np.zeros((4, 4)), np.ones((4, 4))])[None])  # (1, 2, 4, 4): mean of the channels
    np.testing.assert_allclose(two, 0.5)


@pytest.mark.parametrize(("n", "expected"), [(0, (1, 1)), (1, (1, 1)), (2, (1, 2)), (10, (3, 4)), (64, (8, 8))])
def test_grid_shape_is_near_square(n, expected):
    assert grid_shape(n) == expected


def test_tile_images_lays_pictures_row_by_row_with_white_gaps():
    pictures = np.stack([np.full((2, 2), v) for v in (0.0, 0.5, 0.25)])
    out = tile_images(pictures, rows=2, cols=2)
    assert out.shape == (5, 5)
    assert (out[:2, :2] == 0).all() and (out[:2, 3:] == 0.5).all() and (out[3:, :2] == 0.25).all()
    assert (out[2] == 1).all() and (out[:, 2] == 1).all() and (out[3:, 3:] == 1).all()  # gaps and the empty tile
    assert tile_images(np.zeros((3, 2, 2, 3)), rows=1, cols=3, pad=0).shape == (2, 6, 3)


@pytest.mark.parametrize("images", [np.random.default_rng(0).random((10, 8, 8)), torch.rand(5, 3, 6, 6),
                                    torch.randn(7, 784)], ids=["numpy-grey", "torch-rgb", "flat-standardised"])
def test_save_image_grid_writes_a_png_from_any_batch(tmp_path, images):
    assert save_image_grid(images, tmp_path / "grid.png", title="A grid") == tmp_path / "grid.png"
    assert _is_png(tmp_path / "grid.png")
    assert _is_png(save_image_grid(images, tmp_path / "row.png", cols=len(images)))


def test_save_image_grid_rejects_an_empty_batch_and_a_bad_cols(tmp_path):
    with pytest.raises(NeuralabError, match="at least one image"):
        save_image_grid(np.zeros((0, 4, 4)), tmp_path / "g.png")
    with pytest.raises(NeuralabError, match="cols must be a positive int; got 0"):
        save_image_grid(np.zeros((2, 4, 4)), tmp_path / "g.png", cols=0)
    assert not (tmp_path / "g.png").exists()


def test_samples_grid_samples_in_eval_mode_without_gradients_with_a_seeded_generator(tmp_path):
    model = StubGenerator().train()
    for seed in (3, 3, 4):
        assert _is_png(samples_grid(model, tmp_path / f"s{seed}.png", n=6, seed=seed))
    (a, training, grad), (b, _, _), (c, _, _) = model.calls
    assert a.shape == (6, 1, 5, 5) and not training and not grad
    assert model.training  # restored
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(NeuralabError, match="n must be a positive int; got 0"):
        samples_grid(model, tmp_path / "none.png", n=0)
