"""Figures of a GAN run: the two players' curves, the classes the samples fall in, a latent interpolation, and each
sample beside its nearest training image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.report._figures import pyplot, save_figure
from neuralab.report.images import show_picture, tile_images, to_pictures

__all__ = ["plot_gan_history", "plot_class_shares", "plot_image_rows"]


def plot_gan_history(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Both losses, and how the discriminator judges real and generated images (its mean output and accuracy), by
    epoch: D winning outright (accuracy near 1 on both) means G has stopped learning."""
    epochs = [h["epoch"] for h in history]
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, label, colour in (("train_d_loss", "D loss", "#d62728"), ("train_g_loss", "G loss", "#1f77b4")):
        if any(key in h for h in history):
            left.plot(epochs, [h.get(key, np.nan) for h in history], label=label, color=colour)
    left.set(xlabel="epoch", ylabel="loss (training batches)", title="Losses")
    left.legend(fontsize=8)
    prefix = "val_" if any("val_d_real" in h for h in history) else "train_"
    for key, label, style in (("d_real", "D(x), real", "-"), ("d_fake", "D(G(z)), generated", "-"),
                              ("d_accuracy_real", "accuracy on real", ":"),
                              ("d_accuracy_fake", "accuracy on generated", ":")):
        right.plot(epochs, [h.get(prefix + key, np.nan) for h in history], style, label=label)
    right.axhline(0.5, color="grey", lw=0.7)
    right.set(xlabel="epoch", ylim=(-0.02, 1.02), title=f"The discriminator ({prefix.rstrip('_')} images)")
    right.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_class_shares(share: Sequence[float], path: Path, *, n: int, labels: Sequence[str] | None = None) -> Path:
    """The share of generated images the classifier puts in each class, against the 10% ± 3% band of a balanced
    generator and the 5% / 20% mode-collapse lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(share))
    expected = 1 / len(share)
    colours = ["#d62728" if s < 0.05 or s > 0.20 else "#1f77b4" for s in share]
    ax.bar(x, share, color=colours)
    ax.axhspan(expected - 0.03, expected + 0.03, color="#2ca02c", alpha=0.15, label=f"{expected:.0%} ± 3%")
    for line in (0.05, 0.20):
        ax.axhline(line, color="#d62728", lw=0.7, ls="--")
    ax.set(xticks=x, xticklabels=labels or [str(i) for i in x], xlabel="class the classifier sees",
           ylabel="share of the samples", title=f"Classes of {n:,} generated images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_image_rows(rows: Sequence[np.ndarray], path: Path, *, image_shape: Sequence[int],
                    row_labels: Sequence[str], title: str) -> Path:
    """Rows of images, each ``(K, D)``, labelled on the left: a latent interpolation, or samples above their
    nearest training images."""
    plt = pyplot()
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(0.75 * cols + 1.4, 16), 0.85 * len(rows) + 0.6),
                             squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, row_labels):
        show_picture(ax, tile_images(to_pictures(np.asarray(row), image_shape), 1, len(row)))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
