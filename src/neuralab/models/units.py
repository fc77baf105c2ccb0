"""Visible units of a restricted Boltzmann machine: Bernoulli (binary pixels) and Gaussian (real values).

A unit type holds the visible biases (and, for Gaussian units, the standard deviations) and says four things:
its part of the energy, what the hidden units see of a visible vector, the visible mean given the hidden units'
top-down input, and how to sample around that mean. An :class:`~neuralab.models.rbm.RBM` is written against these
four, so a new kind of visible unit (softmax units for ratings) is one more class here.

The Gaussian parameterisation is that of Hinton's practical guide (2010, section 13.2)::

    E(v, h) = Σ_i (v_i − b_i)² / 2σ_i²  −  Σ_j c_j h_j  −  Σ_ij (v_i / σ_i) W_ij h_j

so a hidden unit sees ``v / σ`` and a visible unit's mean is ``b + σ·(W h)``. With σ = 1 (standardised data, the
guide's advice) the hidden units see the data itself.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["VisibleUnits", "BernoulliUnits", "GaussianUnits", "VISIBLE_UNITS"]

LOG_2PI = math.log(2 * math.pi)


class VisibleUnits(nn.Module):
    """The visible layer of an RBM: its biases ``b`` and the four operations an RBM needs."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.bias = nn.Parameter(torch.zeros(size))

    def energy(self, v: torch.Tensor) -> torch.Tensor:
        """The visible-only part of ``E(v, h)``, per row: ``(B, V) → (B,)``."""
        raise NotImplementedError

    def drive(self, v: torch.Tensor) -> torch.Tensor:
        """What the hidden units see of ``v``: ``(B, V)``."""
        return v

    def mean(self, top_down: torch.Tensor) -> torch.Tensor:
        """``E[v | h]`` from the hidden units' top-down input ``h Wᵀ``, ``(B, V)``."""
        raise NotImplementedError

    def sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw of ``v`` around ``mean`` (what ``mean`` returned)."""
        raise NotImplementedError


class BernoulliUnits(VisibleUnits):
    """Binary units: ``p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)``; energy ``−b·v``."""

    def energy(self, v: torch.Tensor) -> torch.Tensor:
        return -(v @ self.bias)

    def mean(self, top_down: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(top_down + self.bias)

    def sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(mean, generator=generator)


class GaussianUnits(VisibleUnits):
    """Real-valued units with a Gaussian given the hidden units, ``v_i | h ~ N(b_i + σ_i (W h)_i, σ_i²)``.

    ``learn_sigma=False`` (the default) keeps σ = 1, for data standardised per feature; learning σ is possible but
    fragile (the guide advises against it), so it is an option.
    """

    def __init__(self, size: int, learn_sigma: bool = False) -> None:
        super().__init__(size)
        self.log_sigma = nn.Parameter(torch.zeros(size), requires_grad=learn_sigma)

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def energy(self, v: torch.Tensor) -> torch.Tensor:
        return ((v - self.bias) ** 2 / (2 * self.sigma ** 2)).sum(-1)

    def drive(self, v: torch.Tensor) -> torch.Tensor:
        return v / self.sigma

    def mean(self, top_down: torch.Tensor) -> torch.Tensor:
        return self.bias + self.sigma * top_down

    def sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.sigma * noise

    def log_normaliser(self) -> torch.Tensor:
        """``log ∫ exp(−Σ (v − b)² / 2σ²) dv = Σ_i ½ log(2π σ_i²)``: the visible part of a base model's log Z."""
        return (0.5 * LOG_2PI + self.log_sigma).sum()


VISIBLE_UNITS: dict[str, type[VisibleUnits]] = {"bernoulli": BernoulliUnits, "gaussian": GaussianUnits}

