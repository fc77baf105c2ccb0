"""The variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", ICLR), evaluated by
importance sampling as in Burda, Grosse & Salakhutdinov 2016 ("Importance Weighted Autoencoders", ICLR).

The encoder gives a diagonal Gaussian ``q(z|x) = N(mu, exp(logvar))``; the decoder gives ``p(x|z)``, Bernoulli
(logits, for pixels in [0, 1]) or Gaussian (a mean and a learned log-sigma per pixel). Training maximises the
evidence lower bound with one sample ``z = mu + sigma·eps`` (the reparameterisation trick)::

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  ≤  log p(x)

and the KL term has a closed form. ``loss`` is ``reconstruction + β·KL`` with ``β`` ramped linearly from 0 to
``beta`` over ``warmup_steps`` training steps (KL warm-up, Sønderby et al. 2016). ``binarize=True`` resamples each
training batch as ``Bernoulli(x)`` (dynamic binarisation, Salakhutdinov & Murray 2008). :meth:`VAE.importance_nll`
estimates ``−log p(x)`` with ``k`` importance samples, the number reported as "NLL" in the literature.

The encoder and decoder are built by :mod:`neuralab.models.autoencoder`'s builders (the encoder outputs
``2·latent_dim`` numbers: ``mu`` and ``logvar``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models.autoencoder import (
    build_decoder,
    build_encoder,
    check_choice,
    check_values,
    flatten_inputs,
    resolve_data_shape,
)

__all__ = ["VAE"]

LOG_2PI = math.log(2 * math.pi)


class VAE(nn.Module):
    """A variational autoencoder with a Gaussian code, a Bernoulli or Gaussian decoder and KL warm-up.

    Parameters
    ----------
    in_features
        Values per example (``C·H·W`` for images).
    hidden_sizes
        Encoder hidden widths (mlp); the decoder uses them reversed.
    latent_dim
        Size of ``z``.
    activation
        Hidden-layer activation, a name from :data:`neuralab.nn.ACTIVATIONS`.
    architecture, in_channels, image_size, conv_channels
        As in :class:`~neuralab.models.autoencoder.Autoencoder`: ``conv`` needs ``image_size`` divisible by
        ``2**len(conv_channels)``.
    likelihood
        ``bernoulli`` (inputs in [0, 1]) or ``gaussian`` (with a learned per-pixel ``log_sigma``).
    beta
        Weight of the KL term once warmed up (``beta > 1`` is the β-VAE of Higgins et al. 2017).
    warmup_steps
        Training steps over which the KL weight rises linearly from 0 to ``beta``; 0 for none.
    binarize
        Replace each training batch by ``Bernoulli(x)`` samples (bernoulli only); evaluation uses ``x`` as given.
    batch_norm
        Batch-normalise hidden layers.

    Examples
    --------
    >>> vae = VAE(in_features=64, hidden_sizes=[32], latent_dim=2)
    >>> sorted(vae.loss((torch.rand(8, 64),)))
    ['beta', 'elbo', 'kl', 'loss', 'reconstruction']
    >>> vae.sample(3).shape
    torch.Size([3, 64])
    """

    step: torch.Tensor

    def __init__(self, in_features: int = 784, hidden_sizes: Sequence[int] = (512, 256), latent_dim: int = 32, *,
                 activation: str = "relu", architecture: Literal["mlp", "conv"] = "mlp", in_channels: int = 1,
                 image_size: int | Sequence[int] | None = None, conv_channels: Sequence[int] = (32, 64),
                 likelihood: Literal["bernoulli", "gaussian"] = "bernoulli", beta: float = 1.0,
                 warmup_steps: int = 0, binarize: bool = False, batch_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise NeuralabError(f"latent_dim must be a positive int; got {latent_dim!r}")
        check_choice("likelihood", likelihood, ("bernoulli", "gaussian"))
        if not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
            raise NeuralabError(f"beta must be a finite number >= 0; got {beta!r}")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise NeuralabError(f"warmup_steps must be an int >= 0; got {warmup_steps!r}")
        if binarize and likelihood != "bernoulli":
            raise NeuralabError("binarize=True samples binary pixels, which needs likelihood='bernoulli'; "
                                f"got likelihood={likelihood!r}")
        self.data_shape = resolve_data_shape(in_features, in_channels, image_size, architecture, conv_channels)
        self.in_features, self.latent_dim, self.likelihood = in_features, latent_dim, likelihood
        self.beta, self.warmup_steps, self.binarize = float(beta), warmup_steps, bool(binarize)
        parts = {"architecture": architecture, "conv_channels": list(conv_channels), "activation": activation,
                 "batch_norm": batch_norm, "dropout": 0.0}
        self.encoder = build_encoder(self.data_shape, hidden_sizes, 2 * latent_dim, **parts)
        self.decoder = build_decoder(latent_dim, self.data_shape, hidden_sizes, **parts)
        # One learned noise level per pixel; without it a "Gaussian" NLL would not be a likelihood.
        self.register_parameter("log_sigma", nn.Parameter(torch.zeros(in_features)) if likelihood == "gaussian"
                                else None)
        # A buffer, not a Python int: it is saved in checkpoints, so a resumed run continues the warm-up exactly.
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self._checked = False  # loss checks its first batch only: no host sync per training step

    # -- the two distributions -------------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        """Shape and value checks for public methods; returns ``(B, D)``."""
        x = flatten_inputs(x, self.data_shape, "VAE")
        check_values(x, self.likelihood == "bernoulli", "likelihood")
        return x

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)  # (B, K) each
        return mu, logvar

    def log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` summed over features, from the decoder's raw outputs ``out`` ``(..., D)`` (logits or means);
        ``x`` broadcasts, so that importance samples share one ``x``."""
        if self.likelihood == "bernoulli":
            # log σ(o)·x + log(1 − σ(o))·(1 − x) = x·o − softplus(o): the stable form of −BCE-with-logits.
            return (x * out - F.softplus(out)).sum(-1)
        r = (x - out) * torch.exp(-self.log_sigma)  # standardised residuals
        return -0.5 * (r.pow(2) + 2 * self.log_sigma + LOG_2PI).sum(-1)

    def _decode_draws(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs ``(..., D)`` for codes ``(..., K)`` with any leading axes (draws, examples)."""
        return self.decoder(z.reshape(-1, self.latent_dim)).reshape(*z.shape[:-1], self.in_features)

    def _data(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    @staticmethod
    def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``KL(N(mu, exp(logvar)) ‖ N(0, I))`` per row ``(B,)``: ``½ Σ (mu² + σ² − 1 − log σ²)``."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)

    def _terms(self, x: torch.Tensor, generator: torch.Generator | None = None,
               eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(−log p(x|z), KL)`` per example with ``z = mu + σ·eps`` (reparameterised): one fresh draw, or the
        reconstruction term averaged over the draws of a given ``eps`` (``(B, K)`` or ``(S, B or 1, K)``)."""
        mu, logvar = self._posterior(x)
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps  # (B, K) or (S, B, K)
        log_px = self.log_likelihood(self._decode_draws(z), x)  # (B,) or (S, B)
        return -(log_px if log_px.dim() == 1 else log_px.mean(0)), self.kl_divergence(mu, logvar)

    def _check_eps(self, eps: torch.Tensor, batch: int) -> torch.Tensor:
        """``eps`` checked to be ``(B, K)`` or ``(S, B or 1, K)``, on the model's device and dtype."""
        k = self.latent_dim
        if not isinstance(eps, torch.Tensor) or not (
                (eps.dim() == 2 and tuple(eps.shape) == (batch, k))
                or (eps.dim() == 3 and eps.shape[0] >= 1 and eps.shape[1] in (1, batch) and eps.shape[2] == k)):
            got = tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
            raise NeuralabError(f"eps must have shape (B, latent_dim) = ({batch}, {k}), or (S, {batch}, {k}) or "
                                f"(S, 1, {k}) for S draws; got {got}")
        ref = next(self.encoder.parameters())
        return eps.to(ref.device, ref.dtype)

    # -- public maps -----------------------------------------------------------------------------------------------
    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q(z|x)``, each ``(B, latent_dim)``."""
        return self._posterior(self._flat(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``mu`` ``(B, latent_dim)``."""
        return self.encode_distribution(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (bernoulli) or means (gaussian) ``(B, *data_shape)`` for codes ``(B, latent_dim)``."""
        return self._data(self.decoder(z)).reshape(-1, *self.data_shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(mu(x))`` in the shape of ``x``."""
        return self._data(self.decoder(self._posterior(self._flat(x))[0])).reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws ``z ~ N(0, I)``: probabilities or means, shape ``(n, *data_shape)``."""
        if not isinstance(n, int) or n < 1:
            raise NeuralabError(f"n must be a positive int; got {n!r}")
        ref = next(self.decoder.parameters())
        return self.decode(torch.randn((n, self.latent_dim), generator=generator, dtype=ref.dtype, device=ref.device))

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode ``steps`` points on the line from ``mu(x_a)`` to ``mu(x_b)``: shape ``(steps, *data_shape)``.

        ``x_a`` and ``x_b`` are single examples, with or without a batch axis of 1.
        """
        if not isinstance(steps, int) or steps < 2:
            raise NeuralabError(f"steps must be an int >= 2; got {steps!r}")
        for name, x in (("x_a", x_a), ("x_b", x_b)):
            if x.numel() != self.in_features:
                raise NeuralabError(f"{name} must be one example of shape {self.data_shape}; got {tuple(x.shape)}")
        mu_a, mu_b = self.encode(x_a.reshape(1, -1)), self.encode(x_b.reshape(1, -1))  # (1, K)
        t = torch.linspace(0, 1, steps, dtype=mu_a.dtype, device=mu_a.device).unsqueeze(1)  # (steps, 1)
        return self.decode((1 - t) * mu_a + t * mu_b)

    # -- evaluation ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None, *,
             eps: torch.Tensor | None = None) -> torch.Tensor:
        """The ELBO per example ``(B,)``, in nats (β = 1): ``E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))``.

        Parameters
        ----------
        x
            Inputs ``(B, *data_shape)`` or ``(B, D)``.
        generator
            Seeds the one posterior draw per example when ``eps`` is not given.
        eps
            Fixed standard-normal noise, ``z = mu + σ·eps``: ``(B, latent_dim)`` for one draw per example, or
            ``(S, B, latent_dim)`` / ``(S, 1, latent_dim)`` for ``S`` draws, whose ``log p(x|z)`` are averaged (the
            closed-form KL needs no draws). With ``(S, 1, latent_dim)`` every example sees the same draws, so its
            ELBO does not depend on the other rows of the batch: a deterministic score.

        Returns
        -------
        Tensor
            ``(B,)``, a Monte Carlo estimate of a lower bound on ``log p(x)``.

        Raises
        ------
        NeuralabError
            On a bad input, or ``eps`` of another shape (both shapes are shown).

        Examples
        --------
        >>> vae = VAE(in_features=6, hidden_sizes=[4], latent_dim=2)
        >>> vae.elbo(torch.rand(3, 6), eps=torch.randn(16, 1, 2)).shape
        torch.Size([3])
        """
        x = self._flat(x)
        recon, kl = self._terms(x, generator, None if eps is None else self._check_eps(eps, x.shape[0]))
        return -(recon + kl)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``−ELBO`` per example ``(B,)``: high for inputs the model finds unlikely."""
        return -self.elbo(x, generator)

    @torch.no_grad()
    def importance_nll(self, x: torch.Tensor, k: int = 5000, chunk: int = 500,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-sampled ``−log p(x)`` per example ``(B,)`` (Burda et al. 2016, eq. 8).

        ``−log (1/k Σ_i p(x, z_i) / q(z_i|x))`` with ``z_i ~ q(z|x)``, by a running logsumexp over chunks of
        ``chunk`` samples, so memory grows with ``chunk × B × D``, not ``k``. An upper bound on the true NLL that
        tightens as ``k`` grows; ``k = 1`` is ``−ELBO`` in expectation.
        """
        for name, value in (("k", k), ("chunk", chunk)):
            if not isinstance(value, int) or value < 1:
                raise NeuralabError(f"{name} must be a positive int; got {value!r}")
        x = self._flat(x)
        mu, logvar = self._posterior(x)  # (B, K)
        std = torch.exp(0.5 * logvar)
        total = torch.full(mu.shape[:1], -math.inf, dtype=mu.dtype, device=mu.device)
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn((c, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + std * eps  # (c, B, K)
            log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)  # (c, B)
            log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_px = self.log_likelihood(self._decode_draws(z), x)  # (c, B)
            total = torch.logaddexp(total, torch.logsumexp(log_px + log_prior - log_q, dim=0))
        return -(total - math.log(k))

    # -- the objective ---------------------------------------------------------------------------------------------
    def kl_weight(self) -> torch.Tensor:
        """The KL weight at the current ``step``: ``beta · min(1, step / warmup_steps)`` (a scalar tensor)."""
        if self.warmup_steps == 0:
            return torch.full((), self.beta, device=self.step.device)
        return self.beta * (self.step.float() / self.warmup_steps).clamp(max=1.0)

    def loss(self, batch: torch.Tensor | Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Negative ELBO with the warm-up KL weight, averaged over the batch; advances ``step`` in training.

        Warm-up is a training device only: in eval mode the KL weight is the full ``beta``, so that a validation
        loss (early stopping, the best checkpoint) always measures the objective the model is meant to reach.

        Returns
        -------
        dict
            ``loss`` (``reconstruction + β·kl``, to backpropagate), ``reconstruction`` (``−log p(x|z)``), ``kl``,
            ``elbo`` (with β = 1) and ``beta`` (the KL weight used), each a mean over the batch in nats.
        """
        x = flatten_inputs(batch if isinstance(batch, torch.Tensor) else batch[0], self.data_shape, "VAE")
        if not self._checked:
            check_values(x, self.likelihood == "bernoulli", "likelihood")
            self._checked = True
        if self.training and self.binarize:
            x = torch.bernoulli(x)
        beta = self.kl_weight() if self.training else torch.full((), self.beta, device=self.step.device)
        if self.training:
            self.step += 1
        recon, kl = self._terms(x)
        recon, kl = recon.mean(), kl.mean()
        return {"loss": recon + beta * kl, "reconstruction": recon, "kl": kl, "elbo": -(recon + kl),
                "beta": beta.detach()}
