"""The reliability diagram of a classifier: is a prediction made with 80% confidence right 80% of the time?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neuralab.report._figures import pyplot, save_figure

__all__ = ["plot_reliability"]


def plot_reliability(raw: dict[str, Any], calibrated: dict[str, Any] | None, path: Path, *, temperature: float | None,
                     ece_raw: float, ece_calibrated: float | None, split: str = "test") -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling, on one split.

    Parameters
    ----------
    raw, calibrated
        :func:`neuralab.train.calibration.reliability_bins` of the raw and of the temperature-scaled
        probabilities (``calibrated`` None when the run has no temperature).
    path
        Where to write the PNG.
    temperature, ece_raw, ece_calibrated
        For the legend.
    split
        Name of the split, for the title.

    Returns
    -------
    Path
        ``path``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    curves = [(raw, f"raw softmax (ECE {ece_raw:.3f})", "#d62728", "o")]
    if calibrated is not None:
        curves.append((calibrated, f"T = {temperature:.2f} (ECE {ece_calibrated:.3f})", "#1f77b4", "s"))
    for table, label, color, marker in curves:
        points = [(c, a, n) for c, a, n in zip(table["confidence"], table["accuracy"], table["count"]) if n]
        if not points:
            continue
        conf, acc, count = zip(*points)
        total = sum(count)
        ax.plot(conf, acc, color=color, marker=None, lw=1.5, label=label)
        ax.scatter(conf, acc, s=[20 + 400 * n / total for n in count], color=color, marker=marker, alpha=0.7)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (top-class probability)", ylabel="accuracy",
           title=f"Reliability ({split}); marker size: share of predictions")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
