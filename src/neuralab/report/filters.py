"""Classic image-processing kernels, and a figure that shows what each one does to an image.

These are the hand-made filters a convolutional layer learns versions of: blurs, sharpening, edge detectors. They
are applied with :func:`torch.nn.functional.conv2d`, the same operation a ``nn.Conv2d`` layer runs.

>>> from neuralab.report.filters import KERNELS, apply_kernel, filter_figure
>>> edges = apply_kernel(image, KERNELS["sobel_x"])  # doctest: +SKIP
>>> filter_figure(image, "filters.png")  # doctest: +SKIP
PosixPath('filters.png')

matplotlib is imported only when a figure is drawn, and always on the Agg backend.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError, did_you_mean

__all__ = ["KERNELS", "PADDINGS", "apply_kernel", "filter_figure"]

logger = logging.getLogger(__name__)

DPI = 110
PADDINGS = ("reflect", "zero")
PANEL_INCHES = 2.2
MAX_COLUMNS = 4


def _kernel(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """A read-only float64 kernel, so that a caller cannot change the shared table by accident."""
    k = np.asarray(rows, dtype=np.float64) * scale
    k.setflags(write=False)
    return k


_BINOMIAL_5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])

#: The classic kernels, by name. They are written for a true convolution (as :func:`apply_kernel` does):
#: ``sobel_x`` is positive where the image gets brighter to the right, ``sobel_y`` where it gets brighter downwards
#: (rows grow downwards), as in the usual Sobel operator ``G = K * A``.
KERNELS: dict[str, np.ndarray] = {
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "edge_detect": _kernel([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "strong_edge_detect": _kernel([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "sobel_x": _kernel([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "sobel_y": _kernel([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "box_blur": _kernel([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "gaussian_blur_3x3": _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "gaussian_blur_5x5": _kernel(_BINOMIAL_5.tolist(), 1 / 256),
}


def apply_kernel(image: np.ndarray, kernel: np.ndarray, *, padding: str = "reflect") -> np.ndarray:
    """Convolve a 2-D image with a kernel, keeping the image's size.

    This is a true convolution: the kernel is flipped in both axes before it goes to
    :func:`torch.nn.functional.conv2d`, which (like every deep-learning "convolution") computes a
    cross-correlation. For the symmetric kernels (blurs, sharpen, identity) the two agree; for ``sobel_x``,
    ``sobel_y`` and ``edge_detect`` the flip changes the sign of the response.

    Parameters
    ----------
    image : np.ndarray
        Shape ``(height, width)``, any real dtype.
    kernel : np.ndarray
        Shape ``(kh, kw)`` with both sides odd, so that the output is centred on each pixel.
    padding : {"reflect", "zero"}, default "reflect"
        How the image is extended beyond its border: mirrored without repeating the edge pixel (``dcb|abcd|cba``),
        or with zeros. Reflection keeps blurs of a flat image flat up to the border; zeros darken the border.

    Returns
    -------
    np.ndarray
        float64, the same shape as ``image``: ``out[i, j] = sum_{u, v} image[i - u, j - v] * kernel[c + u, c + v]``
        for offsets ``u, v`` around the kernel's centre ``c``.

    Raises
    ------
    NeuralabError
        If the image or kernel is not 2-D, the kernel has an even side, ``padding`` is unknown, or the image is too
        small to reflect.
    """
    x = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise NeuralabError(f"image must be a non-empty 2-D array (height, width); got shape {x.shape}")
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise NeuralabError(f"kernel must be a 2-D array with odd sides, such as (3, 3); got shape {k.shape}")
    if padding not in PADDINGS:
        raise NeuralabError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}"
                            f"{did_you_mean(str(padding), PADDINGS)}")
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    if padding == "reflect" and (ph >= x.shape[0] or pw >= x.shape[1]):
        raise NeuralabError(f"image of shape {x.shape} is too small to reflect-pad for a {k.shape} kernel; "
                            f"use padding='zero'")
    xt = torch.from_numpy(x)[None, None]  # (1, 1, H, W)
    # conv2d cross-correlates; flipping the kernel makes it a convolution.
    wt = torch.from_numpy(np.ascontiguousarray(k[::-1, ::-1]))[None, None]  # (1, 1, kh, kw)
    xt = F.pad(xt, (pw, pw, ph, ph), mode="reflect" if padding == "reflect" else "constant")
    return F.conv2d(xt, wt)[0, 0].numpy()


def _select(kernels: Sequence[str] | Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Resolve the ``kernels`` argument of :func:`filter_figure` to a name → kernel dict."""
    if kernels is None:
        return dict(KERNELS)
    if isinstance(kernels, Mapping):
        return {str(name): np.asarray(k, dtype=np.float64) for name, k in kernels.items()}
    if isinstance(kernels, str):
        kernels = [kernels]
    chosen = {}
    for name in kernels:
        if name not in KERNELS:
            raise NeuralabError(f"unknown kernel {name!r}{did_you_mean(name, KERNELS)}; "
                                f"choose from {', '.join(KERNELS)}")
        chosen[name] = KERNELS[name]
    return chosen


def _format_kernel(k: np.ndarray) -> str:
    """The kernel's values as small text; a common fraction is factored out: ``1/16 ×`` then integer rows."""
    fractions = [Fraction(float(v)).limit_denominator(1024) for v in k.ravel()]
    exact = all(abs(float(f) - v) < 1e-9 for f, v in zip(fractions, k.ravel()))
    denominator = math.lcm(*(f.denominator for f in fractions)) if exact else 0
    if exact and denominator <= 1024:
        ints = np.rint(k * denominator).astype(int)
        width = max(len(str(v)) for v in ints.ravel())
        rows = [" ".join(f"{v:>{width}d}" for v in row) for row in ints]
        prefix = f"1/{denominator} ×\n" if denominator > 1 else ""
        return prefix + "\n".join(rows)
    return "\n".join(" ".join(f"{v:.3g}" for v in row) for row in k)


def _show(ax: Any, img: np.ndarray, title: str, label: str) -> None:
    """One panel: the image in gray, a title, and the kernel text underneath."""
    ax.imshow(img, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if label:
        ax.set_xlabel(label, fontsize=6, family="monospace")


def filter_figure(image: np.ndarray | str | Path, out_path: str | Path,
                  kernels: Sequence[str] | Mapping[str, np.ndarray] | None = None, *,
                  padding: str = "reflect") -> Path:
    """Save a grid of the image and its filtered versions, each titled with its kernel and the kernel's values.

    Parameters
    ----------
    image : np.ndarray, str or Path
        A 2-D grayscale image, or an image file (read with :func:`neuralab.data.digit_images.read_image`).
    out_path : str or Path
        Where to write the figure; the format follows the suffix (``.png``, ``.pdf``, ...). Parent folders are
        created.
    kernels : sequence of names, mapping of name to kernel, or None
        Names from :data:`KERNELS`, or your own kernels by name. ``None`` shows every kernel in :data:`KERNELS`.
    padding : {"reflect", "zero"}, default "reflect"
        Passed to :func:`apply_kernel`.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    NeuralabError
        For an unknown kernel name (the message lists the valid ones) or a bad image or kernel.
    """
    if isinstance(image, (str, Path)):
        from neuralab.data.digit_images import read_image

        image = read_image(image)
    chosen = _select(kernels)
    panels = [("original", np.asarray(image, dtype=np.float64), "")]
    panels += [(name, apply_kernel(image, k, padding=padding), _format_kernel(k)) for name, k in chosen.items()]

    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, even where a display exists
    import matplotlib.pyplot as plt

    ncols = min(MAX_COLUMNS, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_INCHES * ncols, (PANEL_INCHES + 0.6) * nrows),
                             squeeze=False)
    try:
        for ax, (title, img, label) in zip(axes.ravel(), panels):
            _show(ax, img, title, label)
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        fig.tight_layout()
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, dpi=DPI)
    finally:
        plt.close(fig)
    logger.info("wrote filter figure %s (%d kernels)", out_path, len(chosen))
    return out_path
