"""Scikit-learn transformers around :class:`neuralab.models.Autoencoder` and :class:`neuralab.models.VAE`.

:class:`AutoencoderTransformer` and :class:`VAETransformer` reduce ``X`` to ``latent_dim`` codes, map codes back with
``inverse_transform`` and score rows with ``score_samples`` (higher means more typical, sklearn's convention for
novelty scores). They build the model and train it with :func:`neuralab.train.fit`, which backpropagates the model's
own ``loss``; they have no loop of their own. Both work in ``Pipeline``, ``GridSearchCV`` and ``clone``.

With a Gaussian output (the default, since scikit-learn data are arbitrary real values) ``X`` is standardised with
the mean and standard deviation of the training rows, so ``lr`` does not depend on the units of the features;
``inverse_transform`` and ``sample`` undo it. A Bernoulli output needs ``X`` in [0, 1] and leaves it as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from neuralab.estimators._common import (
    COMMON_CONSTRAINTS,
    _hidden_sizes,
    _kept_global_rng,
    _seed,
    _split,
    fitted_history,
    validate_data,
)
from neuralab.models import VAE, Autoencoder
from neuralab.nn import ACTIVATIONS
from neuralab.train import EarlyStoppingConfig, FitData, OptimizerConfig, TrainerConfig, fit
from neuralab.train.seeding import resolve_device

__all__ = ["AutoencoderTransformer", "VAETransformer"]

_TRAINING_KEYS = ("hidden_sizes", "activation", "optimizer", "lr", "weight_decay", "batch_size", "epochs",
                  "early_stopping", "validation_fraction", "patience", "device", "random_state")
_TRAINING_CONSTRAINTS: dict[str, list[Any]] = {
    **{key: COMMON_CONSTRAINTS[key] for key in _TRAINING_KEYS},
    "latent_dim": [Interval(Integral, 1, None, closed="left")],
}
ELBO_DRAWS = 16  # posterior draws per row in VAETransformer.score_samples

_SHARED_PARAMETERS = """
    optimizer : str, default "adam"
        A key of :data:`neuralab.nn.OPTIMIZERS`.
    lr : float, default 1e-3
        Learning rate.
    weight_decay : float, default 0.0
        The optimiser's own weight decay (decoupled for ``adamw``).
    batch_size : int, default 64
        Rows per gradient step.
    epochs : int, default 50
        Maximum number of passes over the training rows.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows and stop when their loss has not improved for ``patience``
        epochs; the best epoch's weights are kept. Without it, training runs all ``epochs``.
    validation_fraction : float, default 0.1
        Share of rows held out when ``early_stopping`` is on.
    patience : int, default 10
        Epochs without improvement of the validation loss before stopping.
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the batch order, the training noise and the validation split. An int is the
        engine's ``seed``; ``None`` draws a seed from NumPy's global generator, as scikit-learn does."""

_FITTED_ATTRIBUTES = """
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``fit`` was given a DataFrame with string column names.
    mean_, scale_ : ndarray of shape (n_features_in_,)
        The standardisation of ``X`` (the training rows' mean and standard deviation, 1 for a constant feature);
        zeros and ones with a Bernoulli output.
    history_ : list of dict
        The engine's per-epoch logs (``train_loss``, ``train_reconstruction``, ``val_loss``, ...).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    n_iter_ : int
        Epochs run (fewer than ``epochs`` after early stopping)."""


# -- what the two transformers share -------------------------------------------------------------------------------
def _check_unit_range(x: np.ndarray, arg: str, value: str) -> None:
    """Raise a ValueError when a Bernoulli model gets values outside [0, 1]."""
    if value == "bernoulli" and x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{arg}='bernoulli' needs X in [0, 1]; got values in [{x.min():.4g}, {x.max():.4g}]. "
                         f"Scale X with sklearn.preprocessing.MinMaxScaler, or use {arg}='gaussian'")


def _standardize(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(x - mean) / scale`` in float64, the model's input."""
    return (x - mean) / scale


def _train_model(est: BaseEstimator, x: np.ndarray, gaussian: bool,
                 build: Callable[[int, tuple[int, ...]], nn.Module]) -> tuple[nn.Module, Any, np.ndarray, np.ndarray]:
    """Seed, split, standardise and train ``build(n_features, hidden_sizes)`` with the model's own loss.

    The autoencoder counterpart of :func:`neuralab.estimators._common.train_network`, which builds an MLP and
    trains it on targets. Returns the model, the engine's final state, and the ``mean`` and ``scale`` of ``x``.
    """
    resolve_device(est.device)  # a bad device fails here, with the engine's one-line message
    hidden_sizes = _hidden_sizes(est.hidden_sizes)
    seed = _seed(est.random_state)
    train, val = np.arange(len(x)), None
    if est.early_stopping:
        train, val = _split(len(x), est.validation_fraction, seed)
    mean, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    if gaussian:  # statistics of the training rows only, as for MLPRegressor's target
        mean, scale = x[train].mean(0, dtype=np.float64), x[train].std(0, dtype=np.float64)
        scale[scale == 0] = 1.0  # a constant feature stays at 0 rather than dividing by 0
    xt = torch.from_numpy(_standardize(x, mean, scale).astype(np.float32))
    data = FitData((xt[train],), None if val is None else (xt[val],))
    config = TrainerConfig(
        epochs=est.epochs, batch_size=est.batch_size, device=est.device, seed=seed,
        early_stopping=EarlyStoppingConfig(patience=est.patience) if est.early_stopping else None,
    )
    optimizer = OptimizerConfig(name=est.optimizer, lr=est.lr, weight_decay=est.weight_decay)
    with _kept_global_rng():
        torch.manual_seed(seed)  # the initial weights
        model = build(x.shape[1], hidden_sizes)
        state = fit(model, data, config, optimizer=optimizer)  # no loss given: the engine uses model.loss
    return model, state, mean, scale


def _set_fitted(est: BaseEstimator, model: nn.Module, state: Any, mean: np.ndarray, scale: np.ndarray) -> None:
    """Store the fitted attributes shared by both transformers."""
    est.model_, est.mean_, est.scale_ = model, mean, scale
    est._n_features_out = model.latent_dim  # read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out
    for name, value in fitted_history(state).items():
        setattr(est, name, value)


@torch.no_grad()
def _apply(model: nn.Module, fn: Callable[[Any, torch.Tensor], torch.Tensor], x: np.ndarray,
           batch_size: int) -> np.ndarray:
    """``fn(model, rows)`` over row chunks of float64 ``x``, in eval mode on the model's device, as an array.

    It runs on a float64 copy of the model: in float32 a row's matrix product can change in its last bits with the
    number of rows beside it, and scikit-learn requires a row's output not to depend on its batch.
    """
    model = copy.deepcopy(model).double().eval()
    device = next(model.parameters()).device
    step = max(batch_size, 1024)
    outs = [fn(model, torch.from_numpy(x[i:i + step]).to(device)).cpu() for i in range(0, len(x), step)]
    return torch.cat(outs).numpy()


def _model_input(est: BaseEstimator, X: Any, likelihood: str, arg: str) -> np.ndarray:
    """Validated, standardised float64 rows for a fitted transformer."""
    check_is_fitted(est)
    x = validate_data(est, X, dtype=np.float64, reset=False)
    _check_unit_range(x, arg, likelihood)
    return _standardize(x, est.mean_, est.scale_)


def _decode(est: BaseEstimator, Z: Any) -> np.ndarray:
    """Codes ``Z`` (n_samples, latent_dim) decoded to the units of ``X``."""
    check_is_fitted(est)
    z = check_array(Z, dtype=np.float64)
    if z.shape[1] != est.model_.latent_dim:
        raise ValueError(f"Z must have shape (n_samples, {est.model_.latent_dim}), the latent_dim of the fitted "
                         f"model; got {z.shape}")
    return _apply(est.model_, type(est.model_).decode, z, est.batch_size) * est.scale_ + est.mean_


def _sklearn_numbers(est: BaseEstimator, *names: str) -> dict[str, float]:
    """The named parameters as Python floats: the models reject NumPy scalars that a parameter grid may hold."""
    return {name: float(getattr(est, name)) for name in names}


# -- the transformers ----------------------------------------------------------------------------------------------
class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-linear dimensionality reduction with an autoencoder trained by :func:`neuralab.train.fit`.

    ``transform`` returns the codes, ``inverse_transform`` decodes them back to the units of ``X``, and
    ``score_samples`` is the negative reconstruction error, for novelty detection. The sparse, denoising and
    contractive variants of :class:`neuralab.models.Autoencoder` are options.

    Parameters
    ----------
    hidden_sizes : sequence of int or int, default (256,)
        Widths of the encoder's hidden layers; the decoder uses them reversed. ``()`` gives a linear autoencoder.
    latent_dim : int, default 2
        Number of code units, the columns of ``transform``'s output.
    activation : str, default "relu"
        Hidden-layer activation, a key of :data:`neuralab.nn.ACTIVATIONS`.
    code_activation : str, default "linear"
        Activation on the code; ``sparsity="kl"`` needs ``"sigmoid"``.
    output : {{"gaussian", "bernoulli"}}, default "gaussian"
        ``gaussian``: ``X`` is standardised and the error is ``½‖x̂ − x‖²``. ``bernoulli``: ``X`` must lie in
        [0, 1] (pixel intensities) and the error is the binary cross-entropy.
    sparsity : {{"none", "l1", "kl"}}, default "none"
        Sparsity penalty on the code, weighted by ``sparsity_weight``.
    sparsity_weight : float, default 0.0
        Weight of the sparsity penalty.
    sparsity_target : float, default 0.05
        Target mean activation of each code unit for ``sparsity="kl"``, in (0, 1).
    noise : {{"none", "gaussian", "masking", "salt_pepper"}}, default "none"
        Corruption of the (standardised) training inputs: a denoising autoencoder.
    noise_level : float, default 0.0
        Standard deviation (``gaussian``) or fraction of corrupted values (``masking``, ``salt_pepper``).
    contractive_weight : float, default 0.0
        Weight of the squared Frobenius norm of the encoder's Jacobian; 0 turns it off.{shared}

    Attributes
    ----------
    model_ : neuralab.models.Autoencoder
        The trained network; it takes standardised inputs.{fitted}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data[:200]
    >>> ae = AutoencoderTransformer(hidden_sizes=(32,), epochs=5, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.inverse_transform(ae.transform(X)).shape
    ((200, 2), (200, 64))
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_TRAINING_CONSTRAINTS,
        "code_activation": [StrOptions(set(ACTIVATIONS))],
        "output": [StrOptions({"gaussian", "bernoulli"})],
        "sparsity": [StrOptions({"none", "l1", "kl"})],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "noise": [StrOptions({"none", "gaussian", "masking", "salt_pepper"})],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "contractive_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, hidden_sizes: Sequence[int] | int = (256,), latent_dim: int = 2, activation: str = "relu",
                 code_activation: str = "linear", output: str = "gaussian", sparsity: str = "none",
                 sparsity_weight: float = 0.0, sparsity_target: float = 0.05, noise: str = "none",
                 noise_level: float = 0.0, contractive_weight: float = 0.0, optimizer: str = "adam",
                 lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 64, epochs: int = 50,
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: int = 10,
                 device: str = "cpu", random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.code_activation = code_activation
        self.output = output
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.noise = noise
        self.noise_level = noise_level
        self.contractive_weight = contractive_weight
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> AutoencoderTransformer:
        """Train on ``X`` (n_samples, n_features); ``y`` is ignored.

        Raises
        ------
        ValueError
            For invalid parameters, non-finite or non-numeric ``X``, or ``X`` outside [0, 1] with a Bernoulli output.
        """
        self._validate_params()
        x = validate_data(self, X, dtype=np.float32)
        _check_unit_range(x, "output", self.output)
        numbers = _sklearn_numbers(self, "sparsity_weight", "sparsity_target", "noise_level", "contractive_weight")

        def build(n_features: int, hidden_sizes: tuple[int, ...]) -> Autoencoder:
            return Autoencoder(n_features, hidden_sizes, int(self.latent_dim), activation=self.activation,
                               code_activation=self.code_activation, output=self.output, sparsity=self.sparsity,
                               noise=self.noise, **numbers)

        _set_fitted(self, *_train_model(self, x, self.output == "gaussian", build))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The codes of ``X``, shape (n_samples, latent_dim).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            When ``X`` has a different number of features than in ``fit``.
        """
        x = _model_input(self, X, self.output, "output")
        return _apply(self.model_, type(self.model_).encode, x, self.batch_size)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes ``X`` (n_samples, latent_dim) to rows in the units of the training ``X``.

        With a Bernoulli output these are probabilities in [0, 1].
        """
        return _decode(self, X)

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative reconstruction error of each row, shape (n_samples,): higher means more typical.

        The error is the model's: ``½‖x̂ − x‖²`` summed over the standardised features (gaussian), or the binary
        cross-entropy in nats (bernoulli). Training noise is not applied.
        """
        x = _model_input(self, X, self.output, "output")
        return -_apply(self.model_, Autoencoder.anomaly_score, x, self.batch_size)


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Dimensionality reduction and generation with a variational autoencoder trained by :func:`neuralab.train.fit`.

    ``transform`` returns the posterior means, ``inverse_transform`` decodes codes to the units of ``X``,
    ``sample`` draws new rows from the prior and ``score_samples`` is the evidence lower bound of each row.

    Parameters
    ----------
    hidden_sizes : sequence of int or int, default (256,)
        Widths of the encoder's hidden layers; the decoder uses them reversed.
    latent_dim : int, default 2
        Size of the code ``z``, the columns of ``transform``'s output.
    activation : str, default "relu"
        Hidden-layer activation, a key of :data:`neuralab.nn.ACTIVATIONS`.
    likelihood : {{"gaussian", "bernoulli"}}, default "gaussian"
        ``gaussian``: ``X`` is standardised and each feature gets a learned noise level. ``bernoulli``: ``X`` must
        lie in [0, 1].
    beta : float, default 1.0
        Weight of the KL term once warmed up (``beta > 1`` is a β-VAE).
    warmup_steps : int, default 0
        Gradient steps over which the KL weight rises linearly from 0 to ``beta``; 0 for none.{shared}

    Attributes
    ----------
    model_ : neuralab.models.VAE
        The trained network; it takes standardised inputs.{fitted}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data[:200]
    >>> vae = VAETransformer(hidden_sizes=(32,), epochs=5, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.sample(3, random_state=0).shape
    ((200, 2), (3, 64))
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_TRAINING_CONSTRAINTS,
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup_steps": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, hidden_sizes: Sequence[int] | int = (256,), latent_dim: int = 2, activation: str = "relu",
                 likelihood: str = "gaussian", beta: float = 1.0, warmup_steps: int = 0, optimizer: str = "adam",
                 lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 64, epochs: int = 50,
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: int = 10,
                 device: str = "cpu", random_state: int | np.random.RandomState | None = None) -> None:
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.warmup_steps = warmup_steps
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        """Train on ``X`` (n_samples, n_features) by maximising the ELBO; ``y`` is ignored.

        Raises
        ------
        ValueError
            For invalid parameters, non-finite or non-numeric ``X``, or ``X`` outside [0, 1] with a Bernoulli
            likelihood.
        """
        self._validate_params()
        x = validate_data(self, X, dtype=np.float32)
        _check_unit_range(x, "likelihood", self.likelihood)

        def build(n_features: int, hidden_sizes: tuple[int, ...]) -> VAE:
            return VAE(n_features, hidden_sizes, int(self.latent_dim), activation=self.activation,
                       likelihood=self.likelihood, beta=float(self.beta), warmup_steps=int(self.warmup_steps))

        _set_fitted(self, *_train_model(self, x, self.likelihood == "gaussian", build))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The posterior means of ``X``, shape (n_samples, latent_dim).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            When ``X`` has a different number of features than in ``fit``.
        """
        x = _model_input(self, X, self.likelihood, "likelihood")
        return _apply(self.model_, type(self.model_).encode, x, self.batch_size)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes ``X`` (n_samples, latent_dim) to the decoder's means (probabilities for bernoulli), in the
        units of the training ``X``."""
        return _decode(self, X)

    def sample(self, n_samples: int = 1, random_state: int | np.random.RandomState | None = None) -> np.ndarray:
        """Decode ``n_samples`` draws of ``z ~ N(0, I)``: shape (n_samples, n_features), in the units of ``X``.

        Each row is the decoder's mean for its ``z`` (probabilities for bernoulli), without observation noise.

        Raises
        ------
        ValueError
            When ``n_samples`` is not a positive int.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}")
        generator = torch.Generator().manual_seed(_seed(random_state))
        z = torch.randn((int(n_samples), self.model_.latent_dim), generator=generator)
        return _decode(self, z.double().numpy())

    def score_samples(self, X: Any) -> np.ndarray:
        """The evidence lower bound of each row in nats, shape (n_samples,): higher means more typical.

        The model's :meth:`~neuralab.models.VAE.elbo`, a Monte Carlo estimate over ``ELBO_DRAWS`` posterior draws.
        The same standard-normal draws serve every row, so a row's score does not depend on the other rows or on the
        call. With a Gaussian likelihood the bound is
        on the density of ``X`` in its own units: the standardisation's ``−Σ log scale_`` is included.
        """
        x = _model_input(self, X, self.likelihood, "likelihood")
        generator = torch.Generator().manual_seed(0)
        eps = torch.randn((ELBO_DRAWS, 1, self.model_.latent_dim), generator=generator, dtype=torch.float64)
        elbo = _apply(self.model_, lambda model, rows: model.elbo(rows, eps=eps), x, self.batch_size)
        return elbo - np.log(self.scale_).sum()


# The training parameters and fitted attributes are the same in both classes: write them once. (No docstrings
# under ``python -OO``.)
for _cls in (AutoencoderTransformer, VAETransformer):
    if _cls.__doc__:
        _cls.__doc__ = _cls.__doc__.format(shared=_SHARED_PARAMETERS, fitted=_FITTED_ATTRIBUTES)
