"""Figures of a Boltzmann machine: its filters, its hidden units' activity, the free-energy monitor, and a Gibbs chain
as an animated GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.report._figures import pyplot, save_figure
from neuralab.report.images import grid_shape, save_image_grid, tile_images, to_pictures
from neuralab.report.plots import epochs, values

__all__ = ["plot_filters", "plot_hidden_activity", "plot_free_energy", "save_chain_gif"]


def plot_filters(weight: torch.Tensor, path: Path, *, image_shape: Sequence[int], n: int = 100) -> Path:
    """The incoming weights of the first ``n`` hidden units, each drawn as an image scaled on its own: what pattern of
    pixels turns each unit on (bright) or off (dark).

    Parameters
    ----------
    weight
        ``(hidden, visible)``, the RBM's ``W``.
    path
        Where to write the PNG.
    image_shape
        ``(C, H, W)`` of one input.
    n
        How many hidden units to draw.
    """
    w = weight.detach().float().cpu()[:n]
    lo, hi = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
    scaled = (w - lo) / (hi - lo).clamp_min(1e-12)
    return save_image_grid(scaled.reshape(len(w), *image_shape), path,
                           title=f"Filters: the weights into {len(w)} hidden units")


def plot_hidden_activity(probs: np.ndarray, path: Path) -> Path:
    """A histogram of ``p(h_j = 1 | v)`` over examples and units, and each unit's mean activity sorted: a healthy
    RBM uses its units (not all near 0, not all near 1) without many dead or always-on ones."""
    probs = np.asarray(probs, dtype=np.float64)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.hist(probs.reshape(-1), bins=40, range=(0, 1), color="#1f77b4")
    left.set(xlabel="p(h = 1 | v)", ylabel="count", title="Hidden activations")
    right.plot(np.sort(probs.mean(0))[::-1], color="#d62728")
    right.set(xlabel="hidden unit (sorted)", ylabel="mean activation", ylim=(0, 1), title="Each unit's mean")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_free_energy(history: list[dict[str, Any]], path: Path, *, val_prefix: str = "") -> Path | None:
    """Mean free energy of the training data (during each epoch) and of the validation data, and their gap: a gap
    that keeps growing means over-fitting (Hinton 2010, section 6). ``val_prefix`` picks the validation keys (a
    DBN logs its current layer's as ``val_layer_free_energy``). None when the history has neither curve."""
    train = values(history, "train_free_energy")
    val = values(history, f"val_{val_prefix}free_energy")
    gap = values(history, f"val_{val_prefix}free_energy_gap")
    if np.isnan(train).all() and np.isnan(val).all():
        return None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    x = epochs(history)
    left.plot(x, train, label="training batches (during the epoch)", color="#1f77b4")
    left.plot(x, val, label="validation", color="#d62728")
    left.set(xlabel="epoch", ylabel="mean free energy", title="Free energy")
    left.legend(fontsize=8)
    right.plot(x, gap, color="#2ca02c")
    right.axhline(0, color="grey", lw=0.8, ls="--")
    right.set(xlabel="epoch", ylabel="F(validation) − F(training subset)", title="Over-fitting monitor")
    fig.tight_layout()
    return save_figure(fig, path)


def save_chain_gif(frames: torch.Tensor | np.ndarray, path: Path, *, image_shape: Sequence[int], chains: int = 16,
                   duration_ms: int = 120, scale: int = 4) -> Path:
    """An animated GIF of Gibbs chains: ``frames`` is ``(T, N, D)`` (T steps of N chains); the first ``chains`` are
    tiled in each frame, scaled up ``scale`` times."""
    from PIL import Image

    frames = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    n = min(chains, frames.shape[1])
    rows, cols = grid_shape(n)
    images = []
    for frame in frames:
        tiled = tile_images(to_pictures(frame[:n], image_shape), rows, cols)
        picture = Image.fromarray((np.clip(tiled, 0, 1) * 255).astype(np.uint8))
        images.append(picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return Path(path)
