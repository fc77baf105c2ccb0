"""Autoencoders: deep, sparse, denoising and contractive, in one class.

An encoder maps the input to a code ``h`` of ``latent_dim`` units and a decoder maps the code back to data space;
training minimises the reconstruction error plus an optional penalty that keeps the code from copying the input:

* **deep** (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks", Science 313):
  several hidden layers on each side and a small code;
* **sparse** (Ng, "Sparse autoencoder", CS294A lecture notes, 2011): ``sparsity="kl"`` adds
  ``Σ_j KL(ρ ‖ ρ̂_j)``, with ``ρ̂_j`` the mean activation of sigmoid code unit ``j`` over the batch and ``ρ`` the
  target; ``sparsity="l1"`` adds ``Σ_j |h_j|``;
* **denoising** (Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and composing robust features with
  denoising autoencoders", ICML): during training the input is corrupted and the *clean* input is the target;
* **contractive** (Rifai, Vincent, Muller, Glorot & Bengio 2011, "Contractive auto-encoders: explicit invariance
  during feature extraction", ICML): adds the squared Frobenius norm of the encoder's Jacobian ``‖∂h/∂x‖²_F``.

``output="bernoulli"`` treats pixels in [0, 1] as probabilities: the decoder returns logits and the reconstruction
error is the binary cross-entropy summed over pixels (nats per image). ``output="gaussian"`` uses ``½‖x̂ − x‖²``.

The encoder/decoder builders and input checks here are shared with :mod:`neuralab.models.vae`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError, did_you_mean
from neuralab.models.mlp import MLP
from neuralab.nn import get_activation

__all__ = ["Autoencoder"]

KERNEL, STRIDE, PADDING = 4, 2, 1  # each conv block halves the image; each transposed conv doubles it
EPS = 1e-6


def check_choice(name: str, value: str, options: Sequence[str]) -> None:
    """Raise a NeuralabError listing ``options`` when ``value`` is not one of them."""
    if value not in options:
        raise NeuralabError(f"{name} must be one of {', '.join(options)}; got {value!r}"
                            f"{did_you_mean(str(value), options)}")


def resolve_data_shape(in_features: int, in_channels: int, image_size: int | Sequence[int] | None,
                       architecture: str, conv_channels: Sequence[int]) -> tuple[int, ...]:
    """The shape of one example, ``(C, H, W)`` when ``image_size`` is given, else ``(in_features,)``, checked."""
    check_choice("architecture", architecture, ("mlp", "conv"))
    if not isinstance(in_features, int) or in_features < 1:
        raise NeuralabError(f"in_features must be a positive int; got {in_features!r}")
    if image_size is None:
        if architecture == "conv":
            raise NeuralabError("architecture='conv' needs image_size (an int or [height, width]); got None")
        return (in_features,)
    hw = [image_size, image_size] if isinstance(image_size, int) else list(image_size)
    if len(hw) != 2 or any(not isinstance(s, int) or s < 1 for s in hw):
        raise NeuralabError(f"image_size must be a positive int or [height, width]; got {image_size!r}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise NeuralabError(f"in_channels must be a positive int; got {in_channels!r}")
    shape = (in_channels, hw[0], hw[1])
    if math.prod(shape) != in_features:
        raise NeuralabError(f"in_features ({in_features}) must equal in_channels × height × width of image_size "
                            f"{shape} = {math.prod(shape)}")
    if architecture == "conv":
        if len(conv_channels) == 0 or any(not isinstance(c, int) or c < 1 for c in conv_channels):
            raise NeuralabError(f"conv_channels must list at least one positive int; got {list(conv_channels)}")
        factor = 2 ** len(conv_channels)
        if hw[0] % factor or hw[1] % factor:
            raise NeuralabError(f"image_size {hw[0]}×{hw[1]} must be divisible by 2**len(conv_channels) = {factor} "
                                f"(each conv block halves it); pad or crop the images, or use fewer conv_channels")
    return shape


def build_encoder(data_shape: tuple[int, ...], hidden_sizes: Sequence[int], out_features: int, *,
                  architecture: str, conv_channels: Sequence[int], activation: str, batch_norm: bool,
                  dropout: float) -> nn.Module:
    """Flat ``(B, D)`` → ``(B, out_features)``: an :class:`MLP`, or stride-2 conv blocks and a linear read-out."""
    if architecture == "mlp":
        return MLP(math.prod(data_shape), hidden_sizes, out_features, activation, dropout, batch_norm)
    if dropout > 0:
        raise NeuralabError(f"dropout applies to architecture='mlp' only; got dropout={dropout} with 'conv'")
    c, h, w = data_shape
    layers: list[nn.Module] = [nn.Unflatten(1, data_shape)]
    for c_out in conv_channels:
        layers += [nn.Conv2d(c, c_out, KERNEL, STRIDE, PADDING), *([nn.BatchNorm2d(c_out)] if batch_norm else []),
                   get_activation(activation)]
        c, h, w = c_out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, out_features)]
    return nn.Sequential(*layers)


def build_decoder(latent_dim: int, data_shape: tuple[int, ...], hidden_sizes: Sequence[int], *,
                  architecture: str, conv_channels: Sequence[int], activation: str, batch_norm: bool,
                  dropout: float) -> nn.Module:
    """``(B, latent_dim)`` → flat ``(B, D)`` pre-activations: the mirror image of :func:`build_encoder`."""
    if architecture == "mlp":
        return MLP(latent_dim, list(reversed(hidden_sizes)), math.prod(data_shape), activation, dropout, batch_norm)
    n = len(conv_channels)
    c, h, w = conv_channels[-1], data_shape[1] >> n, data_shape[2] >> n
    layers: list[nn.Module] = [nn.Linear(latent_dim, c * h * w), get_activation(activation),
                               nn.Unflatten(1, (c, h, w))]
    targets = [*reversed(conv_channels[:-1]), data_shape[0]]
    for i, c_out in enumerate(targets):
        layers.append(nn.ConvTranspose2d(c, c_out, KERNEL, STRIDE, PADDING))
        if i < n - 1:  # the last layer returns logits or means: no norm, no activation
            layers += [*([nn.BatchNorm2d(c_out)] if batch_norm else []), get_activation(activation)]
        c = c_out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def flatten_inputs(x: torch.Tensor, data_shape: tuple[int, ...], owner: str) -> torch.Tensor:
    """``x`` of shape ``(B, *data_shape)`` or ``(B, D)`` (any shape with D values per row) as ``(B, D)``."""
    n = math.prod(data_shape)
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x[0].numel() != n:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise NeuralabError(f"{owner} expects input of shape (B, {', '.join(map(str, data_shape))})"
                            f"{f' or (B, {n})' if len(data_shape) > 1 else ''}; got {got}")
    return x.reshape(x.shape[0], n)


def check_values(x: torch.Tensor, bernoulli: bool, arg: str) -> None:
    """Raise on non-finite values, and on values outside [0, 1] when the likelihood is Bernoulli (one host sync)."""
    finite, lo, hi = torch.stack([torch.isfinite(x).all().to(x.dtype), x.min(), x.max()]).tolist()
    if not finite:
        raise NeuralabError("input has NaN or infinite values; clean or impute the data before training")
    if bernoulli and (lo < 0 or hi > 1):
        hint = ("the pixels look like 0–255: divide by 255 (or use scaling: pixels in the recipe)" if hi > 1 else
                "the data look standardised: use scaling: pixels, or a gaussian output")
        raise NeuralabError(f"{arg}='bernoulli' needs inputs in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]; {hint}")


def reconstruction_error(out: torch.Tensor, x: torch.Tensor, output: str) -> torch.Tensor:
    """Per-example error ``(B,)`` of decoder pre-activations ``out`` against flat ``x``, summed over features."""
    if output == "bernoulli":
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
    return 0.5 * (out - x).pow(2).sum(1)


def _batch_inputs(batch: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The inputs ``x`` of a batch given as ``(x, y)``, ``(x,)`` or a bare tensor."""
    return batch if isinstance(batch, torch.Tensor) else batch[0]


class Autoencoder(nn.Module):
    """An encoder to a ``latent_dim`` code and a mirrored decoder, with optional sparsity, noise and contraction.

    Parameters
    ----------
    in_features
        Values per example (``C·H·W`` for images).
    hidden_sizes
        Widths of the encoder's hidden layers (mlp); the decoder uses them reversed.
    latent_dim
        Size of the code ``h``.
    activation
        Hidden-layer activation, a name from :data:`neuralab.nn.ACTIVATIONS`.
    code_activation
        Activation on the code: ``linear`` (default) or ``sigmoid`` (needed by ``sparsity="kl"``), ...
    architecture
        ``mlp``, or ``conv``: stride-2 convolutions (kernel 4) per ``conv_channels`` and transposed ones back.
    in_channels, image_size
        Image shape; with ``image_size`` the outputs have shape ``(B, C, H, W)``. Required for ``conv``.
    conv_channels
        Channels of each conv block (``conv`` only); each side of the image must divide by ``2**len``.
    output
        ``bernoulli`` (inputs in [0, 1], cross-entropy) or ``gaussian`` (``½`` squared error).
    sparsity, sparsity_weight, sparsity_target
        ``none``, ``l1`` (weight · ``Σ|h|``) or ``kl`` (weight · ``Σ_j KL(ρ‖ρ̂_j)`` with ``ρ = sparsity_target``).
    noise, noise_level
        Training-time corruption: ``gaussian`` (std ``noise_level``), ``masking`` or ``salt_pepper`` (a fraction
        ``noise_level`` of the inputs set to 0, or to 0 or 1).
    contractive_weight
        Weight of ``‖∂h/∂x‖²_F``; 0 turns it off.
    batch_norm, dropout
        As in :class:`MLP` (dropout: mlp only).

    Raises
    ------
    NeuralabError
        On a bad argument; the message names it and lists the valid options.

    Examples
    --------
    >>> ae = Autoencoder(in_features=64, hidden_sizes=[32], latent_dim=4)
    >>> ae(torch.rand(8, 64)).shape
    torch.Size([8, 64])
    >>> sorted(ae.loss((torch.rand(8, 64),)))
    ['loss', 'reconstruction']
    """

    def __init__(self, in_features: int = 784, hidden_sizes: Sequence[int] = (512, 256), latent_dim: int = 32, *,
                 activation: str = "relu", code_activation: str = "linear",
                 architecture: Literal["mlp", "conv"] = "mlp", in_channels: int = 1,
                 image_size: int | Sequence[int] | None = None, conv_channels: Sequence[int] = (32, 64),
                 output: Literal["bernoulli", "gaussian"] = "bernoulli",
                 sparsity: Literal["none", "l1", "kl"] = "none", sparsity_weight: float = 0.0,
                 sparsity_target: float = 0.05,
                 noise: Literal["none", "gaussian", "masking", "salt_pepper"] = "none", noise_level: float = 0.0,
                 contractive_weight: float = 0.0, batch_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise NeuralabError(f"latent_dim must be a positive int; got {latent_dim!r}")
        check_choice("output", output, ("bernoulli", "gaussian"))
        check_choice("sparsity", sparsity, ("none", "l1", "kl"))
        check_choice("noise", noise, ("none", "gaussian", "masking", "salt_pepper"))
        if sparsity == "kl" and code_activation != "sigmoid":
            raise NeuralabError(f"sparsity='kl' compares mean activations with a target in (0, 1), so it needs "
                                f"code_activation='sigmoid'; got code_activation={code_activation!r}")
        if sparsity == "kl" and not 0 < sparsity_target < 1:
            raise NeuralabError(f"sparsity_target must be in (0, 1); got {sparsity_target!r}")
        for name, value in (("sparsity_weight", sparsity_weight), ("noise_level", noise_level),
                            ("contractive_weight", contractive_weight)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise NeuralabError(f"{name} must be a finite number >= 0; got {value!r}")
        if noise in ("masking", "salt_pepper") and noise_level > 1:
            raise NeuralabError(f"noise_level is a fraction of the inputs for noise={noise!r}; expected [0, 1], "
                                f"got {noise_level}")
        self.data_shape = resolve_data_shape(in_features, in_channels, image_size, architecture, conv_channels)
        self.in_features, self.latent_dim = in_features, latent_dim
        self.architecture, self.output = architecture, output
        self.sparsity, self.sparsity_weight, self.sparsity_target = sparsity, float(sparsity_weight), sparsity_target
        self.noise, self.noise_level, self.contractive_weight = noise, float(noise_level), float(contractive_weight)
        parts = {"architecture": architecture, "conv_channels": list(conv_channels), "activation": activation,
                 "batch_norm": batch_norm, "dropout": dropout}
        self.encoder = build_encoder(self.data_shape, hidden_sizes, latent_dim, **parts)
        self.code_activation = get_activation(code_activation)
        self.decoder = build_decoder(latent_dim, self.data_shape, hidden_sizes, **parts)
        # ‖J‖²_F has a closed form for one linear layer and a sigmoid code (Rifai et al. 2011, eq. 5).
        self._closed_form = architecture == "mlp" and len(hidden_sizes) == 0 and code_activation == "sigmoid"
        self._checked = False  # loss checks its first batch only: no host sync per training step

    # -- the maps --------------------------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        """Shape and value checks for public methods; returns ``(B, D)``."""
        x = flatten_inputs(x, self.data_shape, type(self).__name__)
        check_values(x, self.output == "bernoulli", "output")
        return x

    def _code(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_activation(self.encoder(x))  # (B, D) → (B, K)

    def _data(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.output == "bernoulli" else out  # logits → probabilities

    def encoder_layers(self) -> list[nn.Module]:
        """The encoder's Linear and BatchNorm layers, in order, for pretraining a classifier
        (:func:`neuralab.models.pretrain.transfer_encoder`). Only an ``mlp`` encoder has them."""
        if self.architecture != "mlp":
            raise NeuralabError("pretraining copies the encoder of an Autoencoder with architecture='mlp'; this one "
                                f"is {self.architecture!r}")
        return [m for m in self.encoder.net if isinstance(m, (nn.Linear, nn.BatchNorm1d))]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code ``h`` of shape ``(B, latent_dim)`` for inputs ``(B, *data_shape)`` or ``(B, D)``."""
        return self._code(self._flat(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Data-space outputs ``(B, *data_shape)`` for codes ``(B, latent_dim)``: probabilities for bernoulli."""
        return self._data(self.decoder(z)).reshape(-1, *self.data_shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))`` in the shape of ``x`` (no corruption)."""
        return self._data(self.decoder(self._code(self._flat(x)))).reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example reconstruction error ``(B,)``, in the units of the loss's ``reconstruction`` term."""
        x = self._flat(x)
        return reconstruction_error(self.decoder(self._code(x)), x, self.output)

    @torch.no_grad()
    def mean_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Mean activation ``ρ̂_j`` of each code unit over ``x``: shape ``(latent_dim,)``."""
        return self.encode(x).mean(0)

    # -- regularisers ----------------------------------------------------------------------------------------------
    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x`` with the configured noise (a new tensor; ``x`` itself when ``noise`` is ``none`` or level 0).

        ``gaussian`` adds ``noise_level·N(0, 1)`` (clamped to [0, 1] for bernoulli), ``masking`` zeroes each value
        with probability ``noise_level``, ``salt_pepper`` sets each with that probability to 0 or 1 (even odds).
        """
        flatten_inputs(x, self.data_shape, type(self).__name__)
        return self._corrupt(x, generator)

    def _corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.noise == "none" or self.noise_level == 0:
            return x
        if self.noise == "gaussian":
            noisy = x + self.noise_level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            return noisy.clamp(0, 1) if self.output == "bernoulli" else noisy
        hit = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < self.noise_level
        if self.noise == "masking":
            return x.masked_fill(hit, 0)
        salt = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < 0.5
        return torch.where(hit, salt.to(x.dtype), x)

    def _sparsity(self, h: torch.Tensor) -> torch.Tensor:
        """The weighted sparsity penalty (a scalar) of codes ``h`` ``(B, K)``."""
        if self.sparsity == "l1":
            return self.sparsity_weight * h.abs().sum(1).mean()
        rho, rho_hat = self.sparsity_target, h.mean(0).clamp(EPS, 1 - EPS)  # (K,)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return self.sparsity_weight * kl.sum()

    def jacobian_penalty(self, x: torch.Tensor,
                         method: Literal["auto", "closed_form", "autograd"] = "auto") -> torch.Tensor:
        """``‖∂h/∂x‖²_F`` for each example, shape ``(B,)`` (unweighted).

        ``closed_form`` (one linear layer and a sigmoid code): ``Σ_j (h_j(1−h_j))² Σ_i W_ji²``; ``autograd``: one
        backward pass per code unit, with ``create_graph`` so the penalty can be trained; ``auto`` picks the first
        when it applies. With batch norm in training mode the examples interact; the autograd path then sums over the
        batch, as the penalty's gradient would.
        """
        check_choice("method", method, ("auto", "closed_form", "autograd"))
        if method == "closed_form" and not self._closed_form:
            raise NeuralabError("method='closed_form' needs architecture='mlp', hidden_sizes=[] and "
                                "code_activation='sigmoid'; use method='autograd'")
        x = self._flat(x)
        use_closed = self._closed_form if method == "auto" else method == "closed_form"
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x = x if use_closed else x.detach().requires_grad_(True)
            return self._jacobian(x, self._code(x), use_closed, create_graph)

    def _jacobian(self, x: torch.Tensor, h: torch.Tensor, closed_form: bool, create_graph: bool) -> torch.Tensor:
        if closed_form:
            w2 = self.encoder.net[0].weight.pow(2).sum(1)  # (K,): Σ_i W_ji²
            return (h * (1 - h)).pow(2) @ w2  # (B,)
        total = h.new_zeros(h.shape[0])
        for k in range(h.shape[1]):  # row k of every example's Jacobian at once: examples are independent
            (g,) = torch.autograd.grad(h[:, k].sum(), x, create_graph=create_graph, retain_graph=True)
            total = total + g.pow(2).sum(1)
        return total

    # -- the objective ---------------------------------------------------------------------------------------------
    def loss(self, batch: torch.Tensor | Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean reconstruction error of the clean inputs from (in training) corrupted ones, plus penalties.

        Returns
        -------
        dict
            ``loss`` (to backpropagate), ``reconstruction`` (nats or ½SE per example), and when active
            ``sparsity`` and ``contractive``, already weighted, so that ``loss`` is their sum.
        """
        x = flatten_inputs(_batch_inputs(batch), self.data_shape, type(self).__name__)
        if not self._checked:
            check_values(x, self.output == "bernoulli", "output")
            self._checked = True
        x_in = self._corrupt(x) if self.training else x
        contractive = self.contractive_weight > 0
        autograd_jacobian = contractive and not self._closed_form
        create_graph = torch.is_grad_enabled()
        # The Jacobian needs autograd even in validation (under no_grad); it then builds no second-order graph.
        with torch.enable_grad() if autograd_jacobian else contextlib.nullcontext():
            if autograd_jacobian:
                x_in = x_in.detach().requires_grad_(True)
            h = self._code(x_in)
            terms = {"reconstruction": reconstruction_error(self.decoder(h), x, self.output).mean()}
            if self.sparsity != "none":
                terms["sparsity"] = self._sparsity(h)
            if contractive:
                penalty = self._jacobian(x_in, h, self._closed_form, create_graph)
                terms["contractive"] = self.contractive_weight * penalty.mean()
        if not create_graph:  # validation: drop the graph that enable_grad built for the Jacobian
            terms = {key: value.detach() for key, value in terms.items()}
        return {"loss": sum(terms.values()), **terms}  # type: ignore[dict-item]
