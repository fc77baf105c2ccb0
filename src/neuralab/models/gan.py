"""Generative adversarial networks: a generator ``G`` turns noise ``z`` into images, a discriminator ``D`` tells them
from real ones, and each learns against the other.

- ``architecture="mlp"``: fully connected ``G`` and ``D``, as in Goodfellow et al. (2014), "Generative Adversarial
  Nets" (LeakyReLU instead of maxout units).
- ``architecture="dcgan"``: Radford, Metz & Chintala (2016), "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks": ``G`` projects ``z`` to a small feature map and doubles it twice by
  transposed convolutions, with batch norm and ReLU, tanh at the output; ``D`` halves the image twice by strided
  convolutions with LeakyReLU (0.2) and batch norm after the first layer, then one linear unit.
- ``conditional=True``: Mirza & Osindero (2014), "Conditional Generative Adversarial Nets": the class label is an
  input of both, one-hot beside ``z`` in ``G``, and beside the pixels (as constant planes) in ``D``.

Losses, on ``D``'s logits ``l``: ``minimax`` (the paper's game: ``G`` minimises ``log(1 − D(G(z)))``),
``non_saturating`` (``G`` maximises ``log D(G(z))`` instead: the paper's practical advice, and the default),
``hinge`` (Lim & Ye 2017; Miyato et al. 2018) and ``wgan_gp`` (Gulrajani et al. 2017, "Improved Training of
Wasserstein GANs": a critic with a gradient penalty of weight ``gp_weight``; ``D`` then has no batch norm). One-sided
label smoothing (Salimans et al. 2016) makes the real target ``1 − label_smoothing`` in the two cross-entropy losses.

Training goes through the engine: ``train_step`` takes ``n_critic`` steps of ``D`` and one of ``G`` on each batch,
each through ``optimizers.update`` with its own optimiser (the groups ``generator`` and ``discriminator``); ``G``
learns from the last critic step's fakes, through the updated ``D``, as in PyTorch's DCGAN example. Images
are in [0, 1] outside the model (the data's pixels, and what ``sample`` returns), in [−1, 1] inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints

__all__ = ["GAN", "GAN_LOSSES"]

GAN_LOSSES = ("minimax", "non_saturating", "hinge", "wgan_gp")


def _shape(in_features: int, in_channels: int, image_size: int | Sequence[int] | None) -> tuple[int, int, int]:
    """``(C, H, W)`` of the images: from ``image_size`` or, for flat square images, from ``in_features``."""
    if image_size is None:
        side = round((in_features / in_channels) ** 0.5)
        if side * side * in_channels != in_features:
            raise NeuralabError(f"cannot lay {in_features} features out as square images of {in_channels} channel(s); "
                                "give image_size")
        return in_channels, side, side
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    return in_channels, h, w


class _MLPGenerator(nn.Module):
    def __init__(self, latent: int, shape: tuple[int, int, int], hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        layers += [nn.Linear(width, shape[0] * shape[1] * shape[2]), nn.Tanh()]
        self.net, self.shape = nn.Sequential(*layers), shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)  # (B, C, H, W) in [-1, 1]


class _MLPDiscriminator(nn.Module):
    def __init__(self, shape: tuple[int, int, int], extra: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = shape[0] * shape[1] * shape[2] + extra
        for size in reversed(tuple(hidden_sizes)):
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        h = x.flatten(1)
        return self.net(h if extra is None else torch.cat([h, extra], 1)).squeeze(1)  # (B,) logits


class _DCGenerator(nn.Module):
    def __init__(self, latent: int, shape: tuple[int, int, int], channels: int) -> None:
        super().__init__()
        c, h, w = shape
        self.start = (channels * 2, h // 4, w // 4)
        self.project = nn.Sequential(nn.Linear(latent, channels * 2 * (h // 4) * (w // 4), bias=False),
                                     nn.BatchNorm1d(channels * 2 * (h // 4) * (w // 4)), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(channels * 2, channels, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(), nn.ConvTranspose2d(channels, c, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(len(z), *self.start))  # (B, C, H, W) in [-1, 1]


class _DCDiscriminator(nn.Module):
    def __init__(self, shape: tuple[int, int, int], extra: int, channels: int, batch_norm: bool) -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c + extra, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1, bias=not batch_norm),
            nn.BatchNorm2d(channels * 2) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(channels * 2 * (h // 4) * (w // 4), 1))

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        if extra is not None:  # the one-hot label as constant planes beside the pixels
            x = torch.cat([x, extra[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.net(x).squeeze(1)  # (B,) logits


class GAN(nn.Module):
    """A generator and a discriminator trained against each other (MLP or DCGAN, optionally conditional).

    Parameters
    ----------
    in_features, in_channels, image_size
        The images' size: ``in_channels`` × ``image_size`` (``(H, W)`` or one side), or square images of
        ``in_features`` values. The DCGAN needs H and W divisible by 4.
    latent_dim
        Dimension of the noise ``z ~ N(0, I)`` (100 in both papers).
    architecture
        ``mlp`` or ``dcgan``.
    hidden_sizes
        The MLP generator's hidden widths (the discriminator's are the same, reversed).
    channels
        The DCGAN's narrowest feature maps (the next have twice as many).
    conditional, n_classes
        Feed the class label (0 .. n_classes − 1) to both networks.
    loss
        One of :data:`GAN_LOSSES`.
    n_critic
        Discriminator steps per generator step (5 is usual with ``wgan_gp``).
    label_smoothing
        One-sided: the real images' target is ``1 − label_smoothing`` (cross-entropy losses only).
    gp_weight
        The gradient penalty's weight λ for ``wgan_gp`` (10 in the paper).
    """

    def __init__(self, in_features: int = 784, *, in_channels: int = 1, image_size: int | Sequence[int] | None = None,
                 latent_dim: int = 100, architecture: str = "dcgan", hidden_sizes: Sequence[int] = (256, 512),
                 channels: int = 64, conditional: bool = False, n_classes: int = 10, loss: str = "non_saturating",
                 n_critic: int = 1, label_smoothing: float = 0.0, gp_weight: float = 10.0) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim, channels=channels, n_critic=n_critic, n_classes=n_classes)
        if loss not in GAN_LOSSES:
            raise NeuralabError(f"loss must be one of {', '.join(GAN_LOSSES)}; got {loss!r}")
        if architecture not in ("mlp", "dcgan"):
            raise NeuralabError(f"architecture must be mlp or dcgan; got {architecture!r}")
        if not 0.0 <= label_smoothing < 0.5:
            raise NeuralabError(f"label_smoothing must be in [0, 0.5); got {label_smoothing}")
        self.image_shape = _shape(in_features, in_channels, image_size)
        c, h, w = self.image_shape
        if architecture == "dcgan" and (h % 4 or w % 4):
            raise NeuralabError(f"the DCGAN halves the image twice: its height and width must be multiples of 4; "
                                f"got {h}×{w} (use architecture: mlp)")
        self.latent_dim, self.architecture, self.loss_name = latent_dim, architecture, loss
        self.conditional, self.n_classes = bool(conditional), n_classes
        self.n_critic, self.label_smoothing, self.gp_weight = n_critic, float(label_smoothing), float(gp_weight)
        extra = n_classes if self.conditional else 0
        if architecture == "mlp":
            self.generator: nn.Module = _MLPGenerator(latent_dim + extra, self.image_shape, hidden_sizes)
            self.discriminator: nn.Module = _MLPDiscriminator(self.image_shape, extra, hidden_sizes)
        else:
            self.generator = _DCGenerator(latent_dim + extra, self.image_shape, channels)
            self.discriminator = _DCDiscriminator(self.image_shape, extra, channels, batch_norm=loss != "wgan_gp")
        for module in self.modules():  # DCGAN's initialisation: N(0, 0.02) weights, batch norm's scale N(1, 0.02)
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    # --- the two networks -------------------------------------------------------------------------------------

    def _labels(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
        """One-hot labels ``(n, n_classes)`` for a conditional model; ``None`` otherwise."""
        if not self.conditional:
            return None
        if labels is None:
            raise NeuralabError("this GAN is conditional: give the class labels (e.g. --label 7)")
        labels = torch.as_tensor(labels, device=device).long().reshape(-1)
        if len(labels) == 1 and n > 1:
            labels = labels.expand(n)
        if len(labels) != n or (labels < 0).any() or (labels >= self.n_classes).any():
            raise NeuralabError(f"labels must be {n} class numbers from 0 to {self.n_classes - 1}")
        return F.one_hot(labels, self.n_classes).to(next(self.parameters()).dtype)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device if generator else device)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [−1, 1], ``(B, C, H, W)``, from noise ``z`` ``(B, latent_dim)``."""
        one_hot = self._labels(labels, len(z), z.device)
        return self.generator(z if one_hot is None else torch.cat([z, one_hot], 1))

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D``'s logits ``(B,)`` for images in [−1, 1] (any layout with C·H·W values per image)."""
        x = x.reshape(len(x), *self.image_shape)
        return self.discriminator(x, self._labels(labels, len(x), x.device))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] from noise: what a user of the generator sees."""
        return (self.generate(z, labels) + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Any = None) -> torch.Tensor:
        """``n`` images in [0, 1], ``(n, C, H, W)``; a conditional model needs ``labels`` (one, or ``n``)."""
        z = self.noise(n, generator).to(next(self.parameters()).device)
        return self(z, labels)

    # --- the game ---------------------------------------------------------------------------------------------

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        if self.loss_name == "wgan_gp":
            return fake.mean() - real.mean()
        target = torch.full_like(real, 1.0 - self.label_smoothing)
        return (F.binary_cross_entropy_with_logits(real, target)
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    def _g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "minimax":
            return -F.softplus(fake).mean()  # log(1 − σ(l)) = −softplus(l): G minimises it
        if self.loss_name == "non_saturating":
            return F.softplus(-fake).mean()  # −log σ(l)
        return -fake.mean()  # hinge and WGAN: G raises the critic's score of its images

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """``(‖∇_x̂ D(x̂)‖ − 1)²`` at random points between real and fake images."""
        t = torch.rand(len(real), 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = (t * real + (1 - t) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminate(mixed, labels).sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def _unpack(self, batch: Sequence[torch.Tensor] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = batch if isinstance(batch, torch.Tensor) else batch[0]
        labels = None if isinstance(batch, torch.Tensor) or len(batch) < 2 else batch[1]
        if self.conditional and labels is None:
            raise NeuralabError("a conditional GAN trains on labelled images")
        x = x.reshape(len(x), *self.image_shape).to(next(self.parameters()).dtype) * 2 - 1  # [0, 1] → [−1, 1]
        return x, labels if self.conditional else None

    def train_step(self, batch: Sequence[torch.Tensor], optimizers: Any) -> dict[str, torch.Tensor]:
        """``n_critic`` steps of ``D`` on this batch, each against fresh fakes, then one step of ``G``.

        As in PyTorch's DCGAN example, the last critic step's fakes are made with the generator's graph kept: ``D``
        learns from them detached, then ``G`` learns through the updated ``D`` from the same fakes, so a step costs
        one generator pass. ``D``'s weights take no gradient from ``G``'s step.
        """
        real, labels = self._unpack(batch)
        for step in range(self.n_critic):
            last = step == self.n_critic - 1
            with torch.set_grad_enabled(last):
                fake = self.generate(self.noise(len(real)), labels)
            real_logits = self.discriminate(real, labels)
            fake_logits = self.discriminate(fake.detach(), labels)
            d_loss = self._d_loss(real_logits, fake_logits)
            if self.loss_name == "wgan_gp":
                d_loss = d_loss + self.gp_weight * self._gradient_penalty(real, fake.detach(), labels)
            optimizers.update(d_loss, "discriminator")
        self.discriminator.requires_grad_(False)
        try:
            g_loss = self._g_loss(self.discriminate(fake, labels))
            optimizers.update(g_loss, "generator")
        finally:
            self.discriminator.requires_grad_(True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **_judged(real_logits, fake_logits)}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """How ``D`` judges held-out real images and as many fakes (from a fixed seed, so epochs compare)."""
        if batches is None:
            return {}
        generator = torch.Generator(device=next(self.parameters()).device).manual_seed(0)
        totals: dict[str, float] = {}
        count = 0
        for batch in batches:
            real, labels = self._unpack(batch)
            fake = self.generate(self.noise(len(real), generator), labels)
            real_logits, fake_logits = self.discriminate(real, labels), self.discriminate(fake, labels)
            values = {"d_loss": self._d_loss(real_logits, fake_logits), "g_loss": self._g_loss(fake_logits),
                      **_judged(real_logits, fake_logits)}
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(real)
            count += len(real)
        return {key: value / count for key, value in totals.items()} if count else {}


def _judged(real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """D(x) and D(G(z)) (mean probabilities), and D's accuracy on each (a logit above 0 says "real")."""
    return {"d_real": torch.sigmoid(real).mean().detach(), "d_fake": torch.sigmoid(fake).mean().detach(),
            "d_accuracy_real": (real > 0).float().mean(), "d_accuracy_fake": (fake <= 0).float().mean()}
