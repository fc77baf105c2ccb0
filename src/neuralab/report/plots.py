"""Learning-curve plots for a finished run, drawn with matplotlib on the Agg backend (files only, never a window).

``history`` is the engine's list of per-epoch logs: ``{"epoch": 1, "train_loss": ..., "val_loss": ...,
"val_accuracy": ..., "lr": ..., "time": ...}``. Any key may be missing, ``None`` or NaN; such points become gaps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_learning_curves", "LEARNING_CURVES", "METRICS"]

logger = logging.getLogger(__name__)

LEARNING_CURVES = "learning_curves.png"
METRICS = "metrics.png"
DPI = 110
PREFIXES = ("train_", "val_")
# Bookkeeping keys: never drawn as a metric panel (``lr`` gets its own panel).
NOT_METRICS = {"epoch", "lr", "time"}
LOG_DECADES = 2.0
COLORS = {"train": "#1f77b4", "val": "#d62728"}


def values(history: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """One key across epochs as floats: missing, ``None`` and non-numeric entries become NaN."""
    out = np.full(len(history), np.nan)
    for i, logs in enumerate(history):
        value = logs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[i] = float(value)
    return out


def epochs(history: Sequence[dict[str, Any]]) -> np.ndarray:
    """The epoch numbers, falling back to 1, 2, ... where an entry has none."""
    raw = values(history, "epoch")
    fallback = np.arange(1, len(history) + 1, dtype=float)
    return np.where(np.isfinite(raw), raw, fallback)


def metric_names(history: Sequence[dict[str, Any]]) -> list[str]:
    """Metric names besides the loss, in first-seen order: ``val_accuracy``, ``train_accuracy`` → ``accuracy``."""
    names: dict[str, None] = {}
    for logs in history:
        for key in logs:
            if key in NOT_METRICS or key in ("train_loss", "val_loss"):
                continue
            prefix = next((p for p in PREFIXES if key.startswith(p)), "")
            names.setdefault(key[len(prefix):], None)
    return list(names)


def _finite(y: np.ndarray) -> np.ndarray:
    return y[np.isfinite(y)]


def _wants_log(*series: np.ndarray) -> bool:
    """Log scale when every finite value is positive and they span more than ``LOG_DECADES`` decades."""
    finite = np.concatenate([_finite(y) for y in series]) if series else np.array([])
    if finite.size < 2 or finite.min() <= 0:
        return False
    return math.log10(finite.max() / finite.min()) > LOG_DECADES


def _first_nonfinite(history: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> int | None:
    """Index of the first epoch where one of ``keys`` holds NaN or inf (``None`` means "not logged", not bad)."""
    for i, logs in enumerate(history):
        for key in keys:
            value = logs.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                return i
    return None


def _plot_pair(ax: Any, x: np.ndarray, pairs: list[tuple[str, np.ndarray]]) -> bool:
    """Draw each finite series on ``ax``; return whether anything was drawn."""
    marker = "o" if len(x) <= 30 else None
    drawn = False
    for label, y in pairs:
        if _finite(y).size == 0:
            continue
        y = np.where(np.isfinite(y), y, np.nan)  # inf would wreck the axis limits; NaN leaves a gap
        ax.plot(x, y, label=label, color=COLORS.get(label), marker=marker, markersize=3, linewidth=1.5)
        drawn = True
    return drawn


def _mark_best(ax: Any, best_epoch: int | None) -> None:
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.45", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")


def _learning_curves(plt: Any, history: Sequence[dict[str, Any]], path: Path, best_epoch: int | None) -> None:
    x = epochs(history)
    train, val = values(history, "train_loss"), values(history, "val_loss")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        drawn = _plot_pair(ax, x, [("train", train), ("val", val)])
        _mark_best(ax, best_epoch)
        if best_epoch is not None:
            at_best = val[x == best_epoch]
            if at_best.size and np.isfinite(at_best[0]):
                ax.plot([best_epoch], [at_best[0]], marker="*", markersize=12, color=COLORS["val"], linestyle="")
        bad = _first_nonfinite(history, ("train_loss", "val_loss"))
        if bad is not None:
            ax.axvline(x[bad], color="black", linestyle=":", linewidth=1, label="non-finite loss")
        if not drawn:
            ax.text(0.5, 0.5, "no finite loss values", transform=ax.transAxes, ha="center", va="center")
        elif _wants_log(train, val):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title("Learning curves")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


def _varies(y: np.ndarray) -> bool:
    finite = _finite(y)
    return finite.size > 1 and not np.allclose(finite, finite[0], rtol=1e-9, atol=0.0)


def _metrics(plt: Any, history: Sequence[dict[str, Any]], path: Path, names: list[str], lr: np.ndarray | None,
             best_epoch: int | None) -> None:
    x = epochs(history)
    ncols = min(3, len(names)) if names else 1
    nrows = math.ceil(len(names) / ncols)
    ratios = [1.0] * nrows + ([0.5] if lr is not None else [])
    fig = plt.figure(figsize=(max(4.0 * ncols, 6.4), 3.0 * nrows + (1.6 if lr is not None else 0.0)))
    try:
        grid = fig.add_gridspec(len(ratios), ncols, height_ratios=ratios)
        for i, name in enumerate(names):
            ax = fig.add_subplot(grid[i // ncols, i % ncols])
            pairs = [(p.rstrip("_"), values(history, p + name)) for p in PREFIXES]
            if not any(_finite(y).size for _, y in pairs):
                pairs = [(name, values(history, name))]
            _plot_pair(ax, x, pairs)
            _mark_best(ax, best_epoch)
            if _wants_log(*(y for _, y in pairs)):
                ax.set_yscale("log")
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            if len(ax.get_lines()) > 1:
                ax.legend(fontsize="small")
        if lr is not None:
            ax = fig.add_subplot(grid[nrows, :])
            ax.plot(x, np.where(np.isfinite(lr), lr, np.nan), color="0.3", linewidth=1.5)
            if _wants_log(lr):
                ax.set_yscale("log")
            ax.set_title("learning rate", fontsize="medium")
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


def _drawable(history: Sequence[dict[str, Any]], name: str) -> bool:
    keys = [p + name for p in PREFIXES] + [name]
    return any(_finite(values(history, key)).size for key in keys)


def plot_learning_curves(history: list[dict], out_dir: Path, *, best_epoch: int | None = None) -> list[Path]:
    """Write the run's learning-curve plots as PNG files.

    Parameters
    ----------
    history
        Per-epoch logs, as in ``metrics.json``: dicts with ``epoch``, ``train_loss``, ``val_loss``, other
        ``train_*``/``val_*`` metrics, ``lr`` and ``time``. Missing keys, ``None`` and NaN become gaps in the curves.
    out_dir
        Folder to write into (created if missing). Existing files of the same name are overwritten.
    best_epoch
        Epoch to mark with a dashed line (the early-stopping/checkpoint best), or ``None``.

    Returns
    -------
    list[Path]
        The files written, in order: ``learning_curves.png`` (train vs val loss, best epoch marked, log-scale y when
        the finite values span more than two decades) when a loss was logged, then ``metrics.png`` (one panel per
        other metric, train vs val where both exist, and a small learning-rate panel when the rate varies) when
        there is anything to show. Empty for an empty history, and nothing is written.

    Examples
    --------
    >>> history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7}]
    >>> [p.name for p in plot_learning_curves(history, tmp_path, best_epoch=2)]  # doctest: +SKIP
    ['learning_curves.png']
    """
    if not history:
        return []
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, even where a display exists
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if any("train_loss" in h or "val_loss" in h for h in history):
        path = out_dir / LEARNING_CURVES
        _learning_curves(plt, history, path, best_epoch)
        written.append(path)
    names = [name for name in metric_names(history) if _drawable(history, name)]
    lr = values(history, "lr")
    lr_panel = lr if _varies(lr) else None
    if names or lr_panel is not None:
        path = out_dir / METRICS
        _metrics(plt, history, path, names, lr_panel, best_epoch)
        written.append(path)
    logger.debug("wrote %s", ", ".join(p.name for p in written))
    return written
