"""A scikit-learn classifier around :class:`neuralab.models.CNN`: :class:`CNNClassifier`.

Images come as rows of pixels, the scikit-learn way, (n_samples, channels·height·width), or as arrays of images,
(n_samples, height, width) or (n_samples, channels, height, width), which are flattened. The estimator standardises
the pixels with one mean and one standard deviation taken over the training images, not the early-stopping ones
(so 0–16 digits and 0–255 MNIST need no preparation), reshapes each row to an image inside the network, and trains
with :func:`neuralab.train.fit`. Rows whose length is not a square, with no ``image_shape``, are laid out as 1×n
strips, and pools are cut to the image, so any table of features gets a valid network.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.estimators._common import (
    COMMON_CONSTRAINTS,
    _hidden_sizes,
    fitted_history,
    predict_proba_network,
    train_network,
    validate_data,
)
from neuralab.models import CNN
from neuralab.train import LossConfig

__all__ = ["CNNClassifier"]

logger = logging.getLogger(__name__)


class ImageInput(nn.Module):
    """Rows of pixels to standardised images: ``(x - mean) / scale`` reshaped to (N, C, H, W)."""

    def __init__(self, shape: tuple[int, int, int], mean: float, scale: float) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.scale).reshape(len(x), *self.shape)


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """Convolutional classifier trained with softmax cross-entropy by :func:`neuralab.train.fit`.

    Parameters
    ----------
    image_shape : tuple of int or None, default None
        ``(height, width)`` or ``(channels, height, width)`` of each image; its pixels must number the features of
        ``X``. ``None`` takes it from 3-D or 4-D ``X``. For 2-D ``X`` it assumes one square channel when the number
        of features n is a square (64 features → 8×8, 784 → 28×28), and otherwise falls back to a 1×n strip, one
        channel one pixel high (3 features → ``(1, 1, 3)``), on which the convolutions run along the features in
        their column order. Pass ``image_shape`` for any other layout, e.g. ``(3, 32, 32)`` for RGB rows.
    conv_channels : sequence of int, default (32, 64)
        Output channels of each convolution.
    kernel_size : int, default 3
        Square kernel of every convolution (``same`` padding).
    pool : {"max", "avg", "none"}, default "max"
        2×2 pooling after every ``pool_every`` convolutions. A pool halves only the axes still at least 2 pixels
        long and is left out once the map is 1×1 (``CNN(pool_if_fits=True)``): a 1×n strip is pooled 1×2, and
        tiny images never shrink below 1×1, so the convolutions and pools asked for always fit. On images that
        every pool fits, such as 8×8 digits with up to three pools, this is plain 2×2 pooling.
    pool_every : int, default 1
        Convolutions between pools.
    batch_norm : bool, default True
        Batch normalisation of each convolution's output, before the activation (the dense head has none).
    conv_dropout : float, default 0.0
        Channel dropout (whole feature maps) after each convolution's activation.
    hidden_sizes : sequence of int or int, default (128,)
        Fully connected layers after the convolutions.
    dropout : float, default 0.0
        Dropout in the fully connected hidden layers.
    activation : str, default "relu"
        A key of :data:`neuralab.nn.ACTIVATIONS`.
    optimizer : str, default "adamw"
        A key of :data:`neuralab.nn.OPTIMIZERS`.
    lr : float, default 1e-3
        Learning rate.
    weight_decay : float, default 0.0
        The optimiser's own weight decay.
    batch_size : int, default 128
        Images per gradient step.
    epochs : int, default 10
        Maximum passes over the training images.
    early_stopping, validation_fraction, patience, l1, l2, device, random_state
        As in :class:`~neuralab.estimators.MLPClassifier`.
    label_smoothing : float, default 0.0
        Mix the one-hot targets with the uniform distribution by this amount.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels.
    image_shape_ : tuple of int
        ``(channels, height, width)`` used: ``image_shape``, the shape of 3-D or 4-D ``X``, or the square or strip
        fallback.
    n_features_in_ : int
        Pixels per image (channels·height·width).
    model_ : torch.nn.Sequential
        :class:`ImageInput` followed by the trained :class:`~neuralab.models.CNN`.
    history_, loss_curve_, n_iter_
        As in :class:`~neuralab.estimators.MLPClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(conv_channels=(8,), hidden_sizes=(32,), epochs=2, random_state=0).fit(X[:200], y[:200])
    >>> clf.image_shape_, clf.predict_proba(X[:2]).shape
    ((1, 8, 8), (2, 10))
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **COMMON_CONSTRAINTS,
        "image_shape": ["array-like", None],
        "conv_channels": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pool": [StrOptions({"max", "avg", "none"})],
        "pool_every": [Interval(Integral, 1, None, closed="left")],
        "conv_dropout": [Interval(Real, 0, 1, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, image_shape: Sequence[int] | None = None, conv_channels: Sequence[int] = (32, 64),
                 kernel_size: int = 3, pool: str = "max", pool_every: int = 1, batch_norm: bool = True,
                 conv_dropout: float = 0.0, hidden_sizes: Sequence[int] | int = (128,), dropout: float = 0.0,
                 activation: str = "relu", optimizer: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 128, epochs: int = 10, early_stopping: bool = False,
                 validation_fraction: float = 0.1, patience: int = 10, l1: float = 0.0, l2: float = 0.0,
                 device: str = "cpu", random_state: int | np.random.RandomState | None = None,
                 label_smoothing: float = 0.0) -> None:
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.pool = pool
        self.pool_every = pool_every
        self.batch_norm = batch_norm
        self.conv_dropout = conv_dropout
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.activation = activation
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

    def fit(self, X: Any, y: Any) -> CNNClassifier:
        """Train on images ``X`` and labels ``y`` (n_samples,).

        Raises
        ------
        ValueError
            For invalid parameters, an ``image_shape`` that does not match the pixels per row or the images in ``X``,
            non-finite ``X``, continuous ``y`` or a single class.
        """
        self._validate_params()
        X, given_shape = _flatten_images(X)
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"CNNClassifier needs at least 2 classes in y; got 1 class: {classes.tolist()[0]!r}")
        shape = _image_shape(self.image_shape, given_shape, X.shape[1])
        raw_channels = np.asarray(self.conv_channels).reshape(-1)
        if not len(raw_channels) or not all(float(c).is_integer() and c >= 1 for c in raw_channels):
            raise ValueError(f"conv_channels must be positive ints, e.g. (32, 64); got {self.conv_channels!r}")
        channels = [int(c) for c in raw_channels]
        def build(n_features: int, n_out: int, x_train: torch.Tensor) -> nn.Module:
            mean, scale = float(x_train.mean()), float(x_train.std()) or 1.0  # training rows only
            try:
                cnn = CNN(in_channels=shape[0], image_size=shape[1:], conv_channels=channels,
                          kernel_size=self.kernel_size, pool=self.pool, pool_every=self.pool_every,
                          batch_norm=self.batch_norm, activation=self.activation, dropout=self.dropout,
                          conv_dropout=self.conv_dropout, hidden_sizes=_hidden_sizes(self.hidden_sizes),
                          out_features=n_out, pool_if_fits=True)
            except NeuralabError as exc:
                raise ValueError(str(exc)) from None
            return nn.Sequential(ImageInput(shape, mean, scale), cnn)

        loss = LossConfig(name="cross_entropy", label_smoothing=self.label_smoothing)
        target = torch.tensor(encoded.reshape(-1), dtype=torch.int64)
        model, state, _ = train_network(self, X, target, len(classes), loss, build=build)
        self.classes_, self.model_, self.image_shape_ = classes, model, shape
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
            When the images have a different number of pixels than in ``fit``.
        """
        check_is_fitted(self)
        X, given_shape = _flatten_images(X)
        if given_shape is not None and given_shape != self.image_shape_:
            raise ValueError(f"images of shape {given_shape} (channels, height, width), but the model was fitted on "
                             f"{self.image_shape_}")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return predict_proba_network(self.model_, X, self.batch_size)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each image, shape (n_samples,)."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before ``classes_`` is looked up
        return self.classes_[np.argmax(proba, axis=1)]


def _flatten_images(X: Any) -> tuple[Any, tuple[int, int, int] | None]:
    """3-D (N, H, W) or 4-D (N, C, H, W) arrays flattened to rows, with their (C, H, W); anything else as is."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if not isinstance(X, np.ndarray) or X.ndim not in (3, 4):
        return X, None
    shape = tuple(int(s) for s in X.shape[1:])
    if len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] not in (1, 3, 4):
        raise ValueError(f"X of shape {X.shape} looks channels-last (n, height, width, channels); CNNClassifier "
                         f"takes (n, channels, height, width): pass X.transpose(0, 3, 1, 2)")
    return X.reshape(len(X), -1), (1, *shape) if len(shape) == 2 else shape  # type: ignore[return-value]


def _image_shape(param: Sequence[int] | None, given: tuple[int, ...] | None, n_features: int) -> tuple[int, int, int]:
    """(C, H, W) from the parameter, else the array's shape, else one square channel or a 1×n strip; checked."""
    if param is not None:
        values = np.asarray(param).reshape(-1)
        if len(values) not in (2, 3) or not all(float(v).is_integer() and v >= 1 for v in values):
            raise ValueError(f"image_shape must be (height, width) or (channels, height, width) of positive ints; "
                             f"got {param!r}")
        dims = tuple(int(v) for v in values)
        shape = (1, *dims) if len(dims) == 2 else dims
        if given is not None and given != shape:
            raise ValueError(f"image_shape {shape} contradicts the shape of the images in X, {given}")
    elif given is not None:
        shape = given
    else:
        side = math.isqrt(n_features)
        if side * side == n_features:
            shape = (1, side, side)
        else:
            shape = (1, 1, n_features)
            logger.info("%d features are not a square: laid out as a 1×%d strip; pass image_shape to choose",
                        n_features, n_features)
    if math.prod(shape) != n_features:
        raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels but X has {n_features} per row")
    return shape  # type: ignore[return-value]
