"""What the network estimators share: parameter constraints, seeding, the validation split and the call to the
engine's ``fit``. The estimators own their data handling (labels, target scaling, image layout); this module owns
the training."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from neuralab.models import MLP
from neuralab.nn import ACTIVATIONS, OPTIMIZERS
from neuralab.train import EarlyStoppingConfig, FitData, FitState, OptimizerConfig, TrainerConfig, fit, predict
from neuralab.train.seeding import resolve_device, rng_state, set_rng_state

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 has the method instead of the function
    def validate_data(estimator: BaseEstimator, X: Any = "no_validation", y: Any = "no_validation",
                      reset: bool = True, **check_params: Any) -> Any:
        """Fallback for scikit-learn < 1.6."""
        return estimator._validate_data(X, y, reset=reset, **check_params)

__all__ = ["COMMON_CONSTRAINTS", "validate_data", "train_network", "predict_network", "predict_proba_network",
           "fitted_history"]

# Checked by ``BaseEstimator._validate_params`` at the start of ``fit``, never in ``__init__`` (sklearn's rule).
COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    "hidden_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "batch_norm": ["boolean"],
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "patience": [Interval(Integral, 1, None, closed="left")],
    "l1": [Interval(Real, 0, None, closed="left")],
    "l2": [Interval(Real, 0, None, closed="left")],
    "device": [str],
    "random_state": ["random_state"],
}


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    """``hidden_sizes`` as a tuple of positive ints (a single int means one hidden layer)."""
    sizes = (value,) if isinstance(value, Integral) else tuple(np.asarray(value).reshape(-1).tolist())
    if any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1 for h in sizes):
        raise ValueError(f"hidden_sizes must be positive ints, e.g. (100,) or (64, 32); got {value!r}")
    return tuple(int(h) for h in sizes)


def _seed(random_state: Any) -> int:
    """The engine's non-negative int seed: an int is used as it is, ``None`` or a ``RandomState`` draws one."""
    rng = check_random_state(random_state)  # rejects ints outside [0, 2**32 - 1]
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(rng.randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def _kept_global_rng() -> Iterator[None]:
    """Undo the engine's reseeding of Python, NumPy and torch, so fitting an estimator leaves global state alone."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train and validation row indices, with at least one row on each side."""
    if n < 2:
        raise ValueError(f"early_stopping needs at least 2 samples to hold out a validation set; got n_samples={n}")
    n_val = min(max(1, round(fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], order[:n_val]


def train_network(est: BaseEstimator, x: np.ndarray, y: torch.Tensor, out_features: int, loss: Any,
                  scale_target: bool = False, build: Callable[[int, int, torch.Tensor], nn.Module] | None = None,
                  ) -> tuple[nn.Module, FitState, tuple[np.ndarray, np.ndarray] | None]:
    """Build a network from ``est``'s parameters (an :class:`MLP` unless ``build`` is given) and train it.

    Parameters
    ----------
    est
        An MLP estimator; its public parameters are read, nothing is written to it.
    x
        Validated float32 features, shape (n_samples, n_features).
    y
        Targets: class indices (n_samples,) or float values (n_samples, n_outputs).
    out_features
        Number of network outputs.
    loss
        What the engine's ``fit`` accepts as ``loss``.
    scale_target
        Standardise ``y`` with the mean and standard deviation of the training rows (not the validation rows).
    build
        ``build(n_features, out_features, x_train) -> nn.Module``, called under the estimator's seed with the rows
        it will train on (not the early-stopping rows, so statistics taken from them do not leak); by default an
        :class:`MLP` from ``hidden_sizes``, ``activation``, ``dropout`` and ``batch_norm``.

    Returns
    -------
    tuple
        The trained model, the engine's final state, and ``(mean, scale)`` of the target when ``scale_target``.
    """
    resolve_device(est.device)  # a bad device fails here, with the engine's one-line message
    hidden_sizes = _hidden_sizes(est.hidden_sizes)
    if build is None:
        def build(n_features: int, n_out: int, x_train: torch.Tensor) -> nn.Module:
            return MLP(n_features, hidden_sizes, n_out, activation=est.activation, dropout=est.dropout,
                       batch_norm=est.batch_norm)
    seed = _seed(est.random_state)
    xt = torch.tensor(x, dtype=torch.float32)  # a copy: read-only inputs (memmaps) stay untouched
    train, val = (xt, y), None
    if est.early_stopping:
        tr, va = _split(len(xt), est.validation_fraction, seed)
        train, val = (xt[tr], y[tr]), (xt[va], y[va])
    target_scale = None
    if scale_target:
        mean, scale = train[1].double().mean(0), train[1].double().std(0, unbiased=False)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        train = (train[0], ((train[1] - mean) / scale).float())
        val = None if val is None else (val[0], ((val[1] - mean) / scale).float())
        target_scale = (mean.numpy(), scale.numpy())
    n_train = len(train[0])
    if est.batch_norm and n_train == 1:
        raise ValueError("batch_norm needs at least 2 training rows; got n_samples=1")
    config = TrainerConfig(
        epochs=est.epochs, batch_size=est.batch_size, device=est.device, seed=seed, l1=est.l1, l2=est.l2,
        # Batch normalisation cannot normalise a lone row: drop a trailing batch of one.
        drop_last=bool(est.batch_norm and n_train % est.batch_size == 1 and n_train > est.batch_size),
        early_stopping=EarlyStoppingConfig(patience=est.patience) if est.early_stopping else None,
    )
    optimizer = OptimizerConfig(name=est.optimizer, lr=est.lr, weight_decay=est.weight_decay)
    with _kept_global_rng():
        torch.manual_seed(seed)  # the initial weights
        model = build(x.shape[1], out_features, train[0])
        state = fit(model, FitData(train, val), config, optimizer=optimizer, loss=loss)
    return model, state, target_scale


def predict_network(model: nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The network's raw outputs for ``x`` as a float64 array of shape (n_samples, out_features)."""
    out = predict(model, torch.tensor(x, dtype=torch.float32), batch_size=max(batch_size, 1024))
    return out.double().numpy()


def predict_proba_network(model: nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Softmax of the network's logits for ``x``, in float64, shape (n_samples, n_classes)."""
    logits = predict_network(model, x, batch_size)
    logits -= logits.max(axis=1, keepdims=True)  # shifted to avoid overflow
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def fitted_history(state: FitState) -> dict[str, Any]:
    """The fitted attributes that describe training: ``history_``, ``loss_curve_`` and ``n_iter_``."""
    history = [dict(logs) for logs in state.history]
    return {"history_": history, "loss_curve_": [logs["train_loss"] for logs in history], "n_iter_": len(history)}
