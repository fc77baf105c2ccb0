"""How good generated images are, measured with a fixed classifier: FID and KID on its features, the classes it
sees in the samples, and each sample's nearest training image.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to the features of real and generated
images; KID (Bińkowski et al. 2018) the unbiased squared MMD with a cubic polynomial kernel. Both are torchmetrics'
(``feature=`` our module); the features are the penultimate layer of a neuralab classifier run, not Inception's, so
the numbers compare only with numbers from the same classifier (its weights' sha256 is reported beside them). FID
is biased upwards at small N, so it always comes with its floor: the FID of real against real images, same N.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError

__all__ = ["ClassifierFeatures", "class_histogram", "frechet_distance", "image_quality", "label_accuracy",
           "nearest_images", "weights_sha256"]

MODE_LOW, MODE_HIGH = 0.05, 0.20  # a class under 5% or over 20% of the samples: a mode-collapse warning


class ClassifierFeatures(nn.Module):
    """The penultimate activations of a trained image classifier (a neuralab CNN or MLP run's model), for
    torchmetrics' FID and KID. Inputs are images in [0, 1], ``(N, C, H, W)``, as the classifier was trained on."""

    def __init__(self, classifier: nn.Module, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.classifier, self.image_shape = classifier.eval(), tuple(image_shape)
        head = getattr(classifier, "head", classifier)
        layers = list(getattr(head, "net", head).children()) if hasattr(head, "net") else list(head.children())
        if not layers or not isinstance(layers[-1], nn.Linear):
            raise NeuralabError(f"{type(classifier).__name__} does not end in a linear layer; its penultimate "
                                "features cannot be taken")
        self.last = layers[-1]
        self.num_features = int(self.last.in_features)
        self._captured: torch.Tensor | None = None
        self.last.register_forward_hook(lambda module, args, out: setattr(self, "_captured", args[0]))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()  # 0..255 bytes, or [0, 1]
        x = x.reshape(len(x), *self.image_shape)
        device = next(self.classifier.parameters()).device
        self.classifier(x.to(device))
        return self._captured.flatten(1).float()

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's labels of images in [0, 1]."""
        device = next(self.classifier.parameters()).device
        return torch.cat([self.classifier(part.float().reshape(len(part), *self.image_shape).to(device)).argmax(1).cpu()
                          for part in _batches(images)])


def weights_sha256(model: nn.Module) -> str:
    """A fingerprint of a model's weights (names, shapes and bytes), to pin the classifier a score came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)``, the closed form that FID evaluates (scipy's ``sqrtm``)."""
    from scipy import linalg

    covmean = np.real(linalg.sqrtm(np.asarray(sigma1) @ np.asarray(sigma2)))
    diff = np.asarray(mu1) - np.asarray(mu2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _batches(images: torch.Tensor, size: int = 500) -> Iterator[torch.Tensor]:
    for start in range(0, len(images), size):
        yield images[start:start + size]


def image_quality(features: ClassifierFeatures, real: torch.Tensor, fake: torch.Tensor, *,
                  kid_subset: int = 1000) -> dict[str, float]:
    """FID and KID (mean ± std over subsets) of ``fake`` against ``real`` (same N), on the classifier's features."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    fid = FrechetInceptionDistance(feature=features, normalize=True)
    kid = KernelInceptionDistance(feature=features, normalize=True, subset_size=min(kid_subset, max(n // 2, 2)),
                                  subsets=50)
    for metric in (fid, kid):
        for part in _batches(real[:n]):
            metric.update(part, real=True)
        for part in _batches(fake[:n]):
            metric.update(part, real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std), "n": n}


@torch.no_grad()
def class_histogram(features: ClassifierFeatures, images: torch.Tensor, n_classes: int) -> dict[str, Any]:
    """The classifier's labels of ``images``: the share of each class, and a warning when one is under 5% or over
    20% (a sign of mode collapse, for ten balanced classes)."""
    labels = features.classify(images)
    share = torch.bincount(labels, minlength=n_classes).double() / max(len(labels), 1)
    low = [i for i in range(n_classes) if share[i] < MODE_LOW]
    high = [i for i in range(n_classes) if share[i] > MODE_HIGH]
    warning = None
    if low or high:
        warning = ("mode collapse: " + "; ".join(
            part for part in (f"classes {low} under {MODE_LOW:.0%}" if low else "",
                              f"classes {high} over {MODE_HIGH:.0%}" if high else "") if part))
    return {"n": len(labels), "share": [round(float(s), 4) for s in share], "warning": warning}


@torch.no_grad()
def label_accuracy(features: ClassifierFeatures, images: torch.Tensor, labels: torch.Tensor) -> float:
    """How often the classifier reads the label a conditional generator was asked for."""
    return float((features.classify(images) == labels.cpu()).double().mean())


def nearest_images(samples: torch.Tensor, training: torch.Tensor) -> torch.Tensor:
    """Each sample's nearest training image in pixel space (Euclidean), ``(S, ...)``: a memorisation check."""
    flat = training.flatten(1).float()
    queries = samples.flatten(1).float()
    squared = (queries.pow(2).sum(1, keepdim=True) - 2 * queries @ flat.T + flat.pow(2).sum(1)[None])
    return training[squared.argmin(1)]

