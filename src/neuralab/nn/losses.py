"""Loss functions by name, with the shape checks that torch leaves to broadcasting.

``F.mse_loss(pred, target)`` with a prediction of shape (N, 1) and a target of shape (N,) silently broadcasts to
(N, N) and returns a wrong number. The regression losses here align that common case and refuse any other mismatch.
All losses return the mean over elements.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralab.errors import NeuralabError
from neuralab.nn._checks import check_float, check_keywords, init_keywords, lookup

__all__ = [
    "LOSSES",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "MAELoss",
    "MSELoss",
    "get_loss",
]


def _align(name: str, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``pred, target`` with equal shapes, dropping a trailing size-1 dim from either; else raise."""
    if pred.shape != target.shape:
        if pred.ndim == target.ndim + 1 and pred.shape[-1] == 1 and pred.shape[:-1] == target.shape:
            pred = pred.squeeze(-1)
        elif target.ndim == pred.ndim + 1 and target.shape[-1] == 1 and target.shape[:-1] == pred.shape:
            target = target.squeeze(-1)
        else:
            raise NeuralabError(
                f"{name}: prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
                "expected equal shapes, or (N, 1) with (N,)"
            )
    # Integer or boolean targets (class labels, 0/1 flags) would make the backward pass fail on a dtype mismatch.
    return pred, target.to(pred.dtype)


class MSELoss(nn.Module):
    """Mean squared error ``mean((y - t)²)``, or ``½·mean((y - t)²)`` with ``half=True``.

    Parameters
    ----------
    half : bool, default False
        Multiply by ½, the textbook convention that makes the gradient with respect to each prediction
        ``(y - t) / N`` instead of ``2 (y - t) / N``.
    """

    def __init__(self, half: bool = False) -> None:
        super().__init__()
        self.half = bool(half)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred, target = _align("mse", pred, target)
        loss = F.mse_loss(pred, target)
        return 0.5 * loss if self.half else loss

    def extra_repr(self) -> str:
        return f"half={self.half}"


class MAELoss(nn.Module):
    """Mean absolute error ``mean(|y - t|)``."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred, target = _align("mae", pred, target)
        return F.l1_loss(pred, target)


class HuberLoss(nn.Module):
    """Huber loss: ½·e² where ``|e| <= delta``, ``delta·(|e| - ½·delta)`` beyond (Huber, 1964).

    Parameters
    ----------
    delta : float, default 1.0
        Where the loss switches from quadratic to linear; must be > 0.
    """

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = check_float("delta", delta, positive=True)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred, target = _align("huber", pred, target)
        return F.huber_loss(pred, target, delta=self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy on logits of shape (N, C) (or (N, C, d1, ...)) with integer class targets (N,).

    A target of shape (N, 1) is accepted for logits of shape (N, C). A class index outside ``0..C-1`` raises a
    :class:`NeuralabError` instead of torch's index error. On the CPU the range is checked only when torch
    complains, so the hot path pays nothing; on a GPU, where a bad class is a device-side assert that kills the
    process, it is checked before each call (one host-device synchronisation).

    Parameters
    ----------
    label_smoothing : float, default 0.0
        Mix the one-hot target with the uniform distribution by this amount, in [0, 1] (Szegedy et al., 2016).
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = check_float("label_smoothing", label_smoothing, positive=False)
        if self.label_smoothing > 1:
            raise NeuralabError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}")

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.ndim == 2 and target.ndim == 2 and target.shape[1] == 1:
            target = target.squeeze(1)
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise NeuralabError(
                f"cross_entropy target must hold integer class indices; got dtype {target.dtype} "
                "(convert with target.long())"
            )
        if logits.ndim < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
            raise NeuralabError(
                f"cross_entropy: logits shape {tuple(logits.shape)} does not match target shape "
                f"{tuple(target.shape)}; expected logits (N, C) with target (N,)"
            )
        # On the CPU torch raises a catchable IndexError for a bad class, so the range is checked only then, off the
        # hot path. On a GPU a bad class is a device-side assert that kills the process: check first (one sync).
        if logits.device.type != "cpu":
            self._check_classes(logits, target)
        try:
            return F.cross_entropy(logits, target.long(), label_smoothing=self.label_smoothing)
        except (IndexError, RuntimeError):
            self._check_classes(logits, target)
            raise

    @staticmethod
    def _check_classes(logits: Tensor, target: Tensor) -> None:
        n_classes = logits.shape[1]
        if target.numel() and bool((target.min() < 0) | (target.max() >= n_classes)):
            bad = target[(target < 0) | (target >= n_classes)][0].item()
            raise NeuralabError(
                f"cross_entropy target holds class {bad} but the logits have {n_classes} classes; "
                f"expected class indices in 0..{n_classes - 1}"
            ) from None

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class BCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy on logits (numerically stable log-sigmoid), targets in [0, 1].

    Prediction and target are aligned like the regression losses ((N, 1) with (N,)); integer targets are cast.

    Parameters
    ----------
    pos_weight : float or None, default None
        Weight of the positive class, e.g. ``n_negative / n_positive`` for an imbalanced problem; must be > 0.
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = None if pos_weight is None else check_float("pos_weight", pos_weight, positive=True)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, target = _align("bce", logits, target)
        pos_weight = None
        if self.pos_weight is not None:
            pos_weight = torch.tensor(self.pos_weight, dtype=logits.dtype, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}"


LOSSES: dict[str, type[nn.Module]] = {
    "mse": MSELoss,
    "mae": MAELoss,
    "huber": HuberLoss,
    "cross_entropy": CrossEntropyLoss,
    "bce": BCEWithLogitsLoss,
}


def get_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build a loss module by name; it is called as ``loss(prediction, target)`` and returns a scalar mean.

    Parameters
    ----------
    name : str
        One of ``mse, mae, huber, cross_entropy, bce`` (the keys of :data:`LOSSES`).
    **kwargs
        The loss's keywords: ``half`` (mse), ``delta`` (huber), ``label_smoothing`` (cross_entropy),
        ``pos_weight`` (bce).

    Returns
    -------
    nn.Module
        A new loss module.

    Raises
    ------
    NeuralabError
        If ``name`` is unknown, a keyword is not accepted by that loss (the message names the closest valid one), or
        a keyword value is out of range.

    Examples
    --------
    >>> loss = get_loss("mse", half=True)
    >>> loss(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]))
    tensor(1.2500)
    """
    cls = lookup("loss", name, LOSSES)
    check_keywords(f"loss {name!r}", kwargs, init_keywords(cls))
    return cls(**kwargs)
