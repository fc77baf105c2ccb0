"""Activation functions by name, including the Heaviside step of the classic perceptron.

Every entry of :data:`ACTIVATIONS` is an ``nn.Module`` class; :func:`get_activation` builds one by name and checks
its keywords. Only :class:`Step` is ours, the rest are ``torch.nn`` classes.

References
----------
Rosenblatt, F. (1958). The perceptron: a probabilistic model for information storage and organization in the brain.
Bengio, Y., Léonard, N. & Courville, A. (2013). Estimating or propagating gradients through stochastic neurons for
conditional computation. arXiv:1308.3432.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neuralab.nn._checks import check_keywords, init_keywords, lookup

__all__ = ["ACTIVATIONS", "Step", "get_activation"]


class _StepFunction(torch.autograd.Function):
    """Heaviside forward; zero or straight-through (hardtanh) backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, straight_through: bool) -> Tensor:
        ctx.straight_through = straight_through
        if straight_through:
            ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        if not ctx.straight_through:
            # The true derivative of a step is 0 everywhere except at 0, where it does not exist.
            return torch.zeros_like(grad_output), None
        (x,) = ctx.saved_tensors
        # Straight-through estimator: use the derivative of hardtanh, 1 on [-1, 1] and 0 outside, so that units
        # far from the threshold (saturated) stop receiving gradient.
        return grad_output * (x.abs() <= 1).to(grad_output.dtype), None


class Step(nn.Module):
    """Heaviside step ``H(x) = 1 if x >= 0 else 0`` (so ``H(0) = 1``: a unit fires at its threshold).

    The output has the dtype of the input and holds only 0 and 1.

    The true derivative of a step is zero almost everywhere (and undefined at 0), so a network of step units, such as
    Rosenblatt's perceptron, cannot be trained by backpropagation: every gradient that passes through a step is 0.
    With ``straight_through=True`` the forward pass is still the exact step, but the backward pass uses the
    straight-through estimator (STE) of Bengio et al. (2013) in its hardtanh form: the incoming gradient is passed
    through unchanged where ``|x| <= 1`` and set to 0 elsewhere. That is a biased but useful surrogate which lets
    binary units learn.

    Parameters
    ----------
    straight_through : bool, default False
        Use the straight-through (hardtanh) gradient instead of the true, zero gradient.

    Examples
    --------
    >>> Step()(torch.tensor([-0.5, 0.0, 2.0]))
    tensor([0., 1., 1.])
    """

    def __init__(self, straight_through: bool = False) -> None:
        super().__init__()
        self.straight_through = bool(straight_through)

    def forward(self, x: Tensor) -> Tensor:
        return _StepFunction.apply(x, self.straight_through)

    def extra_repr(self) -> str:
        return f"straight_through={self.straight_through}"


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "step": Step,
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softmax": nn.Softmax,
    "gelu": nn.GELU,
}

# Defaults that differ from torch's: nn.Softmax() has dim=None, which guesses the dimension; we want the last one.
_DEFAULTS: dict[str, dict[str, Any]] = {"softmax": {"dim": -1}}


def get_activation(name: str, **kwargs: Any) -> nn.Module:
    """Build an activation module by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`ACTIVATIONS`: ``step, linear, relu, leaky_relu, sigmoid, tanh, softmax, gelu``.
        ``linear`` is the identity; ``softmax`` normalises over the last dimension unless ``dim`` is given.
    **kwargs
        Keyword arguments of the activation's constructor, e.g. ``negative_slope`` for ``leaky_relu`` or
        ``straight_through`` for ``step``. Each is checked against the constructor's signature.

    Returns
    -------
    nn.Module
        A new activation module.

    Raises
    ------
    NeuralabError
        If ``name`` is unknown (the message lists the valid names) or a keyword is not accepted by that activation
        (the message names the closest valid keyword).

    Examples
    --------
    >>> get_activation("leaky_relu", negative_slope=0.2)
    LeakyReLU(negative_slope=0.2)
    """
    cls = lookup("activation", name, ACTIVATIONS)
    check_keywords(f"activation {name!r}", kwargs, init_keywords(cls))
    return cls(**{**_DEFAULTS.get(name, {}), **kwargs})
