"""Weight penalties (L1, L2) and the max-norm constraint.

By default the penalties cover weight tensors only, i.e. parameters with at least two dimensions (the weights of
``Linear``, convolution and recurrent layers, embeddings), and skip biases and normalisation parameters, which are
one-dimensional and are usually left unpenalised.

L2 penalty versus weight decay
------------------------------
The gradient of ``λ/2 · ||w||²`` is ``λ·w``, so with plain SGD adding ``λ/2 · l2_penalty(model)`` to the loss is the
same as ``SGD(weight_decay=λ)``. With adaptive optimisers (Adam, RMSprop) the two differ: the penalty's gradient is
rescaled by the adaptive step, whereas decoupled weight decay (``AdamW``; Loshchilov & Hutter, 2019, "Decoupled
weight decay regularization") shrinks every weight by the same factor. Prefer ``adamw`` with ``weight_decay`` for
Adam-style training, and this penalty when the penalised objective itself is wanted (and for L1, which has no
decoupled counterpart in torch).

References
----------
Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. & Salakhutdinov, R. (2014). Dropout: a simple way to
prevent neural networks from overfitting. JMLR 15, 1929-1958 (max-norm, section 5.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from neuralab.nn._checks import check_float

__all__ = ["Penalty", "apply_max_norm", "l1_penalty", "l2_penalty"]

# Layers whose weight has one row per unit (output feature or output channel) along dim 0.
_MAX_NORM_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _parameters(module: nn.Module | Sequence[Tensor]) -> list[Tensor]:
    """A module's parameters, or the given list of them (one optimiser's group)."""
    return list(module.parameters()) if isinstance(module, nn.Module) else list(module)


def _penalised(module: nn.Module | Sequence[Tensor], include_bias: bool) -> list[Tensor]:
    """Parameters to penalise: every one with ``include_bias``, else those with at least two dimensions."""
    return [p for p in _parameters(module) if include_bias or p.ndim >= 2]


def _zero(module: nn.Module | Sequence[Tensor]) -> Tensor:
    """A scalar zero on the device and dtype of the module's first parameter (CPU float32 if it has none)."""
    p = next(iter(_parameters(module)), None)
    return torch.zeros(()) if p is None else torch.zeros((), device=p.device, dtype=p.dtype)


def l1_penalty(module: nn.Module | Sequence[Tensor], *, include_bias: bool = False) -> Tensor:
    """Sum of absolute values of the module's weights, ``Σ |w|``.

    Parameters
    ----------
    module : nn.Module or sequence of Tensor
        The model, all of whose parameters are visited, trainable or not; or a list of parameters (one group).
    include_bias : bool, default False
        Also penalise one-dimensional parameters (biases, normalisation scales and shifts).

    Returns
    -------
    Tensor
        A differentiable scalar; zero when there is nothing to penalise.

    Examples
    --------
    >>> layer = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
    >>> l1_penalty(layer)
    tensor(3., grad_fn=<SumBackward0>)
    """
    params = _penalised(module, include_bias)
    if not params:
        return _zero(module)
    return torch.stack([p.abs().sum() for p in params]).sum()


def l2_penalty(module: nn.Module | Sequence[Tensor], *, include_bias: bool = False) -> Tensor:
    """Sum of squared weights, ``Σ w²`` (no factor ½; see the module docstring for weight decay).

    Adding ``λ/2 · l2_penalty(model)`` to the loss and training with plain SGD is the same as SGD with
    ``weight_decay=λ``; with Adam it is not (use decoupled weight decay, ``adamw``, there).

    Parameters
    ----------
    module : nn.Module or sequence of Tensor
        The model, all of whose parameters are visited, trainable or not; or a list of parameters (one group).
    include_bias : bool, default False
        Also penalise one-dimensional parameters (biases, normalisation scales and shifts).

    Returns
    -------
    Tensor
        A differentiable scalar; zero when there is nothing to penalise.
    """
    params = _penalised(module, include_bias)
    if not params:
        return _zero(module)
    return torch.stack([p.pow(2).sum() for p in params]).sum()


@torch.no_grad()
def apply_max_norm(module: nn.Module, max_norm: float, *, only: Sequence[Tensor] | None = None) -> None:
    """Rescale each unit's incoming weight vector to an L2 norm of at most ``max_norm``, in place.

    The max-norm constraint of Srivastava et al. (2014), applied after each optimiser step: for every ``Linear``
    layer each row of the weight (one output unit), and for every ``Conv1d/2d/3d`` layer each output channel's
    filter, is projected onto the ball of radius ``max_norm``. Vectors already inside the ball are left untouched,
    as are biases and other layer types (transposed convolutions, recurrent layers, embeddings).

    Parameters
    ----------
    module : nn.Module
        The model; every matching submodule is constrained.
    max_norm : float
        The radius ``c`` of the ball (Srivastava et al. use 3 to 4); must be > 0.
    only : sequence of Tensor, optional
        Constrain only layers whose weight is one of these (one optimiser's parameter group).

    Raises
    ------
    NeuralabError
        If ``max_norm`` is not a positive finite number.
    """
    max_norm = check_float("max_norm", max_norm, positive=True)
    chosen = None if only is None else {id(p) for p in only}
    for layer in module.modules():
        if not isinstance(layer, _MAX_NORM_LAYERS) or (chosen is not None and id(layer.weight) not in chosen):
            continue
        w = layer.weight  # (out, in) or (out, in / groups, *kernel)
        norms = w.flatten(1).norm(dim=1)  # (out,)
        # clamp_min guards the division for all-zero rows, whose scale is then clamped to 1 anyway.
        scale = (max_norm / norms.clamp_min(1e-12)).clamp(max=1.0)
        w.mul_(scale.view(-1, *([1] * (w.ndim - 1))))


@dataclass(frozen=True)
class Penalty:
    """The weight penalty ``l1 · Σ|w| + l2 · Σw²`` to add to the training loss.

    ``penalty(model)`` always returns a scalar tensor: a cheap zero (on the model's device) when both coefficients
    are 0. The training loop should test :attr:`active` and skip the call when it is ``False``.

    Parameters
    ----------
    l1 : float, default 0.0
        Coefficient of the L1 penalty; >= 0.
    l2 : float, default 0.0
        Coefficient of the L2 penalty ``Σw²`` (no ½: ``l2 = λ/2`` matches SGD ``weight_decay = λ``); >= 0.
    include_bias : bool, default False
        Also penalise biases and normalisation parameters.

    Raises
    ------
    NeuralabError
        If a coefficient is negative or not finite.

    Examples
    --------
    >>> penalty = Penalty(l2=1e-4)
    >>> penalty.active
    True
    >>> loss = penalty(nn.Linear(3, 1))  # add to the data loss before backward()
    """

    l1: float = 0.0
    l2: float = 0.0
    include_bias: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "l1", check_float("l1", self.l1, positive=False))
        object.__setattr__(self, "l2", check_float("l2", self.l2, positive=False))

    @property
    def active(self) -> bool:
        """Whether the penalty can be non-zero (some coefficient is > 0)."""
        return self.l1 > 0 or self.l2 > 0

    def __call__(self, module: nn.Module | Sequence[Tensor]) -> Tensor:
        """Return the penalty of ``module`` (or of a list of parameters) as a differentiable scalar."""
        total = _zero(module)
        if self.l1 > 0:
            total = total + self.l1 * l1_penalty(module, include_bias=self.include_bias)
        if self.l2 > 0:
            total = total + self.l2 * l2_penalty(module, include_bias=self.include_bias)
        return total
