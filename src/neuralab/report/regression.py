"""Figures for a regression run: predicted against measured, residuals, and interval coverage.

Each function takes plain arrays and writes one PNG (matplotlib, Agg backend); the run layer lists them in
``figures.json`` so that the report shows them with a caption.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralab.report._figures import pyplot as _pyplot

__all__ = ["plot_parity", "plot_residuals", "plot_coverage"]

DPI = 110
SPLIT_COLORS = {"train": "#9ecae1", "val": "#fd8d3c", "test": "#d62728"}



def plot_parity(measured: dict[str, np.ndarray], predicted: dict[str, np.ndarray], path: Path,
                unit: str = "") -> Path:
    """Predicted against measured, one colour per split, with the y = x line and each split's RMSE."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    lo = min(float(np.min(v)) for v in [*measured.values(), *predicted.values()])
    hi = max(float(np.max(v)) for v in [*measured.values(), *predicted.values()])
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=1, ls="--", label="y = x")
    for split in ("train", "val", "test"):
        if split in measured:
            y, p = np.ravel(measured[split]), np.ravel(predicted[split])
            rmse = float(np.sqrt(np.mean((p - y) ** 2)))
            ax.scatter(y, p, s=10, alpha=0.7, color=SPLIT_COLORS[split], label=f"{split} (RMSE {rmse:.3f})")
    ax.set(xlabel=f"measured {unit}".strip(), ylabel=f"predicted {unit}".strip(), title="Predicted vs measured",
           xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad))
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_residuals(measured: np.ndarray, predicted: np.ndarray, path: Path, split: str = "test") -> Path:
    """Residuals (predicted − measured) against the measured value, and their histogram."""
    plt = _pyplot()
    y, r = np.ravel(measured), np.ravel(predicted) - np.ravel(measured)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    left.scatter(y, r, s=10, alpha=0.7, color=SPLIT_COLORS.get(split, "k"))
    left.axhline(0, color="0.4", lw=1, ls="--")
    left.set(xlabel="measured", ylabel="predicted − measured", title=f"Residuals ({split})")
    left.grid(alpha=0.3)
    right.hist(r, bins=30, orientation="horizontal", color=SPLIT_COLORS.get(split, "k"), alpha=0.8)
    right.axhline(0, color="0.4", lw=1, ls="--")
    right.set(xlabel="count", title=f"mean {r.mean():+.3f}, sd {r.std():.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_coverage(intervals: dict[str, dict[str, float]], path: Path) -> Path:
    """Empirical coverage of each interval method at each nominal level (keys like ``conformal@0.9``)."""
    plt = _pyplot()
    methods = sorted({k.split("@")[0] for k in intervals})
    levels = sorted({float(k.split("@")[1]) for k in intervals})
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        cov = [intervals.get(f"{method}@{lvl:g}", {}).get("coverage", np.nan) for lvl in levels]
        ax.bar(np.arange(len(levels)) + i * width, cov, width, label=method)
    for j, lvl in enumerate(levels):
        ax.hlines(lvl, j - width / 2, j + width * (len(methods) - 0.5), color="k", lw=1.5, ls="--")
    ax.set_xticks(np.arange(len(levels)) + width * (len(methods) - 1) / 2, [f"nominal {lvl:.0%}" for lvl in levels])
    ax.set(ylim=(max(0.0, min(levels) - 0.25), 1.0), ylabel="test coverage", title="Prediction-interval coverage")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
