"""A scikit-learn transformer around :class:`neuralab.models.RBM`, with the API of scikit-learn's ``BernoulliRBM``.

:class:`RBM` keeps ``BernoulliRBM``'s parameter names, defaults and methods (``fit``, ``partial_fit``,
``transform``, ``score_samples``, ``gibbs``, ``components_`` ...), so scikit-learn's example "Restricted Boltzmann
Machine features for digit classification" runs with the class swapped. It builds the model and trains it with
:func:`neuralab.train.fit`, which calls the model's own contrastive-divergence ``train_step``; it has no loop of its
own. Beyond ``BernoulliRBM`` it offers Gaussian visible units, CD-k, momentum, weight decay, a device, and the AIS
estimate of ``log Z``.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from neuralab.estimators._common import _kept_global_rng, _seed, validate_data
from neuralab.estimators.autoencoder import _apply, _check_unit_range
from neuralab.models import RBM as RBMModel
from neuralab.models.ais import AISResult, base_rate_biases
from neuralab.nn import build_optimizer
from neuralab.train import Callback, FitData, FitState, TrainerConfig, fit
from neuralab.train.seeding import resolve_device

__all__ = ["RBM"]

logger = logging.getLogger(__name__)


def _array(parameter: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy of a model parameter."""
    return parameter.detach().cpu().double().numpy().copy()


class _LogEpochs(Callback):
    """Log each epoch's monitors at INFO: what ``BernoulliRBM(verbose=1)`` prints."""

    def on_epoch_end(self, state: FitState) -> None:
        shown = ", ".join(f"{key} = {value:.4g}" for key, value in state.logs.items() if key not in ("epoch", "lr"))
        logger.info("[RBM] Iteration %d, %s", state.epoch, shown)


class RBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Restricted Boltzmann machine features, trained by persistent contrastive divergence.

    A drop-in for :class:`sklearn.neural_network.BernoulliRBM`: the same parameters, defaults, methods and fitted
    attributes, trained by :func:`neuralab.train.fit` on :class:`neuralab.models.RBM`. ``transform`` gives the
    hidden units' probabilities ``p(h = 1 | x)``, the features to put before a classifier.

    Parameters
    ----------
    n_components : int, default 256
        Number of binary hidden units.
    learning_rate : float, default 0.1
        Step size of the updates (SGD on the batch means of the statistics, as ``BernoulliRBM``).
    batch_size : int, default 10
        Rows per update, and the number of persistent chains (as ``BernoulliRBM``).
    n_iter : int, default 10
        Passes over the training rows (epochs); 0 leaves the model at its initial weights.
    verbose : int, default 0
        Above 0, each iteration's training monitors (reconstruction error, free energy, pseudo-log-likelihood of the
        training rows for Bernoulli units) are logged at INFO through ``logging.getLogger("neuralab.estimators.rbm")``;
        neuralab never prints. Computing them costs one pass over ``X`` per iteration.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the batch order and the Gibbs sampling of ``fit``; ``gibbs`` and
        ``partial_fit`` draw their seeds from it. An int is the engine's ``seed``; ``None`` draws one from NumPy's
        global generator, as scikit-learn does.
    visible : {"bernoulli", "gaussian"}, default "bernoulli"
        ``bernoulli``: ``X`` must lie in [0, 1] (binary values or probabilities, such as grey levels scaled with
        ``MinMaxScaler``). ``gaussian``: real values with unit variance given the hidden units, for standardised
        ``X`` (``StandardScaler`` first); ``X`` is taken as it is, not rescaled.
    k : int, default 1
        Gibbs steps of each negative phase (CD-k, or PCD-k with ``persistent``).
    persistent : bool, default True
        Persistent contrastive divergence (Tieleman 2008), as ``BernoulliRBM``: the negative samples come from
        ``batch_size`` chains carried from one update to the next. ``False`` restarts the chains at the batch
        (CD-k, Hinton 2002).
    momentum : float, default 0.0
        SGD momentum in [0, 1). ``BernoulliRBM`` uses plain SGD, hence 0; Hinton's practical guide (2010) uses 0.5
        to 0.9, which trains faster at a given ``learning_rate``.
    weight_decay : float, default 0.0
        L2 weight decay on ``components_`` (not on the intercepts): each update also takes
        ``learning_rate · weight_decay · W`` from the weights. The guide suggests 1e-4.
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``: where the model trains and runs.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in_)
        The weights ``W``, row ``j`` the filter of hidden unit ``j``.
    intercept_hidden_ : ndarray of shape (n_components,)
        The hidden units' biases.
    intercept_visible_ : ndarray of shape (n_features_in_,)
        The visible units' biases.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``fit`` was given a DataFrame with string column names.
    model_ : neuralab.models.RBM
        The trained model; the attributes above are copies of its parameters.
    random_state_ : RandomState
        The generator ``gibbs`` and ``partial_fit`` draw seeds from.
    history_ : list of dict
        The engine's per-epoch logs (``train_reconstruction_error``, ``train_free_energy``, and the ``val_``
        monitors of the training rows when ``verbose``), over every ``fit`` or ``partial_fit`` call since the last
        ``fit``.

    Notes
    -----
    Differences from ``BernoulliRBM``: the batches are shuffled every epoch; ``score_samples`` is the exact
    pseudo-log-likelihood, not a one-unit stochastic estimate; ``gibbs`` returns 0.0/1.0 floats, not booleans;
    sparse ``X`` is not accepted. As in ``BernoulliRBM``, the weights start from N(0, 0.01²) and the biases at 0.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data[:200] / 16
    >>> rbm = RBM(n_components=32, learning_rate=0.05, random_state=0).fit(X)
    >>> rbm.transform(X).shape, rbm.components_.shape
    ((200, 32), (32, 64))
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "k": [Interval(Integral, 1, None, closed="left")],
        "persistent": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str],
    }

    def __init__(self, n_components: int = 256, *, learning_rate: float = 0.1, batch_size: int = 10,
                 n_iter: int = 10, verbose: int = 0, random_state: int | np.random.RandomState | None = None,
                 visible: str = "bernoulli", k: int = 1, persistent: bool = True, momentum: float = 0.0,
                 weight_decay: float = 0.0, device: str = "cpu") -> None:
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device

    # --- training ---------------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> RBM:
        """Train on ``X`` (n_samples, n_features) for ``n_iter`` epochs; ``y`` is ignored.

        Raises
        ------
        ValueError
            For invalid parameters, non-finite or non-numeric ``X``, or ``X`` outside [0, 1] with Bernoulli units.
        """
        self._validate_params()
        x = validate_data(self, X, dtype=np.float32)
        _check_unit_range(x, "visible", self.visible)
        seed = self._start(x)
        if self.n_iter > 0:
            self._train(x, int(self.n_iter), seed)
        return self

    def partial_fit(self, X: Any, y: Any = None) -> RBM:
        """Train on ``X`` for one epoch, going on from the current weights, persistent chains and momentum.

        The first call builds the model as ``fit`` does. ``BernoulliRBM.partial_fit`` makes one update with all of
        ``X``; this one makes an update per ``batch_size`` rows, so a large ``X`` trains as one epoch of ``fit``.

        Raises
        ------
        ValueError
            As ``fit``; also when ``X`` has a different number of features than in the first call.
        """
        self._validate_params()
        first = not hasattr(self, "model_")
        x = validate_data(self, X, dtype=np.float32, reset=first)
        _check_unit_range(x, "visible", self.visible)
        if first:
            self._start(x)
        self._train(x, 1, int(self.random_state_.randint(np.iinfo(np.int32).max)))
        return self

    def _start(self, x: np.ndarray) -> int:
        """Build the model and its optimiser (fresh weights, chains and momentum); return the training seed."""
        resolve_device(self.device)  # a bad device fails here, with the engine's one-line message
        seed = _seed(self.random_state)
        self.random_state_ = check_random_state(self.random_state)
        with _kept_global_rng():
            torch.manual_seed(seed)  # the initial weights
            model = RBMModel(x.shape[1], int(self.n_components), visible=self.visible, k=int(self.k),
                             persistent=bool(self.persistent), n_chains=int(self.batch_size))
        if self.visible == "bernoulli":  # AIS's base-rate model (the visible biases start at 0, as BernoulliRBM's)
            model.base_rates.copy_(base_rate_biases(torch.tensor(x)))
        self.model_ = model
        self.history_: list[dict[str, float]] = []
        self._optimizer = build_optimizer("sgd", model.parameters(), float(self.learning_rate),
                                          momentum=float(self.momentum))
        return seed

    def _train(self, x: np.ndarray, epochs: int, seed: int) -> None:
        """``epochs`` passes of the engine over ``x``, with the estimator's optimiser (its momentum carries on)."""
        rows = (torch.tensor(x),)  # a copy: read-only inputs (memmaps) stay untouched
        config = TrainerConfig(epochs=epochs, batch_size=int(self.batch_size), device=self.device, seed=seed,
                               l2=float(self.weight_decay) / 2)  # the gradient of l2·Σw² is 2·l2·w
        with _kept_global_rng():
            state = fit(self.model_, FitData(rows, rows if self.verbose else None), config,
                        [_LogEpochs()] if self.verbose else [], optimizer=self._optimizer)
        self.history_ += [dict(logs) for logs in state.history]

    # --- the fitted model -------------------------------------------------------------------------------------

    def _input(self, X: Any) -> np.ndarray:
        """Validated float64 rows for the fitted model."""
        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float64, reset=False)
        _check_unit_range(x, "visible", self.visible)
        return np.require(x, requirements="W")  # torch warns on read-only arrays (memmaps from joblib)

    def transform(self, X: Any) -> np.ndarray:
        """The hidden units' probabilities ``p(h = 1 | x)``, shape (n_samples, n_components), in float64.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            When ``X`` has a different number of features than in ``fit``, or lies outside [0, 1] with Bernoulli
            units.
        """
        x = self._input(X)
        return _apply(self.model_, RBMModel.hidden_probs, x, self.batch_size)

    def gibbs(self, v: Any) -> np.ndarray:
        """One Gibbs step from ``v``: ``h ~ p(h | v)``, then ``v' ~ p(v | h)``; shape (n_samples, n_features).

        Bernoulli units give binary samples (0.0 or 1.0), Gaussian units real values. Each call draws a new seed
        from ``random_state_``, so repeated calls go on sampling, and the same ``random_state`` repeats them.
        """
        x = self._input(v)
        device = next(self.model_.parameters()).device
        generator = torch.Generator(device=device).manual_seed(int(self.random_state_.randint(np.iinfo(np.int32).max)))
        return _apply(self.model_, lambda model, rows: model.gibbs(rows, 1, generator), x, self.batch_size)

    @torch.no_grad()
    def score_samples(self, X: Any) -> np.ndarray:
        """How well the model fits each row, shape (n_samples,): higher means more typical.

        Bernoulli units: the pseudo-log-likelihood of the row binarised at 0.5, ``Σ_i log p(v_i | v_−i)`` over its
        ``n_features`` units, each conditional ``σ(F(ṽ_i) − F(v))`` with ``ṽ_i`` the row with unit ``i`` flipped
        and ``F`` the free energy (Besag 1975). ``BernoulliRBM`` returns ``n_features`` times one random term of
        this sum, an estimate of it; this is the exact sum, so it does not vary from call to call. It costs
        ``n_features + 1`` free energies per row.

        Gaussian units: ``−F(x)``, the log-density up to its normaliser: ``score_samples(X) −
        log_partition().log_z`` is the log-likelihood.

        Each row is scored on its own, so its score does not depend on the other rows of ``X``.
        """
        x = torch.tensor(self._input(X), dtype=torch.float32)
        model, device = self.model_, next(self.model_.parameters()).device
        bernoulli = self.visible == "bernoulli"
        flips = torch.eye(x.shape[1], dtype=torch.bool)
        scores = np.empty(len(x))
        # One call per row: float32 matrix products may change in their last bits with the rows beside them.
        for i, row in enumerate(x):
            if bernoulli:
                v = (row > 0.5).float()
                block = torch.cat([v[None], torch.where(flips, 1 - v, v)])  # (V + 1, V): v, then each flip
                energy = model.free_energy(block.to(device)).double().cpu()
                scores[i] = float(torch.nn.functional.logsigmoid(energy[1:] - energy[0]).sum())
            else:
                scores[i] = -float(model.free_energy(row[None].to(device)))
        return scores

    def log_partition(self, runs: int = 100, betas: int = 14500, random_state: int = 0) -> AISResult:
        """The AIS estimate of ``log Z`` (Salakhutdinov & Murray 2008) with its ±3σ bounds.

        Parameters
        ----------
        runs : int, default 100
            Parallel annealing runs (the paper's 100).
        betas : int, default 14500
            Inverse temperatures, the paper's schedule (14,500) scaled to this many; fewer is faster and looser.
        random_state : int, default 0
            Seed of the runs: the same seed gives the same estimate.

        Returns
        -------
        neuralab.models.ais.AISResult
            ``log_z``, ``log_z_low``, ``log_z_high`` and the settings. With Bernoulli units the annealing starts
            from the base-rate model of the first training ``X``; the log-likelihood of a row is ``−F(v) − log_z``.

        Raises
        ------
        ValueError
            When ``runs`` or ``betas`` is too small.
        """
        check_is_fitted(self)
        if isinstance(runs, bool) or not isinstance(runs, Integral) or runs < 1:
            raise ValueError(f"runs must be a positive int; got {runs!r}")
        if isinstance(betas, bool) or not isinstance(betas, Integral) or betas < 2:
            raise ValueError(f"betas must be an int >= 2; got {betas!r}")
        return self.model_.log_partition(runs=int(runs), betas=int(betas), seed=int(random_state))

    @property
    def components_(self) -> np.ndarray:
        """The weights, shape (n_components, n_features_in_)."""
        check_is_fitted(self)
        return _array(self.model_.weight.weight)

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """The hidden biases, shape (n_components,)."""
        check_is_fitted(self)
        return _array(self.model_.weight.bias)

    @property
    def intercept_visible_(self) -> np.ndarray:
        """The visible biases, shape (n_features_in_,)."""
        check_is_fitted(self)
        return _array(self.model_.visible.bias)

    @property
    def _n_features_out(self) -> int:
        """Read by ``ClassNamePrefixFeaturesOutMixin.get_feature_names_out``."""
        return int(self.model_.hidden_size)
