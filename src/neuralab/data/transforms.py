"""Batched image augmentation on the batch's own device, with no Python loop over images.

Every function takes a float tensor of shape (B, C, H, W) and draws one random transform per image. Random numbers
come from ``generator`` (on the generator's device, then moved to the batch's), so a seeded generator gives the
same batch every time, and a CPU generator can drive augmentation of a CUDA batch.

- :func:`random_shift`: integer translation with zero fill, an exact gather from a zero-padded batch;
- :func:`random_rotation`: rotation about the centre with ``affine_grid`` + ``grid_sample`` (bilinear, zero fill);
- :func:`elastic`: elastic distortion, after P. Y. Simard, D. Steinkraus and J. C. Platt, "Best Practices for
  Convolutional Neural Networks Applied to Visual Document Analysis", ICDAR 2003;
- :class:`Augment`: all three, with rotation and elastic fused into one resampling so the image is blurred once.

Images are kept ``uint8`` in memory (see :mod:`neuralab.data.images`); :func:`to_float` and :func:`normalize`
convert a batch after it has been indexed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neuralab.errors import DataError

__all__ = ["Augment", "elastic", "normalize", "random_rotation", "random_shift", "to_float"]


def to_float(x: Tensor | np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
    """Return uint8 pixels 0-255 as floats in [0, 1] (``x / 255``), on ``x``'s device.

    Examples
    --------
    >>> to_float(torch.tensor([0, 51, 255], dtype=torch.uint8))
    tensor([0.0000, 0.2000, 1.0000])
    """
    x = torch.as_tensor(x)
    if x.dtype != torch.uint8:
        raise DataError(f"to_float expects uint8 pixels 0-255; got {x.dtype}: a float batch is already converted")
    return x.to(dtype) / 255


def normalize(x: Tensor | np.ndarray, mean: float | Sequence[float], std: float | Sequence[float]) -> Tensor:
    """Return ``(to_float(x) - mean) / std``, per channel when ``mean`` and ``std`` are sequences.

    ``x`` is uint8 (converted with :func:`to_float`) or already float in [0, 1], shape (B, C, H, W) for
    per-channel statistics. MNIST's training set has mean 0.1307 and std 0.3081 on the [0, 1] scale.

    Examples
    --------
    >>> normalize(torch.tensor([[[[0, 255]]]], dtype=torch.uint8), mean=0.5, std=0.5)
    tensor([[[[-1.,  1.]]]])
    """
    x = torch.as_tensor(x)
    x = to_float(x) if x.dtype == torch.uint8 else x
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    if (std_t <= 0).any():
        raise DataError(f"std must be positive; got {std}")
    if mean_t.ndim:  # one value per channel: broadcast over (B, C, H, W)
        mean_t, std_t = mean_t.view(-1, 1, 1), std_t.view(-1, 1, 1)
    return (x - mean_t) / std_t


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate each image by a random whole number of pixels in ``-max_shift .. max_shift`` along each axis.

    Pixels shifted in from outside are zero; pixel values are copied exactly (no interpolation).

    Parameters
    ----------
    x : Tensor
        Float images, shape (B, C, H, W).
    max_shift : int
        The largest shift, in pixels, along each of the two axes; 0 returns a copy.
    generator : torch.Generator, optional
        Source of the random shifts.

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if not isinstance(max_shift, int) or isinstance(max_shift, bool) or max_shift < 0:
        raise DataError(f"max_shift must be a non-negative int (pixels); got {max_shift!r}")
    b, c, h, w = x.shape
    k = max_shift
    padded = F.pad(x, (k, k, k, k))  # (B, C, H + 2k, W + 2k), zeros around
    # Crop origin k - shift: the crop starting at 0 shows the image moved by +k, the one at 2k by -k.
    origin = 2 * k - _randint(0, 2 * k + 1, (2, b), generator, x.device)
    rows = origin[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = origin[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_rotation(x: Tensor, max_degrees: float, generator: torch.Generator | None = None) -> Tensor:
    """Rotate each image about its centre by a random angle in ``[-max_degrees, max_degrees]``.

    Bilinear interpolation, zero fill outside the image. Angles are in pixel space, so non-square images rotate
    without shearing.

    Parameters
    ----------
    x : Tensor
        Float images, shape (B, C, H, W).
    max_degrees : float
        The largest rotation, in degrees, either way.
    generator : torch.Generator, optional
        Source of the random angles.

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    theta = _rotation_theta(x, _non_negative("max_degrees", max_degrees), generator)
    return _resample(x, F.affine_grid(theta, list(x.shape), align_corners=False))


def elastic(x: Tensor, alpha: float, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Distort each image with a random smooth displacement field (Simard et al., 2003).

    Each pixel's displacement starts as uniform noise in [-1, 1] along each axis, is smoothed by a Gaussian of
    standard deviation ``sigma`` pixels, and is scaled by ``alpha`` pixels. Simard et al. used ``alpha=34``,
    ``sigma=4`` on MNIST. Bilinear interpolation, zero fill.

    Parameters
    ----------
    x : Tensor
        Float images, shape (B, C, H, W).
    alpha : float
        Scale of the displacements, in pixels; 0 leaves the images unchanged.
    sigma : float
        Smoothness of the field, in pixels; small values give noise, large ones an almost rigid shift.
    generator : torch.Generator, optional
        Source of the random fields.

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    offsets = _elastic_offsets(x, _non_negative("alpha", alpha), _positive("sigma", sigma), generator)
    return _resample(x, _identity_grid(x) + offsets)


@dataclass(frozen=True)
class Augment:
    """Random elastic distortion and rotation (one resampling), then an exact integer shift.

    Parameters
    ----------
    shift : int, default 2
        Largest shift in pixels (:func:`random_shift`); 0 turns it off.
    rotation : float, default 10.0
        Largest rotation in degrees (:func:`random_rotation`); 0 turns it off.
    elastic_alpha : float, default 0.0
        Scale of the elastic displacements in pixels (:func:`elastic`); 0 turns it off.
    elastic_sigma : float, default 4.0
        Smoothness of the elastic field in pixels.

    Examples
    --------
    >>> augment = Augment(shift=2, rotation=10.0)
    >>> batch = augment(torch.rand(8, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    >>> batch.shape
    torch.Size([8, 1, 28, 28])
    """

    shift: int = 2
    rotation: float = 10.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    def __post_init__(self) -> None:
        if not isinstance(self.shift, int) or isinstance(self.shift, bool) or self.shift < 0:
            raise DataError(f"shift must be a non-negative int (pixels); got {self.shift!r}")
        _non_negative("rotation", self.rotation)
        _non_negative("elastic_alpha", self.elastic_alpha)
        _positive("elastic_sigma", self.elastic_sigma)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a float batch of shape (B, C, H, W); returns the same shape, dtype and device."""
        _check_batch(x)
        if self.rotation > 0 or self.elastic_alpha > 0:
            grid = F.affine_grid(_rotation_theta(x, self.rotation, generator), list(x.shape), align_corners=False)
            if self.elastic_alpha > 0:
                grid = grid + _elastic_offsets(x, self.elastic_alpha, self.elastic_sigma, generator)
            x = _resample(x, grid)
        return random_shift(x, self.shift, generator) if self.shift > 0 else x


# ----------------------------------------------------------------------------------------------------------- helpers


def _check_batch(x: Tensor) -> None:
    """Raise unless ``x`` is a floating-point tensor of shape (B, C, H, W)."""
    if not isinstance(x, Tensor) or x.ndim != 4 or not x.is_floating_point():
        what = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"augmentation expects a float tensor of shape (B, C, H, W); got a {what}: convert uint8 "
                        "images with to_float first")


def _non_negative(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number >= 0, else a DataError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise DataError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def _positive(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number > 0, else a DataError naming ``name``."""
    if _non_negative(name, value) == 0:
        raise DataError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform [0, 1) float32 numbers drawn on the generator's device, returned on ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def _randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator | None,
             device: torch.device) -> Tensor:
    """Integers in [low, high) drawn on the generator's device, returned on ``device``."""
    source = generator.device if generator is not None else device
    return torch.randint(low, high, shape, generator=generator, device=source).to(device)


def _rotation_theta(x: Tensor, max_degrees: float, generator: torch.Generator | None) -> Tensor:
    """Random rotations as (B, 2, 3) affine matrices in ``affine_grid``'s normalised coordinates."""
    b, _, h, w = x.shape
    angle = (2 * _rand((b,), generator, x.device) - 1).to(x.dtype) * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    # Rotating in pixels is S^-1 R S in normalised coordinates, S = diag(W/2, H/2): this keeps angles true
    # on non-square images.
    return torch.stack([torch.stack([cos, -sin * (h / w), zero], dim=1),
                        torch.stack([sin * (w / h), cos, zero], dim=1)], dim=1)  # (B, 2, 3)


def _identity_grid(x: Tensor) -> Tensor:
    """The (B, H, W, 2) sampling grid that reproduces ``x``."""
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device).expand(x.shape[0], 2, 3)
    return F.affine_grid(theta, list(x.shape), align_corners=False)


def _elastic_offsets(x: Tensor, alpha: float, sigma: float, generator: torch.Generator | None) -> Tensor:
    """Simard's smoothed random displacements, as a (B, H, W, 2) offset in ``grid_sample`` coordinates."""
    b, _, h, w = x.shape
    field = (2 * _rand((b, 2, h, w), generator, x.device) - 1).to(x.dtype)  # (B, 2, H, W): dx, dy in [-1, 1]
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    # A separable Gaussian: one (1 x K) then one (K x 1) depthwise conv; zero padding keeps the size.
    field = F.conv2d(field, kernel.view(1, 1, 1, -1).expand(2, 1, 1, -1), padding=(0, radius), groups=2)
    field = F.conv2d(field, kernel.view(1, 1, -1, 1).expand(2, 1, -1, 1), padding=(radius, 0), groups=2)
    # Pixels to normalised units: the grid spans 2 over W columns and 2 over H rows.
    scale = torch.tensor([2 * alpha / w, 2 * alpha / h], dtype=x.dtype, device=x.device)
    return field.permute(0, 2, 3, 1) * scale  # (B, H, W, 2)


def _resample(x: Tensor, grid: Tensor) -> Tensor:
    """Bilinear ``grid_sample`` with zero fill, in the convention of ``affine_grid(..., align_corners=False)``."""
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
