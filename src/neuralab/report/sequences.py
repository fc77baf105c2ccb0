"""Figures for sequence runs: forecasts against actuals, forecast errors against baselines, a sample of generated
text, and a 2-D map of word vectors.

Each function takes plain arrays or strings, writes one PNG (matplotlib, Agg backend) and returns its path; the run
layer (:mod:`neuralab.runs.sequences`) lists them in ``figures.json`` with a caption.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuralab.report._figures import pyplot, save_figure

__all__ = ["plot_forecast", "plot_forecast_scores", "plot_text_sample", "plot_word_map"]

PART_COLORS = {"val": "#fdd0a2", "test": "#fcbba1"}
FORECAST = "#d62728"


def _date_ticks(ax: object, dates: Sequence[str], lo: int, hi: int, n: int = 6) -> None:
    """About ``n`` x ticks between indices ``lo`` and ``hi``, labelled with the series' dates."""
    ticks = np.unique(np.linspace(lo, hi - 1, n).round().astype(int))
    ax.set_xticks(ticks, [dates[i] for i in ticks], fontsize=8)  # type: ignore[attr-defined]


def _band(ax: object, t: np.ndarray, pred: np.ndarray, halfwidth: float, **kwargs: object) -> None:
    """A shaded interval ``pred ± halfwidth`` when the half-width is finite."""
    if math.isfinite(halfwidth):
        ax.fill_between(t, pred - halfwidth, pred + halfwidth, **kwargs)  # type: ignore[attr-defined]


def plot_forecast(dates: Sequence[str], series: np.ndarray, train_end: int, val_end: int, origins: np.ndarray,
                  forecasts: np.ndarray, halfwidth: float, path: Path, *, column: str = "value", level: float = 0.9,
                  fans: int = 3) -> Path:
    """History, test forecasts and their interval against the actuals.

    Parameters
    ----------
    dates, series
        The whole target series ``(T,)`` and its dates (x-axis labels).
    train_end, val_end
        Where the validation and test parts start; they are shaded.
    origins, forecasts
        Forecast origin ``t`` of each test window ``(N,)`` and its forecasts ``(N, horizon)`` of
        ``series[t : t + horizon]``.
    halfwidth
        The interval's half-width (``inf`` or ``nan`` draws no band).
    fans
        For ``horizon > 1``, how many whole multi-step forecasts to draw in the lower panel.
    """
    plt = pyplot()
    series, forecasts = np.asarray(series, dtype=float), np.asarray(forecasts, dtype=float)
    T, horizon = len(series), forecasts.shape[1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.4), gridspec_kw={"height_ratios": [1, 1.3]})
    t_all = np.arange(T)
    top.plot(t_all, series, color="0.3", lw=0.8, label="actual")
    top.axvspan(train_end, val_end, color=PART_COLORS["val"], alpha=0.6, lw=0, label="validation")
    top.axvspan(val_end, T, color=PART_COLORS["test"], alpha=0.6, lw=0, label="test")
    top.plot(origins, forecasts[:, 0], color=FORECAST, lw=0.9, label="one-step forecast")
    _date_ticks(top, dates, 0, T)
    top.set(ylabel=column, title=f"{column}: the whole series, with the test forecasts")
    top.legend(fontsize=8, loc="upper left", ncol=4)
    lo = max(0, val_end - max(horizon, (T - val_end) // 3))
    t_zoom = np.arange(lo, T)
    bottom.plot(t_zoom, series[lo:], color="0.2", lw=1.0, marker="." if T - lo <= 120 else None, label="actual")
    _band(bottom, origins, forecasts[:, 0], halfwidth, color=FORECAST, alpha=0.15, lw=0,
          label=f"{level:.0%} conformal interval")
    bottom.plot(origins, forecasts[:, 0], color=FORECAST, lw=1.0, label="one-step forecast")
    if horizon > 1 and fans > 0:
        picks = np.unique(np.linspace(0, len(origins) - 1, fans).round().astype(int))
        for k, i in enumerate(picks):
            t = origins[i] + np.arange(horizon)
            _band(bottom, t, forecasts[i], halfwidth, color="#1f77b4", alpha=0.12, lw=0)
            bottom.plot(t, forecasts[i], color="#1f77b4", lw=1.4, marker="o", ms=2.5,
                        label=f"{horizon}-step forecasts" if k == 0 else None)
    bottom.axvline(val_end - 0.5, color="0.5", ls="--", lw=1)
    _date_ticks(bottom, dates, lo, T)
    bottom.set(ylabel=column, title="Test part: forecasts and interval against the actuals")
    bottom.legend(fontsize=8, loc="upper left")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_forecast_scores(scores: dict[str, dict[str, float]], path: Path) -> Path:
    """Test RMSE and MASE of the model and each baseline, side by side (``{name: {"rmse", "mase"}}``)."""
    plt = pyplot()
    names = list(scores)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    colors = [FORECAST if name == "model" else "#9ecae1" for name in names]
    for ax, metric in zip(axes, ("rmse", "mase")):
        heights = [scores[name][metric] for name in names]
        bars = ax.bar(names, heights, color=colors)
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set(title=f"test {metric.upper()}", ylabel=metric.upper())
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    axes[1].axhline(1.0, color="0.4", ls="--", lw=1)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_text_sample(text: str, path: Path, *, title: str = "Generated text", width: int = 80) -> Path:
    """``text`` in a monospaced box, its lines wrapped at ``width`` characters."""
    plt = pyplot()
    lines = [piece for line in text.splitlines() or [""] for piece in textwrap.wrap(line, width) or [""]]
    fig = plt.figure(figsize=(0.085 * width + 0.6, 0.16 * len(lines) + 0.5))
    fig.text(0.02, 0.98, "\n".join(lines), family="monospace", fontsize=9, va="top", ha="left", parse_math=False)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left", y=1.0)
    return save_figure(fig, path)


def plot_word_map(words: Sequence[str], coords: np.ndarray, path: Path, *, title: str = "Word vectors (PCA)") -> Path:
    """Words placed at their 2-D coordinates ``(n, 2)``, e.g. the first two principal components of their vectors."""
    plt = pyplot()
    coords = np.asarray(coords, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(coords[:, 0], coords[:, 1], s=8, color="#1f77b4", alpha=0.6)
    for word, (x, y) in zip(words, coords):
        ax.annotate(word, (x, y), fontsize=8, xytext=(2, 2), textcoords="offset points")
    ax.set(xlabel="component 1", ylabel="component 2", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
