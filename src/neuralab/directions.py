"""Which way is better for each metric: the one table that early stopping, checkpoints and reports read.

A logged name may carry a split prefix (``val_accuracy``, ``train_loss``, ``test_rmse``); the direction is that
of the bare metric. Anything not listed as higher-is-better is lower-is-better: losses, errors, nats and bits.
This module imports nothing heavy, so that the report can use it without loading torch.

>>> direction("val_accuracy"), direction("val_loss"), direction("val_return")
('max', 'min', 'max')
"""

from __future__ import annotations

from typing import Literal

__all__ = ["HIGHER_IS_BETTER", "SPLIT_PREFIXES", "bare_metric", "direction"]

#: Metrics where a larger value is better. Everything else (loss, rmse, mae, nll, bits_per_char, fid...) is lower.
HIGHER_IS_BETTER = frozenset({
    "accuracy", "r2",                                    # classification, regression
    "log_likelihood", "elbo", "pseudo_log_likelihood",   # density models (a VAE, an RBM)
    "return", "success_rate",                            # agents
    "precision_at_10", "recall_at_10", "ndcg_at_10", "coverage",  # recommenders
    "d_accuracy",                                        # a discriminator's accuracy, when monitored
})
SPLIT_PREFIXES = ("train_", "val_", "test_")


def bare_metric(name: str) -> str:
    """``val_accuracy`` → ``accuracy``: the metric without its split prefix."""
    for prefix in SPLIT_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def direction(name: str) -> Literal["min", "max"]:
    """``"max"`` when a larger value of ``name`` (with or without a split prefix) is better, else ``"min"``."""
    return "max" if bare_metric(name) in HIGHER_IS_BETTER else "min"
