"""Annealed importance sampling (Neal 2001) of an RBM's partition function, as in Salakhutdinov & Murray (2008, "On
the Quantitative Analysis of Deep Belief Networks").

The log-likelihood of an RBM, ``−F(v) − log Z``, needs ``log Z``, a sum over every visible (or hidden) state. AIS
estimates it by moving, through a sequence of inverse temperatures ``0 = β_0 < β_1 < ... < β_K = 1``, from a base
model A whose ``Z_A`` is known to the RBM B. The intermediate distributions are

    p*_β(v) = exp((1 − β)·b_A·v + β·b·v) · Π_j (1 + exp(β·(c_j + W_j·v)))

(for Gaussian units, the Gaussian visible term is the same at every β), where the base model has the same visible
units, no weights and, for binary units, the visible biases of the data's base rates (the paper's choice, which
starts the runs close to the data). Each of ``runs`` chains starts
with an exact sample of A, takes one Gibbs step at each β, and accumulates the log importance weight
``Σ_k log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k)``. Then ``Z_B / Z_A ≈ mean(w)``; all runs advance together as one
batch. ``±3σ`` bounds come from the spread of the weights, as in the paper.

The paper's schedule, used by default, has 14,500 values: 500 uniformly spaced in [0, 0.5], 4,000 in [0.5, 0.9] and
10,000 in [0.9, 1.0].
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError
from neuralab.models.units import BernoulliUnits, GaussianUnits

if TYPE_CHECKING:
    from neuralab.models.rbm import RBM

__all__ = ["AISResult", "paper_betas", "ais_log_partition", "base_rate_biases", "exact_log_partition"]


@dataclass
class AISResult:
    """An estimate of ``log Z`` with the settings that produced it and its ±3σ bounds."""

    log_z: float
    log_z_low: float
    log_z_high: float
    runs: int
    betas: int
    base_log_z: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paper_betas(scale: float = 1.0) -> torch.Tensor:
    """Salakhutdinov & Murray's schedule (14,500 βs at ``scale = 1``; each part scaled by ``scale`` otherwise):
    denser where the model sharpens."""
    counts = [max(2, round(n * scale)) for n in (500, 4000, 10000)]
    parts = [torch.linspace(0.0, 0.5, counts[0] + 1)[:-1], torch.linspace(0.5, 0.9, counts[1] + 1)[:-1],
             torch.linspace(0.9, 1.0, counts[2])]
    return torch.cat(parts).double()


def base_rate_biases(data: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """Visible biases of a weightless binary model matching the data's per-pixel means (smoothed away from 0 and 1)."""
    p = data.flatten(1).double().mean(0).clamp(0, 1)
    p = (p * len(data) + smoothing) / (len(data) + 2 * smoothing)
    return torch.log(p) - torch.log1p(-p)


def _visible_step(rbm: RBM, h: torch.Tensor, beta: float, base: torch.Tensor | None,
                  generator: torch.Generator) -> torch.Tensor:
    """A draw of v given h under ``p*_β``: the base model's and the RBM's visible biases mixed by β."""
    top_down = beta * (h @ rbm.weight.weight)
    if base is None:  # Gaussian units: the same visible term at every β
        return rbm.visible.sample(rbm.visible.mean(top_down), generator)
    return torch.bernoulli(torch.sigmoid((1 - beta) * base + beta * rbm.visible.bias + top_down), generator=generator)


@torch.no_grad()
def ais_log_partition(rbm: RBM, *, runs: int = 100, betas: torch.Tensor | None = None,
                      base_biases: torch.Tensor | None = None, seed: int = 0) -> AISResult:
    """Estimate ``log Z`` of ``rbm`` by AIS.

    Parameters
    ----------
    rbm
        A trained RBM (Bernoulli or Gaussian visible units; Gaussian σ is taken as it is).
    runs
        Parallel AIS runs (the paper uses 100).
    betas
        The inverse temperatures, starting at 0 and ending at 1 (default :func:`paper_betas`).
    base_biases
        Binary units: the base model's visible biases (default 0, a uniform base; pass :func:`base_rate_biases` of
        the training data for the paper's base-rate model).
    seed
        Seed of the run's random draws: the same seed gives the same estimate.
    """
    betas = paper_betas() if betas is None else torch.as_tensor(betas, dtype=torch.float64)
    if betas.ndim != 1 or len(betas) < 2 or betas[0] != 0 or betas[-1] != 1 or (betas.diff() < 0).any():
        raise NeuralabError("betas must rise from 0 to 1; got a schedule of " + str(tuple(betas.shape)))
    device = rbm.weight.weight.device
    generator = torch.Generator(device=device).manual_seed(seed)
    rbm = rbm.double()
    try:
        gaussian = isinstance(rbm.visible, GaussianUnits)
        if not gaussian and not isinstance(rbm.visible, BernoulliUnits):
            raise NeuralabError(f"AIS knows Bernoulli and Gaussian visible units; got {type(rbm.visible).__name__}")
        if gaussian:
            base = None
            log_z_a = float(rbm.visible.log_normaliser()) + rbm.hidden_size * math.log(2)
            v = rbm.visible.sample(rbm.visible.mean(torch.zeros(runs, rbm.in_features, dtype=torch.float64,
                                                                device=device)), generator)
        else:
            base = (torch.zeros(rbm.in_features) if base_biases is None else base_biases).double().to(device)
            log_z_a = float(F.softplus(base).sum()) + rbm.hidden_size * math.log(2)
            v = torch.bernoulli(torch.sigmoid(base).expand(runs, -1), generator=generator)
        log_w = torch.zeros(runs, dtype=torch.float64, device=device)
        shift = None if base is None else rbm.visible.bias - base  # log p*_β's visible term grows by β·v·(b − b_A)
        with _threads_for(rbm, runs):
            for previous, beta in zip(betas[:-1].tolist(), betas[1:].tolist()):
                # log p*_β(v) − log p*_previous(v): Π_j (1 + exp(β·(c_j + W_j·v))) at both βs (at β = 0 it is the
                # base model's 2^H from its weightless hidden units), and the visible term's change.
                pre = rbm.weight(rbm.visible.drive(v))  # (runs, H), the hidden biases included
                log_w += F.softplus(beta * pre).sum(-1) - F.softplus(previous * pre).sum(-1)
                if shift is not None:
                    log_w += (beta - previous) * (v @ shift)
                h = torch.bernoulli(torch.sigmoid(beta * pre), generator=generator)  # one Gibbs step at β
                v = _visible_step(rbm, h, beta, base, generator)
    finally:
        rbm.float()
    return _summarise(log_w, log_z_a, runs, len(betas))


def _summarise(log_w: torch.Tensor, log_z_a: float, runs: int, n_betas: int) -> AISResult:
    """``log Z`` from the log weights, with ``log(mean(w) ± 3·std(w)/√runs)`` as bounds (−inf when it crosses 0)."""
    top = float(log_w.max())
    w = (log_w - top).exp()
    mean, error = float(w.mean()), float(w.std(correction=1) / math.sqrt(runs)) if runs > 1 else 0.0
    low = math.log(mean - 3 * error) if mean > 3 * error else -math.inf
    return AISResult(log_z_a + top + math.log(mean), log_z_a + top + low, log_z_a + top + math.log(mean + 3 * error),
                     runs, n_betas, log_z_a)


@torch.no_grad()
def exact_log_partition(rbm: RBM) -> float:
    """``log Z`` by summing over every binary state of the smaller layer (at most 20 units): for tests and tiny
    models."""
    if rbm.in_features <= 20 and isinstance(rbm.visible, BernoulliUnits):
        states = _all_states(rbm.in_features).to(rbm.weight.weight)
        return float(torch.logsumexp(-rbm.free_energy(states).double(), 0))
    if rbm.hidden_size <= 20:
        h = _all_states(rbm.hidden_size).double().to(rbm.weight.weight.device)
        w, c, b = rbm.weight.weight.double(), rbm.weight.bias.double(), rbm.visible.bias.double()
        top = h @ w  # (2^H, V): each hidden state's top-down input Wᵀh
        if isinstance(rbm.visible, BernoulliUnits):
            # Σ_v exp(−E(v, h)) factorises over visible units: Π_i (1 + exp(b_i + (Wᵀh)_i)), times exp(c·h).
            return float(torch.logsumexp(h @ c + F.softplus(b + top).sum(-1), 0))
        # Gaussian units: ∫ exp(−Σ (v − b)²/2σ² + (v/σ)·Wᵀh) dv = (2π)^{V/2} Π σ · exp(b·Wᵀh/σ + ½‖Wᵀh‖²).
        sigma = rbm.visible.sigma.double()
        inner = h @ c + (top * b / sigma).sum(-1) + 0.5 * (top ** 2).sum(-1)
        return float(torch.logsumexp(inner, 0) + rbm.visible.log_normaliser().double())
    raise NeuralabError("exact log Z needs at most 20 units in one layer (20 visible binary ones, or 20 hidden)")


def _all_states(n: int) -> torch.Tensor:
    """Every binary vector of length ``n``: ``(2**n, n)``."""
    return ((torch.arange(2 ** n)[:, None] >> torch.arange(n)) & 1).float()


@contextlib.contextmanager
def _threads_for(rbm: RBM, runs: int) -> Iterator[None]:
    """One intra-op thread for a small model: its thousands of tiny steps otherwise spend most of their time in
    OpenMP's spin-waits (14× slower on a busy 2-core machine); the thread count is restored afterwards."""
    small = rbm.in_features * rbm.hidden_size * runs < 20_000_000
    threads = torch.get_num_threads()
    if small and threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
