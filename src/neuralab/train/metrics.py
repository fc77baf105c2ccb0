"""Metrics by name, computed once over a whole split (never averaged over batches).

Each metric takes the model's raw outputs and the targets. Classification outputs are logits: ``(N, C)`` for C
classes, or ``(N,)``/``(N, 1)`` for a binary problem scored by one logit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError, did_you_mean

__all__ = ["METRICS", "compute_metrics", "check_metrics"]


def _binary(out: torch.Tensor) -> bool:
    return out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose most likely class is the target."""
    pred = (out.reshape(-1) > 0).long() if _binary(out) else out.argmax(dim=1)
    return (pred == y.reshape(-1).long()).float().mean().item()


def nll(out: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-likelihood of the targets, in nats (cross-entropy of the logits)."""
    if _binary(out):
        return F.binary_cross_entropy_with_logits(out.reshape(-1).float(), y.reshape(-1).float()).item()
    return F.cross_entropy(out.float(), y.reshape(-1).long()).item()


def _pair(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out, y = out.float(), y.float()
    if out.numel() != y.numel():
        raise NeuralabError(f"regression metric needs outputs and targets of one size; got {tuple(out.shape)} and "
                            f"{tuple(y.shape)}")
    return out.reshape(-1), y.reshape(-1)


def rmse(out: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error, in the target's units."""
    out, y = _pair(out, y)
    return (out - y).pow(2).mean().sqrt().item()


def mae(out: torch.Tensor, y: torch.Tensor) -> float:
    """Mean absolute error."""
    out, y = _pair(out, y)
    return (out - y).abs().mean().item()


def r2(out: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination, 1 − SS_res / SS_tot (as scikit-learn's ``r2_score``)."""
    out, y = _pair(out, y)
    ss_tot = (y - y.mean()).pow(2).sum()
    ss_res = (y - out).pow(2).sum()
    return (1 - ss_res / ss_tot).item() if ss_tot > 0 else float("nan")


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "accuracy": accuracy,
    "nll": nll,
    "rmse": rmse,
    "mae": mae,
    "r2": r2,
}
REGRESSION = {"rmse", "mae", "r2"}


def check_metrics(names: list[str] | tuple[str, ...]) -> None:
    """Raise a one-line error for an unknown metric name."""
    for name in names:
        if name not in METRICS:
            raise NeuralabError(f"unknown metric {name!r}{did_you_mean(name, METRICS)}; choose from "
                                f"{', '.join(METRICS)}")


def compute_metrics(names: list[str] | tuple[str, ...], out: torch.Tensor, y: torch.Tensor,
                    inverse_target: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Compute each named metric. Regression metrics see ``inverse_target`` of outputs and targets when given,
    so that an RMSE is reported in the data's own units rather than in standardised ones."""
    check_metrics(names)
    result = {}
    for name in names:
        o, t = out, y
        if inverse_target is not None and name in REGRESSION:
            o, t = inverse_target(out.reshape(y.shape) if out.numel() == y.numel() else out), inverse_target(y)
        result[name] = METRICS[name](o, t)
    return result
