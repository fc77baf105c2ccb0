"""The task-specific figures of a run report, listed in ``figures.json`` for :func:`neuralab.report.write_report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from neuralab.data.prepared import PreparedData
from neuralab.train.state import atomic_write_text

if TYPE_CHECKING:
    from neuralab.runs.run import Run

def classification_figures(run: Run, data: PreparedData, out: Path) -> None:
    """Confusion matrix and, for a CNN, filters, feature maps and confident mistakes, listed in figures.json."""
    from neuralab.report.classification import classification_figures as figures_of

    last = "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
    split = data.splits[last]
    proba = run.outputs(split).float().softmax(-1).mean(0).numpy()  # ensemble mean, as predict_proba
    x = split[0] if isinstance(split, tuple) else split
    figures = figures_of(run.model, x if isinstance(x, torch.Tensor) else None, data.targets[last],
                                     proba, run.classes, out, split=last)
    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))


def regression_figures(run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> None:
    """Parity, residual and coverage plots, listed in figures.json for the report."""
    from neuralab.report.regression import plot_coverage, plot_parity, plot_residuals

    predicted = {name: run.predict_prepared(split) for name, split in data.splits.items()}
    figures = [{"file": plot_parity(data.targets, predicted, out / "parity.png").name, "title": "Predicted vs measured",
                "caption": "Each point is a sample, coloured by split; the dashed line is a perfect prediction."}]
    last = "test" if "test" in predicted else "val" if "val" in predicted else "train"
    figures.append({"file": plot_residuals(data.targets[last], predicted[last], out / "residuals.png", last).name,
                    "title": f"Residuals ({last})", "caption": "Errors against the measured value: a trend means "
                    "the model is biased at the extremes."})
    if metrics.get("intervals"):
        figures.append({"file": plot_coverage(metrics["intervals"], out / "coverage.png").name,
                        "title": "Interval coverage (test)",
                        "caption": "Share of test targets inside each interval; dashed lines are the nominal levels. "
                                   "normal: the course's ŷ ± z·√MSE_val; conformal: split-conformal on the "
                                   "validation residuals; ensemble: mean ± z·std of the members."})
    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))


def reconstruction_figures(run: Run, data: PreparedData, history: list[dict[str, Any]], out: Path) -> None:
    """Reconstructions, the latent space and, for a VAE, samples, interpolation and the ELBO's terms."""
    from neuralab.report.autoencoder import autoencoder_figures

    last = "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
    x = data.splits[last][0]
    figures = autoencoder_figures(run.model, x, data.targets[last], history, out, split=last)
    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))
