"""Tests for neuralab.data.transforms: batched augmentation and pixel conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralab.data.transforms import (
    Augment,
    elastic,
    normalize,
    random_rotation,
    random_shift,
    to_float,
)
from neuralab.errors import DataError

AUGMENTATIONS = {
    "shift": lambda x, g: random_shift(x, 3, g),
    "rotation": lambda x, g: random_rotation(x, 15.0, g),
    "elastic": lambda x, g: elastic(x, 34.0, 4.0, g),
    "augment": lambda x, g: Augment(shift=2, rotation=10.0, elastic_alpha=8.0)(x, g),
}


def _batch(b: int = 8, c: int = 2, h: int = 12, w: int = 10, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augmentations_keep_shape_dtype_and_device(name: str, dtype: torch.dtype) -> None:
    x = _batch(dtype=dtype)
    out = AUGMENTATIONS[name](x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.isfinite(out).all() and not torch.equal(out, x)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_augmentations_are_deterministic_for_a_seeded_generator(name: str) -> None:
    x = _batch()
    first = AUGMENTATIONS[name](x, torch.Generator().manual_seed(7))
    again = AUGMENTATIONS[name](x, torch.Generator().manual_seed(7))
    other = AUGMENTATIONS[name](x, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_shift_moves_a_lit_pixel_by_at_most_k_and_copies_it_exactly() -> None:
    k, b = 2, 500
    x = torch.zeros(b, 1, 9, 9)
    x[:, 0, 4, 4] = 0.75
    out = random_shift(x, k, torch.Generator().manual_seed(0))
    lit = out.nonzero()  # (B, 4): batch, channel, row, column
    assert lit[:, 0].tolist() == list(range(b))  # every image keeps its one pixel
    assert (out[out != 0] == 0.75).all()
    offsets = lit[:, 2:] - 4
    assert offsets.abs().max() <= k
    assert {tuple(o) for o in offsets.tolist()} == {(i, j) for i in range(-k, k + 1) for j in range(-k, k + 1)}


def test_shift_fills_with_zeros_and_zero_shift_is_identity() -> None:
    x = torch.ones(16, 1, 5, 5)
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= {0.0, 1.0} and (out == 0).any()
    assert torch.equal(random_shift(x, 0), x)


def test_rotation_by_zero_degrees_is_identity() -> None:
    x = _batch()
    torch.testing.assert_close(random_rotation(x, 0.0, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_rotation_keeps_a_centred_disc_round_on_a_non_square_image() -> None:
    h, w = 21, 41
    rows, cols = torch.meshgrid(torch.arange(h) - 10.0, torch.arange(w) - 20.0, indexing="ij")
    disc = ((rows**2 + cols**2) <= 36).float()[None, None].expand(16, 1, h, w)
    out = random_rotation(disc, 90.0, torch.Generator().manual_seed(0))
    # A disc is rotation-invariant. Ignoring the aspect ratio would stretch it along one axis by up to w/h ~ 2.
    mass = out.sum(dim=(1, 2, 3))
    row_spread = (out[:, 0] * rows**2).sum(dim=(1, 2)) / mass
    col_spread = (out[:, 0] * cols**2).sum(dim=(1, 2)) / mass
    torch.testing.assert_close(mass, disc.sum(dim=(1, 2, 3)), rtol=0.05, atol=0)
    torch.testing.assert_close(row_spread, col_spread, rtol=0.05, atol=0)


def test_rotation_by_a_half_turn_flips_both_axes() -> None:
    x = _batch(b=1)
    out = random_rotation(x.expand(200, -1, -1, -1), 180.0, torch.Generator().manual_seed(0))
    # Among 200 angles in [-180, 180] the one closest to a half turn is within a degree of it.
    flipped = x.flip(2, 3)
    best = (out - flipped).abs().amax(dim=(1, 2, 3)).min()
    assert best < 0.1


def test_elastic_with_alpha_zero_is_identity() -> None:
    x = _batch()
    torch.testing.assert_close(elastic(x, 0.0, 4.0, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_augment_with_everything_off_is_identity() -> None:
    x = _batch()
    assert torch.equal(Augment(shift=0, rotation=0.0)(x), x)


def test_augment_runs_on_a_full_mnist_sized_batch() -> None:
    x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = Augment(shift=2, rotation=10.0, elastic_alpha=34.0, elastic_sigma=4.0)(x, torch.Generator().manual_seed(0))
    assert out.shape == (256, 1, 28, 28) and out.min() >= 0 and out.max() <= 1 + 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_cpu_generator_augments_a_cuda_batch_like_a_cpu_one(name: str) -> None:
    # The random numbers come from the generator's device, so the same seed gives the same transforms anywhere.
    x = _batch()
    on_cpu = AUGMENTATIONS[name](x, torch.Generator().manual_seed(3))
    on_gpu = AUGMENTATIONS[name](x.cuda(), torch.Generator().manual_seed(3))
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=0)


def test_bad_arguments_are_one_line_errors() -> None:
    x = _batch()
    with pytest.raises(DataError, match=r"max_shift must be a non-negative int \(pixels\); got 1.5"):
        random_shift(x, 1.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"max_degrees must be a finite number >= 0; got -3"):
        random_rotation(x, -3)
    with pytest.raises(DataError, match=r"sigma must be a finite number > 0; got 0"):
        elastic(x, 1.0, 0)
    with pytest.raises(DataError, match=r"elastic_alpha must be a finite number >= 0; got nan"):
        Augment(elastic_alpha=float("nan"))
    with pytest.raises(DataError, match=r"expects a float tensor of shape \(B, C, H, W\); got a torch.uint8 tensor "
                                        r"of shape \(2, 1, 3, 3\): convert uint8 images with to_float first"):
        Augment()(torch.zeros(2, 1, 3, 3, dtype=torch.uint8))
    with pytest.raises(DataError, match=r"got a torch.float32 tensor of shape \(3, 3\)"):
        random_shift(torch.zeros(3, 3), 1)


def test_to_float_maps_uint8_to_the_unit_interval() -> None:
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    out = to_float(pixels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.2, 1.0]]))
    assert to_float(torch.from_numpy(pixels), dtype=torch.float64).dtype == torch.float64
    with pytest.raises(DataError, match=r"to_float expects uint8 pixels 0-255; got torch.float32"):
        to_float(out)


def test_normalize_uses_per_channel_statistics() -> None:
    x = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize(x, mean=[0.0, 0.5, 1.0], std=[1.0, 0.5, 2.0])
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 1.0, 0.0]))
    torch.testing.assert_close(normalize(torch.tensor([0.25]), mean=0.25, std=2.0), torch.tensor([0.0]))
    with pytest.raises(DataError, match=r"std must be positive; got 0"):
        normalize(x, mean=0.0, std=0)
