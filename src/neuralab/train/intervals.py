"""Prediction intervals and confidence intervals from held-out error.

Three ways to put an interval around a regression prediction ŷ, from the simplest to the one with a guarantee:

* **the course's method**: ŷ ± z·√MSE_val, with z the normal quantile and MSE measured on the validation set. It
  assumes errors are normal, of one size everywhere, and that the validation MSE is the test MSE;
* **ensemble spread**: the mean of M independently trained members ± z·(their standard deviation) (Lakshminarayanan
  et al. 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles"). It widens where
  members disagree, but it measures model disagreement only, not the noise in the data;
* **split-conformal**: ŷ ± q, with q the ⌈(n+1)·level⌉-th smallest absolute residual on n calibration points
  (Vovk et al. 2005; Lei et al. 2018). If calibration and test points are exchangeable, coverage is at least
  ``level`` whatever the model.

For a classifier, :func:`error_rate_interval` gives a Wilson score interval for the true error rate from the
errors counted on a held-out set.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from neuralab.errors import NeuralabError

__all__ = ["z_value", "normal_interval", "ensemble_interval", "conformal_quantile", "conformal_interval",
           "coverage", "error_rate_interval"]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise NeuralabError(f"level must be between 0 and 1 (e.g. 0.9 for 90%); got {level}")


def z_value(level: float) -> float:
    """The two-sided standard-normal quantile: 1.645 for 90%, 1.960 for 95%."""
    _check_level(level)
    return NormalDist().inv_cdf((1 + level) / 2)


def normal_interval(pred: np.ndarray, mse_val: float, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """ŷ ± z·√MSE_val: the course's interval from the validation mean squared error."""
    half = z_value(level) * math.sqrt(mse_val)
    pred = np.asarray(pred, dtype=np.float64)
    return pred - half, pred + half


def ensemble_interval(member_preds: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and mean ± z·std over members; ``member_preds`` has shape (M, N). Returns (mean, low, high)."""
    preds = np.asarray(member_preds, dtype=np.float64)
    if preds.ndim != 2 or preds.shape[0] < 2:
        raise NeuralabError(f"an ensemble interval needs predictions of shape (members >= 2, N); got {preds.shape}")
    mean, std = preds.mean(axis=0), preds.std(axis=0, ddof=1)
    half = z_value(level) * std
    return mean, mean - half, mean + half


def conformal_quantile(residuals: np.ndarray, level: float = 0.9) -> float:
    """The split-conformal half-width: the ⌈(n+1)·level⌉-th smallest |residual| of the calibration set.

    Returns ``inf`` when the calibration set is too small for the level (n < level / (1 − level)).
    """
    _check_level(level)
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64).reshape(-1)))
    if len(r) == 0:
        raise NeuralabError("conformal intervals need at least one calibration residual")
    k = math.ceil((len(r) + 1) * level)
    return float(r[k - 1]) if k <= len(r) else math.inf


def conformal_interval(pred: np.ndarray, residuals: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """ŷ ± q with q from :func:`conformal_quantile` of the calibration residuals."""
    q = conformal_quantile(residuals, level)
    pred = np.asarray(pred, dtype=np.float64)
    return pred - q, pred + q


def coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Fraction of targets inside [low, high]."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    return float(np.mean((y >= np.reshape(low, -1)) & (y <= np.reshape(high, -1))))


def error_rate_interval(errors: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a true error rate, from ``errors`` mistakes on ``n`` held-out samples.

    Better than e ± z·√(e(1−e)/n) when e is near 0 or n is small (it never leaves [0, 1]).
    """
    if n <= 0 or not 0 <= errors <= n:
        raise NeuralabError(f"need 0 <= errors <= n and n > 0; got errors={errors}, n={n}")
    z, e = z_value(level), errors / n
    centre = (e + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(e * (1 - e) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
