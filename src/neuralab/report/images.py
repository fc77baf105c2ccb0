"""Image grids: a batch of images tiled into one picture, for any model that makes or rebuilds images.

The pure path is array → PNG. :func:`save_image_grid` takes images ``(N, C, H, W)``, ``(N, H, W)`` or flat
``(N, D)``, as a NumPy array or a tensor, and writes one tiled PNG; it knows nothing about models. :func:`samples_grid`
wraps it for a generator: anything with ``sample(n, generator=...)`` (a VAE today; a GAN or an RBM's Gibbs chains
tomorrow).

The pieces it is built from serve figures that lay images out their own way, as the autoencoder's reconstruction
rows and latent grid do (:mod:`neuralab.report.autoencoder`):

- :func:`infer_image_shape`: the ``(C, H, W)`` one example is drawn as;
- :func:`to_pictures`: a batch as grey or RGB pictures with pixels in [0, 1];
- :func:`grid_shape` and :func:`tile_images`: a near-square grid, and the pictures tiled into it;
- :func:`show_picture`: draw one picture on matplotlib axes, without ticks.

Flat rows are drawn as images of ``image_shape`` ``(C, H, W)``, or as square grey images when the number of
features is a perfect square (784 → 28×28).

>>> from neuralab.report.images import save_image_grid
>>> save_image_grid(np.random.rand(16, 28, 28), "noise.png", title="Noise")  # doctest: +SKIP
PosixPath('noise.png')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.report._figures import inference, model_device, pyplot, save_figure

__all__ = ["grid_shape", "infer_image_shape", "samples_grid", "save_image_grid", "show_picture", "tile_images",
           "to_pictures"]

TILE_INCHES = 0.6  # one tile of a saved grid; the figure is capped at 10 inches a side
MAX_INCHES = 10.0

Images = np.ndarray | torch.Tensor


def infer_image_shape(x: Images, image_shape: Sequence[int] | None = None) -> tuple[int, int, int]:
    """The ``(C, H, W)`` to draw one example of ``x`` as.

    Parameters
    ----------
    x
        A batch: images ``(N, C, H, W)``, grey images ``(N, H, W)``, or flat rows ``(N, D)``.
    image_shape
        ``(C, H, W)`` or ``(H, W)`` to draw each example as; it must hold as many values as one example.

    Returns
    -------
    tuple[int, int, int]
        ``image_shape`` when given, else the shape of a 4-D or 3-D batch, else a square grey image when ``D`` is a
        perfect square.

    Raises
    ------
    NeuralabError
        When ``image_shape`` does not match one example, or flat rows are not square and no ``image_shape`` is
        given.

    Examples
    --------
    >>> infer_image_shape(np.zeros((5, 784)))
    (1, 28, 28)
    >>> infer_image_shape(np.zeros((5, 12)), image_shape=(3, 4))
    (1, 3, 4)
    """
    per_item = math.prod(x.shape[1:]) if len(x) else 0
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or math.prod(shape) != per_item:
            raise NeuralabError(f"image_shape must be (C, H, W) with {per_item} values in all, to match one "
                                f"example of shape {tuple(x.shape[1:])}; got {tuple(image_shape)}")
        return shape  # type: ignore[return-value]
    if x.ndim == 4:
        return tuple(int(s) for s in x.shape[1:])  # type: ignore[return-value]
    if x.ndim == 3:
        return (1, *(int(s) for s in x.shape[1:]))  # type: ignore[return-value]
    side = math.isqrt(per_item)
    if per_item and side * side == per_item:
        return 1, side, side  # 784 features → 28×28
    raise NeuralabError(f"cannot draw examples of shape {tuple(x.shape[1:])} as images; pass image_shape=(C, H, W)")


def to_pictures(x: Images, image_shape: Sequence[int] | None = None) -> np.ndarray:
    """A batch as pictures that ``imshow`` draws: ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB, pixels in [0, 1].

    Pixels already in [0, 1] (up to a little overshoot, which is clipped) are kept; any other range is min-max scaled
    per image, so that standardised inputs or a generator's tanh outputs stay visible. Three channels are drawn as
    RGB; any other number as the mean over the channels.

    Parameters
    ----------
    x
        A batch, as for :func:`infer_image_shape`; a tensor is detached and copied to the CPU.
    image_shape
        ``(C, H, W)`` to draw each example as.

    Returns
    -------
    np.ndarray
        ``(N, H, W)`` or ``(N, H, W, 3)`` float32 in [0, 1].

    Examples
    --------
    >>> to_pictures(torch.full((2, 3, 4, 5), 0.5)).shape
    (2, 4, 5, 3)
    """
    c, h, w = infer_image_shape(x, image_shape)
    img = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    img = img.reshape(len(img), c, h, w)
    if img.size and (img.min() < -0.05 or img.max() > 1.05):
        lo, hi = img.min(axis=(1, 2, 3), keepdims=True), img.max(axis=(1, 2, 3), keepdims=True)
        img = (img - lo) / np.maximum(hi - lo, 1e-12)
    img = np.clip(img, 0.0, 1.0)
    return img.transpose(0, 2, 3, 1) if c == 3 else img.mean(axis=1)


def grid_shape(n: int) -> tuple[int, int]:
    """``(rows, columns)`` of a near-square grid for ``n`` tiles: ``⌈√n⌉`` columns, at least one of each.

    Examples
    --------
    >>> grid_shape(10)
    (3, 4)
    """
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def tile_images(pictures: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Tile pictures row by row into one picture, with a white ``pad``-pixel gap; empty tiles stay white.

    Parameters
    ----------
    pictures
        ``(N, H, W)`` or ``(N, H, W, 3)`` in [0, 1], as :func:`to_pictures` returns; pictures past
        ``rows × cols`` are left out.
    rows, cols
        The grid.
    pad
        Pixels between tiles.

    Returns
    -------
    np.ndarray
        ``(rows·(H + pad) − pad, cols·(W + pad) − pad[, 3])``.

    Examples
    --------
    >>> tile_images(np.zeros((3, 2, 2)), rows=2, cols=2).shape
    (5, 5)
    """
    n, h, w = pictures.shape[:3]
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, *pictures.shape[3:]))
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = pictures[i]
    return out


def show_picture(ax: Any, picture: np.ndarray) -> None:
    """Draw one grey ``(H, W)`` or RGB ``(H, W, 3)`` picture in [0, 1] on ``ax``, pixel for pixel, without ticks."""
    ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])


def save_image_grid(images: Images, path: str | Path, *, cols: int | None = None, title: str | None = None,
                    image_shape: Sequence[int] | None = None) -> Path:
    """Write a batch of images as one tiled PNG: the pure "array of images → grid PNG" step.

    Parameters
    ----------
    images
        ``(N, C, H, W)``, ``(N, H, W)`` or flat ``(N, D)``, NumPy or torch, N >= 1; see :func:`to_pictures` for how
        pixel values are shown.
    path
        Where to write the PNG.
    cols
        Tiles per row; by default a near-square grid (:func:`grid_shape`).
    title
        The figure's title, or None for none.
    image_shape
        ``(C, H, W)`` to draw flat rows as; by default a square grey image.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NeuralabError
        For an empty batch, a bad ``cols``, or rows that cannot be drawn as images.

    Examples
    --------
    >>> save_image_grid(torch.rand(12, 1, 8, 8), "grid.png", cols=6, title="Twelve")  # doctest: +SKIP
    PosixPath('grid.png')
    """
    if len(images) == 0:
        raise NeuralabError("images must hold at least one image; got an empty batch")
    if cols is not None and (not isinstance(cols, int) or isinstance(cols, bool) or cols < 1):
        raise NeuralabError(f"cols must be a positive int; got {cols!r}")
    pictures = to_pictures(images, image_shape)
    rows, cols = grid_shape(len(pictures)) if cols is None else (math.ceil(len(pictures) / cols), cols)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(min(TILE_INCHES * cols + 0.6, MAX_INCHES),
                                    min(TILE_INCHES * rows + (0.8 if title else 0.4), MAX_INCHES)))
    show_picture(ax, tile_images(pictures, rows, cols))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def samples_grid(model: nn.Module, path: str | Path, *, n: int = 64, seed: int = 0,
                 image_shape: Sequence[int] | None = None, title: str | None = None) -> Path:
    """Draw ``n`` samples, ``model.sample(n, generator=...)`` with a generator seeded ``seed``, as one tiled PNG.

    The model samples in eval mode under ``no_grad`` (its training flag is restored), on its own device.

    Parameters
    ----------
    model
        A generator with ``sample(n, generator=None)`` returning ``n`` images: a VAE decoding draws from its prior,
        for instance.
    path
        Where to write the PNG.
    n
        Samples drawn.
    seed
        Seed of the generator handed to ``sample``: the same seed gives the same picture.
    image_shape
        ``(C, H, W)`` to draw flat samples as.
    title
        The figure's title; by default ``"Samples (n = …, seed …)"``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NeuralabError
        When ``n`` is not a positive int, or the samples cannot be drawn as images.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise NeuralabError(f"n must be a positive int; got {n!r}")
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    with inference(model):
        samples = model.sample(n, generator=generator).cpu()
    return save_image_grid(samples, path, image_shape=image_shape,
                           title=f"Samples (n = {n}, seed {seed})" if title is None else title)
