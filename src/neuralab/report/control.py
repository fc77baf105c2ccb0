"""Figures of an agent: the return of every training episode and of the evaluations, exploration and losses, a
grid's values with its greedy policy as arrows, and an episode as an animated GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.report._figures import pyplot, save_figure

__all__ = ["plot_returns", "plot_training", "plot_grid_policy", "save_episode_gif"]

ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake's actions: left, down, right, up (x, y down)


def plot_returns(episodes: np.ndarray, path: Path, *, evaluations: Sequence[dict[str, Any]] = (),
                 window: int = 50) -> Path:
    """Each training episode's return against the environment steps, its moving average over ``window`` episodes,
    and the evaluations after each epoch."""
    steps, returns = episodes[:, 0], episodes[:, 1]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.plot(steps, returns, ".", ms=2, alpha=0.35, color="#1f77b4", label="training episode (exploring)")
    w = max(1, min(window, len(returns)))
    if len(returns) >= w:
        moving = np.convolve(returns, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], moving, color="#1f77b4", lw=1.8, label=f"moving average of {w}")
    points = [(h["env_steps"], h["val_return"]) for h in evaluations if "val_return" in h and "env_steps" in h]
    if points:
        x, y = zip(*points)
        ax.plot(x, y, "o-", color="#d62728", ms=3, lw=1, label="evaluation (deterministic policy)")
    ax.set(xlabel="environment steps", ylabel="return", title="Return per episode")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_training(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Exploration (ε, temperature) or the policy's entropy, the losses, and the mean Q-value, by epoch."""
    epochs = [h["epoch"] for h in history]
    panels = [("exploration", ["train_epsilon", "train_exploration", "train_entropy"]),
              ("loss", ["train_loss", "train_policy_loss", "train_value_loss", "train_td_error"]),
              ("Q-value", ["train_q"])]
    panels = [(title, [k for k in keys if any(k in h for h in history)]) for title, keys in panels]
    panels = [p for p in panels if p[1]] or [("loss", [])]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            ax.plot(epochs, [h.get(key, np.nan) for h in history], label=key.removeprefix("train_"))
        ax.set(xlabel="epoch", title=title)
        if keys:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_grid_policy(values: np.ndarray, policy: np.ndarray, shape: tuple[int, int], path: Path, *,
                     cells: Sequence[str] | None = None) -> Path:
    """The values of a grid's states as a heat map with the greedy action drawn as an arrow in each cell (none on
    holes, walls and goals), and the cell letters (S, G, H, #) in the corners."""
    rows, cols = shape
    v = np.asarray(values, dtype=float).reshape(rows, cols)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(0.9 * cols + 2, 0.9 * rows + 1))
    image = ax.imshow(v, cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046, label="value")
    for s, action in enumerate(np.asarray(policy).reshape(-1)):
        i, j = divmod(s, cols)
        cell = cells[i][j] if cells else "."
        if cell in "SF.":
            dx, dy = ARROWS[int(action)]
            ax.arrow(j - 0.25 * dx, i - 0.25 * dy, 0.35 * dx, 0.35 * dy, head_width=0.18, color="white",
                     length_includes_head=True)
        if cell != "." and cell != "F":
            ax.text(j - 0.42, i - 0.28, cell, color="white", fontsize=9, fontweight="bold")
    ax.set(xticks=[], yticks=[], title="Values and greedy policy")
    fig.tight_layout()
    return save_figure(fig, path)


def save_episode_gif(frames: Sequence[np.ndarray], path: Path, *, duration_ms: int = 40, max_width: int = 400
                     ) -> Path:
    """Rendered frames (H, W, 3) as an animated GIF, scaled down to ``max_width``."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    pictures = []
    for frame in frames:
        picture = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        if picture.width > max_width:
            picture = picture.resize((max_width, round(picture.height * max_width / picture.width)))
        pictures.append(picture)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path
