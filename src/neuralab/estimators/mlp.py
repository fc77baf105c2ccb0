"""Scikit-learn estimators around :class:`neuralab.models.MLP`: :class:`MLPClassifier` and :class:`MLPRegressor`.

They validate data the scikit-learn way, build an ``MLP`` and train it with :func:`neuralab.train.fit`, the one
training loop; they have no loop of their own. Both work in ``Pipeline``, ``GridSearchCV`` and ``clone``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from neuralab.estimators._common import (
    COMMON_CONSTRAINTS,
    fitted_history,
    predict_network,
    predict_proba_network,
    train_network,
    validate_data,
)
from neuralab.train import LossConfig

__all__ = ["MLPClassifier", "MLPRegressor"]

_SHARED_PARAMETERS = """
    hidden_sizes : sequence of int or int, default (100,)
        Width of each hidden layer; ``()`` gives a linear model.
    activation : str, default "relu"
        Hidden-layer activation, a key of :data:`neuralab.nn.ACTIVATIONS`.
    dropout : float, default 0.0
        Dropout probability after each hidden layer, in [0, 1).
    batch_norm : bool, default False
        Batch normalisation after each hidden linear layer.
    optimizer : str, default "adam"
        A key of :data:`neuralab.nn.OPTIMIZERS`.
    lr : float, default 1e-3
        Learning rate.
    weight_decay : float, default 0.0
        The optimiser's own weight decay (decoupled for ``adamw``).
    batch_size : int, default 64
        Rows per gradient step.
    epochs : int, default 200
        Maximum number of passes over the training rows.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows and stop when their loss has not improved for ``patience``
        epochs; the best epoch's weights are kept. Without it, training runs all ``epochs``.
    validation_fraction : float, default 0.1
        Share of rows held out when ``early_stopping`` is on.
    patience : int, default 10
        Epochs without improvement of the validation loss before stopping.
    l1, l2 : float, default 0.0
        Weights of the L1 and L2 penalties on the parameters, added to the loss by the engine.
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the batch order, dropout and the validation split. An int is the engine's
        ``seed``; ``None`` draws a seed from NumPy's global generator, as scikit-learn does."""

_FITTED_ATTRIBUTES = """
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``fit`` was given a DataFrame with string column names.
    model_ : neuralab.models.MLP
        The trained network.
    history_ : list of dict
        The engine's per-epoch logs (``train_loss``, ``val_loss``, ``lr``, ...).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    n_iter_ : int
        Epochs run (fewer than ``epochs`` after early stopping)."""


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained with softmax cross-entropy by :func:`neuralab.train.fit`.

    Labels may be of any type that :func:`numpy.unique` can sort (ints, strings...); binary problems use two logits.

    Parameters
    ----------{shared}
    label_smoothing : float, default 0.0
        Mix the one-hot targets with the uniform distribution by this amount, in [0, 1].

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels.{fitted}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_sizes=(16,), lr=0.01, epochs=30, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **COMMON_CONSTRAINTS,
        "label_smoothing": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, hidden_sizes: Sequence[int] | int = (100,), activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 64, epochs: int = 200, early_stopping: bool = False,
                 validation_fraction: float = 0.1, patience: int = 10, l1: float = 0.0, l2: float = 0.0,
                 device: str = "cpu", random_state: int | np.random.RandomState | None = None,
                 label_smoothing: float = 0.0) -> None:
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.l1 = l1
        self.l2 = l2
        self.device = device
        self.random_state = random_state
        self.label_smoothing = label_smoothing

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,).

        Raises
        ------
        ValueError
            For invalid parameters, non-finite or non-numeric ``X``, continuous ``y``, or a single class.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"MLPClassifier needs at least 2 classes in y; got 1 class: {classes.tolist()[0]!r}")
        loss = LossConfig(name="cross_entropy", label_smoothing=self.label_smoothing)
        target = torch.tensor(encoded.reshape(-1), dtype=torch.int64)
        model, state, _ = train_network(self, X, target, len(classes), loss)
        self.classes_, self.model_ = classes, model
        for name, value in fitted_history(state).items():
            setattr(self, name, value)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            When ``X`` has a different number of features than in ``fit``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return predict_proba_network(self.model_, X, self.batch_size)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, BaseEstimator):
    """Multi-layer perceptron regressor trained by :func:`neuralab.train.fit`, for one or several targets.

    The target is standardised with the mean and standard deviation of the training rows, so ``lr`` and the loss
    do not depend on its units; ``predict`` undoes the scaling.

    Parameters
    ----------{shared}
    loss : {{"mse", "mae", "huber"}}, default "mse"
        Training loss, computed on the standardised target (Huber's ``delta`` is 1 standard deviation).

    Attributes
    ----------{fitted}

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_sizes=(16,), lr=0.01, epochs=20, random_state=0).fit(X, 3 * X[:, 0])
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **COMMON_CONSTRAINTS,
        "loss": [StrOptions({"mse", "mae", "huber"})],
    }

    def __init__(self, hidden_sizes: Sequence[int] | int = (100,), activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 64, epochs: int = 200, early_stopping: bool = False,
                 validation_fraction: float = 0.1, patience: int = 10, l1: float = 0.0, l2: float = 0.0,
                 device: str = "cpu", random_state: int | np.random.RandomState | None = None,
                 loss: str = "mse") -> None:
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.l1 = l1
        self.l2 = l2
        self.device = device
        self.random_state = random_state
        self.loss = loss

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_outputs).

        Raises
        ------
        ValueError
            For invalid parameters, or non-finite or non-numeric ``X`` or ``y``.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        self._y_ndim = y.ndim
        target = torch.tensor(y, dtype=torch.float64).reshape(len(y), -1)
        model, state, (mean, scale) = train_network(self, X, target, target.shape[1], self.loss,
                                                    scale_target=True)
        self.model_, self._y_mean, self._y_scale = model, mean, scale
        for name, value in fitted_history(state).items():
            setattr(self, name, value)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets in the units of ``y``: shape (n_samples,) if ``y`` was 1-D, else (n_samples, n_outputs).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            When ``X`` has a different number of features than in ``fit``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        y = predict_network(self.model_, X, self.batch_size) * self._y_scale + self._y_mean
        return y[:, 0] if self._y_ndim == 1 else y

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True}


# The parameters are the same in both classes: write them once. (No docstrings under ``python -OO``.)
for _cls in (MLPClassifier, MLPRegressor):
    if _cls.__doc__:
        _cls.__doc__ = _cls.__doc__.format(shared=_SHARED_PARAMETERS, fitted=_FITTED_ATTRIBUTES)
