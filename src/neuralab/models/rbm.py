"""The restricted Boltzmann machine, trained by contrastive divergence (Hinton 2002, "Training Products of Experts by
Minimizing Contrastive Divergence") or persistent contrastive divergence (Tieleman 2008, "Training Restricted
Boltzmann Machines using Approximations to the Likelihood Gradient").

Visible units ``v`` (Bernoulli or Gaussian: :mod:`neuralab.models.units`) and binary hidden units ``h`` have the
energy ``E(v, h) = E_v(v) − c·h − drive(v)ᵀ W h`` and ``p(v, h) ∝ exp(−E)``. Summing out ``h`` gives the free energy

    F(v) = E_v(v) − Σ_j softplus(c_j + (W drive(v))_j),        p(v) = exp(−F(v)) / Z

The log-likelihood gradient is ``−∂F/∂θ`` at the data minus its expectation under the model. Contrastive
divergence replaces that expectation with ``k`` Gibbs steps started at the data (CD-k), or at persistent chains
carried from one update to the next (PCD). The step minimises the surrogate ``mean F(data) − mean F(negatives)``
(the negatives held fixed), whose gradient is exactly that estimate, through the engine's optimiser: momentum,
weight decay (``trainer.l2``, on the weights only) and the learning rate come from the recipe. Hinton's practical
guide (2010) is followed for the defaults: weights from N(0, 0.01²), hidden biases 0, visible biases set from the
data by the task, and an optional sparsity target.

``evaluate`` reports, on validation batches: the reconstruction error, the pseudo-log-likelihood (Bernoulli units;
Besag 1975, as scikit-learn's ``BernoulliRBM.score_samples``), the mean free energy, and its gap to a fixed subset
of the training data, the overfitting monitor of the guide (section 6). The log-likelihood itself needs log Z,
which :mod:`neuralab.models.ais` estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints
from neuralab.models.ais import AISResult, ais_log_partition, paper_betas
from neuralab.models.units import VISIBLE_UNITS, BernoulliUnits

__all__ = ["RBM"]

REFERENCE_ROWS = 1000  # training rows kept to compare their free energy with the validation data's
PAPER_BETAS = 14500  # the length of Salakhutdinov & Murray's schedule


class RBM(nn.Module):
    """A restricted Boltzmann machine with Bernoulli hidden units.

    Parameters
    ----------
    in_features
        Visible units (pixels, features).
    hidden_size
        Hidden units.
    visible
        ``bernoulli`` for values in [0, 1] (binary or probabilities), ``gaussian`` for standardised real values.
    learn_sigma
        Gaussian units only: learn each visible unit's standard deviation (fragile; default σ = 1).
    k
        Gibbs steps per update (CD-k or PCD-k).
    persistent
        Persistent contrastive divergence: the negative samples come from ``n_chains`` chains kept across updates
        (and in checkpoints), not from chains restarted at the data.
    n_chains
        The number of persistent chains.
    sparsity_target, sparsity_cost
        Push each hidden unit's mean activation towards ``sparsity_target`` with a cross-entropy penalty of weight
        ``sparsity_cost`` (the guide's section 11; 0 turns it off).
    binarize
        Bernoulli units: sample each training batch as ``Bernoulli(v)`` (grey pixels as probabilities).
    ais_runs, ais_betas
        The AIS estimate of ``log Z`` (:mod:`neuralab.models.ais`): parallel runs and inverse temperatures (the
        paper's 100 and 14,500). 0 betas: no estimate.
    ais_every
        Also estimate ``log Z`` and the validation log-likelihood every this many epochs (0: only at the end).
    in_channels, image_size
        The inputs' image layout, used only to draw the filters and samples.

    Examples
    --------
    >>> rbm = RBM(in_features=64, hidden_size=32)
    >>> rbm(torch.rand(8, 64)).shape          # the hidden units' probabilities: the learned features
    torch.Size([8, 32])
    >>> rbm.free_energy(torch.rand(8, 64)).shape
    torch.Size([8])
    """

    def __init__(self, in_features: int, hidden_size: int = 500, *, visible: str = "bernoulli",
                 learn_sigma: bool = False, k: int = 1, persistent: bool = False, n_chains: int = 100,
                 sparsity_target: float | None = None, sparsity_cost: float = 0.0, binarize: bool = False,
                 ais_runs: int = 100, ais_betas: int = 14500, ais_every: int = 0,
                 in_channels: int = 1, image_size: int | Sequence[int] | None = None) -> None:
        super().__init__()
        check_positive_ints(in_features=in_features, hidden_size=hidden_size, k=k, n_chains=n_chains)
        if visible not in VISIBLE_UNITS:
            raise NeuralabError(f"visible must be one of {', '.join(VISIBLE_UNITS)}; got {visible!r}")
        if sparsity_target is not None and not 0.0 < sparsity_target < 1.0:
            raise NeuralabError(f"sparsity_target must be in (0, 1); got {sparsity_target}")
        if sparsity_cost < 0:
            raise NeuralabError(f"sparsity_cost must be >= 0; got {sparsity_cost}")
        self.in_features, self.hidden_size, self.k, self.persistent = in_features, hidden_size, k, persistent
        self.n_chains, self.binarize = n_chains, binarize
        self.sparsity_target, self.sparsity_cost = sparsity_target, sparsity_cost
        self.in_channels = in_channels
        self.image_size = [image_size, image_size] if isinstance(image_size, int) else image_size
        self.visible = (VISIBLE_UNITS[visible](in_features, learn_sigma=learn_sigma) if visible == "gaussian"
                        else VISIBLE_UNITS[visible](in_features))
        self.weight = nn.Linear(in_features, hidden_size)  # W as (hidden, visible), and the hidden biases c
        nn.init.normal_(self.weight.weight, std=0.01)
        nn.init.zeros_(self.weight.bias)
        for name, value in (("ais_runs", ais_runs), ("ais_betas", ais_betas), ("ais_every", ais_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise NeuralabError(f"{name} must be an int >= 0; got {value!r}")
        self.ais_runs, self.ais_betas, self.ais_every = ais_runs, ais_betas, ais_every
        # The base-rate model of AIS: the visible biases of the training data's pixel means (set from the data).
        self.register_buffer("base_rates", torch.zeros(in_features))
        self.chains: torch.Tensor | None = None  # the persistent chains' visible states (training state)
        self.reference: torch.Tensor | None = None  # training rows for the free-energy gap (training state)
        self.evaluations = 0  # evaluate calls, for ais_every (training state)

    # --- the model ------------------------------------------------------------------------------------------

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1).to(self.weight.weight.dtype)
        if x.shape[1] != self.in_features:
            raise NeuralabError(f"RBM expects {self.in_features} visible values per example; got input of shape "
                                f"{tuple(x.shape)}")
        return x

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """``p(h_j = 1 | v)``, ``(B, V) → (B, H)``."""
        return torch.sigmoid(self.weight(self.visible.drive(v)))

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``, ``(B, H) → (B, V)``."""
        return self.visible.mean(h @ self.weight.weight)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """``F(v) = −log Σ_h exp(−E(v, h))``, per row: ``(B, ...) → (B,)``."""
        v = self._flat(v)
        return self.visible.energy(v) - F.softplus(self.weight(self.visible.drive(v))).sum(-1)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``E(v, h)`` per row."""
        v = self._flat(v)
        return self.visible.energy(v) - h @ self.weight.bias - (self.weight(self.visible.drive(v))
                                                                - self.weight.bias).mul(h).sum(-1)

    def gibbs(self, v: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``steps`` rounds of ``h ~ p(h|v)``, ``v ~ p(v|h)`` from ``v``; returns the last visible sample."""
        for _ in range(steps):
            h = torch.bernoulli(self.hidden_probs(v), generator=generator)
            v = self.visible.sample(self.visible_mean(h), generator)
        return v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden units' probabilities: the features an RBM learns, ``(B, H)``."""
        return self.hidden_probs(self._flat(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The same as :meth:`forward` (for the codes of a reconstruction-like task)."""
        return self(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """One mean-field up-down pass: ``E[v | h = p(h|x)]``, in the shape of ``x``."""
        return self.visible_mean(self(x)).reshape(x.shape)

    def encoder_layers(self) -> list[nn.Module]:
        """The layer to pretrain a network with: ``Linear(V → H)`` (with σ = 1 for Gaussian units, exactly the
        hidden units' input)."""
        return [self.weight]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, steps: int = 1000,
               start: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples after ``steps`` Gibbs steps from uniform noise (or from ``start``), as visible means."""
        if not isinstance(n, int) or n < 1:
            raise NeuralabError(f"n must be a positive int; got {n!r}")
        device = self.weight.weight.device
        v = (torch.rand(n, self.in_features, generator=generator).to(device) if start is None
             else self._flat(start).to(device))
        v = self.gibbs(v, steps, generator)
        h = torch.bernoulli(self.hidden_probs(v), generator=generator)
        return self.visible_mean(h)

    # --- training through the engine ------------------------------------------------------------------------

    def train_step(self, batch: Sequence[torch.Tensor], optimizers: Any) -> dict[str, torch.Tensor]:
        """One contrastive-divergence update, applied by the engine's optimiser.

        The gradient of ``mean F(data) − mean F(negatives)`` has a closed form (``−⟨h dᵀ⟩_data + ⟨h dᵀ⟩_negatives``
        for the weights, with ``d`` what the hidden units see), so it is computed directly and handed to
        ``optimizers.apply_gradients``, which adds the weight decay and takes the step, as ``update`` would after a
        backward pass. Learned Gaussian σ backpropagates the surrogate instead.
        """
        v0 = self._flat(batch[0])
        if self.binarize and isinstance(self.visible, BernoulliUnits):
            v0 = torch.bernoulli(v0.clamp(0, 1))
        if self.reference is None or len(self.reference) < REFERENCE_ROWS:
            kept = v0.detach()[:REFERENCE_ROWS - (0 if self.reference is None else len(self.reference))]
            self.reference = kept if self.reference is None else torch.cat([self.reference, kept])
        if self.visible.bias.requires_grad and getattr(self.visible, "log_sigma", None) is not None \
                and self.visible.log_sigma.requires_grad:
            return self._train_step_autograd(v0, optimizers)
        with torch.no_grad():
            d0 = self.visible.drive(v0)
            pre0 = self.weight(d0)
            h0 = torch.sigmoid(pre0)
            if self.persistent:
                if self.chains is None:  # started from the visible units' own distribution with h = 0
                    off = torch.zeros(self.n_chains, self.hidden_size, device=v0.device)
                    self.chains = self.visible.sample(self.visible_mean(off))
                negatives = self.chains = self.gibbs(self.chains, self.k)
                reconstruction = self.visible_mean(h0)
            else:
                reconstruction = self.visible_mean(torch.bernoulli(h0))  # the first step of the chain
                negatives = self.gibbs(self.visible.sample(reconstruction), self.k - 1)
            dk = self.visible.drive(negatives)
            prek = self.weight(dk)
            hk = torch.sigmoid(prek)
            free0 = self.visible.energy(v0) - F.softplus(pre0).sum(-1)
            loss = free0.mean() - (self.visible.energy(negatives) - F.softplus(prek).sum(-1)).mean()
            n0, nk = len(v0), len(negatives)
            grad_w = hk.T @ dk / nk - h0.T @ d0 / n0  # (H, V)
            grad_c = hk.mean(0) - h0.mean(0)
            grad_b = self._visible_bias_gradient(v0) - self._visible_bias_gradient(negatives)
            if self.sparsity_cost > 0 and self.sparsity_target is not None:
                q = h0.mean(0).clamp(1e-6, 1 - 1e-6)
                # d/dpre of cost·Σ_j BCE(q_j, p) through q_j = mean_b sigmoid(pre_bj)
                delta = self.sparsity_cost * (q - self.sparsity_target) / (q * (1 - q)) * h0 * (1 - h0) / n0
                grad_w, grad_c = grad_w + delta.T @ d0, grad_c + delta.sum(0)
                loss = loss + self.sparsity_cost * F.binary_cross_entropy(
                    q, torch.full_like(q, self.sparsity_target), reduction="sum")
            error = (v0 - reconstruction).pow(2).sum(-1).mean()
        optimizers.apply_gradients({self.weight.weight: grad_w, self.weight.bias: grad_c, self.visible.bias: grad_b},
                                   loss)
        return {"reconstruction_error": error, "free_energy": free0.mean()}

    def _visible_bias_gradient(self, v: torch.Tensor) -> torch.Tensor:
        """``∂ mean F(v) / ∂b``: ``−mean v`` for Bernoulli units, ``−mean (v − b)/σ²`` for Gaussian ones."""
        if isinstance(self.visible, BernoulliUnits):
            return -v.mean(0)
        return -((v - self.visible.bias) / self.visible.sigma ** 2).mean(0)

    def _train_step_autograd(self, v0: torch.Tensor, optimizers: Any) -> dict[str, torch.Tensor]:
        """The update by backpropagating ``mean F(data) − mean F(negatives)`` (learned σ has no simple closed form)."""
        with torch.no_grad():
            negatives = self.chains = self.gibbs(self.chains if self.persistent and self.chains is not None else v0,
                                                 self.k)
            if not self.persistent:
                self.chains = None
        positive = self.free_energy(v0)
        loss = positive.mean() - self.free_energy(negatives).mean()
        optimizers.update(loss)
        with torch.no_grad():
            error = (v0 - self.reconstruct(v0)).pow(2).sum(-1).mean()
        return {"reconstruction_error": error, "free_energy": positive.detach().mean()}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """Reconstruction error (squared, summed over visible units), pseudo-log-likelihood (Bernoulli units) and
        mean free energy of the validation batches, and the gap ``F(val) − F(training subset)``: it grows when the
        model over-fits (the guide's section 6)."""
        if batches is None:
            return {}
        totals = {"reconstruction_error": 0.0, "free_energy": 0.0, "pseudo_log_likelihood": 0.0}
        count = 0
        generator = torch.Generator().manual_seed(0)  # the same bits flipped every epoch: comparable numbers
        for batch in batches:
            v = self._flat(batch[0])
            totals["reconstruction_error"] += float((v - self.reconstruct(v)).pow(2).sum())
            totals["free_energy"] += float(self.free_energy(v).sum())
            if isinstance(self.visible, BernoulliUnits):
                totals["pseudo_log_likelihood"] += float(self.pseudo_log_likelihood(v, generator).sum())
            count += len(v)
        result = {key: value / max(count, 1) for key, value in totals.items()}
        if not isinstance(self.visible, BernoulliUnits):
            del result["pseudo_log_likelihood"]
        if self.reference is not None:
            result["free_energy_gap"] = result["free_energy"] - float(self.free_energy(self.reference).mean())
        self.evaluations += 1
        if self.ais_every and self.ais_betas and self.evaluations % self.ais_every == 0:
            result["log_likelihood"] = -result["free_energy"] - self.log_partition().log_z
        return result

    def log_partition(self, *, runs: int | None = None, betas: int | None = None, seed: int = 0) -> AISResult:
        """The AIS estimate of ``log Z`` with this model's settings (or ``runs``/``betas``), from the base-rate model
        of its training data (:mod:`neuralab.models.ais`)."""
        n = self.ais_betas if betas is None else betas
        if n < 2:
            raise NeuralabError(f"AIS needs at least 2 inverse temperatures; got {n}")
        return ais_log_partition(self, runs=self.ais_runs if runs is None else runs, betas=paper_betas(n / PAPER_BETAS),
                                 base_biases=self.base_rates, seed=seed)

    def pseudo_log_likelihood(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The stochastic pseudo-log-likelihood of binary rows: ``V · log σ(F(ṽ) − F(v))`` with ``ṽ`` one random
        visible unit flipped (Besag 1975; scikit-learn's ``BernoulliRBM.score_samples``), per row."""
        v = (self._flat(v) > 0.5).float()
        index = torch.randint(0, self.in_features, (len(v),), generator=generator).to(v.device)
        flipped = v.clone()
        rows = torch.arange(len(v), device=v.device)
        flipped[rows, index] = 1 - flipped[rows, index]
        return self.in_features * F.logsigmoid(self.free_energy(flipped) - self.free_energy(v))

    def train_state_dict(self) -> dict[str, Any]:
        """The persistent chains and the training rows of the free-energy gap: what resume needs beyond weights."""
        return {"chains": self.chains, "reference": self.reference, "evaluations": self.evaluations}

    def load_train_state_dict(self, state: dict[str, Any] | None) -> None:
        state = state or {}
        self.evaluations = int(state.get("evaluations", 0))
        device = self.weight.weight.device
        self.chains = None if state.get("chains") is None else state["chains"].to(device)
        self.reference = None if state.get("reference") is None else state["reference"].to(device)
