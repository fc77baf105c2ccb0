"""Are a classifier's probabilities honest? Expected calibration error, reliability bins and temperature scaling.

A network trained by cross-entropy is often over-confident (Guo et al. 2017, "On Calibration of Modern Neural
Networks"), and one trained with label smoothing under-confident. Temperature scaling divides the logits by one
number T, fitted on the validation set by minimising the negative log-likelihood: it changes how sure the model
is, never which class it picks, so the accuracy is unchanged. The expected calibration error (ECE) is the gap
between confidence and accuracy, averaged over equal-width confidence bins weighted by how many predictions fall
in each (Naeini et al. 2015).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError

__all__ = ["BINS", "reliability_bins", "expected_calibration_error", "fit_temperature"]

BINS = 15  # equal-width confidence bins, as in Guo et al. 2017


def _check(proba: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba, y = np.asarray(proba, dtype=np.float64), np.asarray(y).reshape(-1)
    if proba.ndim != 2 or len(proba) != len(y) or len(y) == 0:
        raise NeuralabError(f"calibration needs probabilities (N, classes) and N labels; got {proba.shape} and "
                            f"{y.shape}")
    return proba, y


def reliability_bins(proba: np.ndarray, y: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Per confidence bin: its count, mean confidence and accuracy (``None`` for an empty bin)."""
    proba, y = _check(proba, y)
    confidence, correct = proba.max(1), (proba.argmax(1) == y)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # a confidence of exactly 1 falls in the last bin
    counts = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct.astype(float), minlength=bins)
    mean = lambda total: [float(t / c) if c else None for t, c in zip(total, counts)]  # noqa: E731
    return {"edges": np.linspace(0, 1, bins + 1).tolist(), "count": counts.tolist(), "confidence": mean(conf_sum),
            "accuracy": mean(correct_sum)}


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Σ_b |B_b|/N · |accuracy(B_b) − confidence(B_b)| over equal-width bins of the top-class probability."""
    table = reliability_bins(proba, y, bins)
    n = sum(table["count"])
    return float(sum(c / n * abs(a - f) for c, a, f in zip(table["count"], table["accuracy"], table["confidence"])
                     if c))


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, *, max_iter: int = 100,
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T > 0 that minimises the NLL of ``softmax(logits / T)`` against ``y`` (class indices).

    Fitted on log T with L-BFGS, in float64; a 1-D convex problem in practice. T stays within ``bounds``: when every
    validation example is classified correctly the NLL keeps falling as T → 0, and the unbounded fit would make
    every later mistake infinitely confident; the lower bound stops it there. Returns 1.0 for empty input.
    """
    logits = torch.as_tensor(logits).detach().double()
    y = torch.as_tensor(y).long().reshape(-1)
    if len(logits) == 0:
        return 1.0
    low, high = math.log(bounds[0]), math.log(bounds[1])
    u = torch.zeros((), dtype=torch.float64, requires_grad=True)  # log T = low + (high − low) σ(u + offset)
    offset = math.log(-low / high) if low < 0 < high else 0.0  # u = 0 is T = 1

    def log_t() -> torch.Tensor:
        return low + (high - low) * torch.sigmoid(u + offset)

    optimizer = torch.optim.LBFGS([u], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t().exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    t = float(log_t().detach().exp())
    return t if math.isfinite(t) and t > 0 else 1.0
