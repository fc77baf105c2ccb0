"""Optimisers by name, plus Fahlman's Quickprop as a ``torch.optim.Optimizer``.

References
----------
Fahlman, S. E. (1988). An empirical study of learning speed in back-propagation networks. Technical report
CMU-CS-88-162, Carnegie Mellon University.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

from neuralab.errors import NeuralabError
from neuralab.nn._checks import check_float, check_keywords, init_keywords, lookup

__all__ = ["OPTIMIZERS", "Quickprop", "build_optimizer"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


def _quickprop_step(g: Tensor, g_prev: Tensor, step_prev: Tensor, lr: float, mu: float) -> Tensor:
    """The Quickprop weight change for one tensor, element-wise (see :class:`Quickprop`)."""
    descent = -lr * g
    same_sign = g * g_prev > 0
    denom = g_prev - g
    # Guard the division: g == g_prev either means both are 0 (factor 0: stay put) or a slope that did not shrink,
    # which the growth limit below replaces by mu anyway.
    factor = g / torch.where(denom == 0, torch.ones_like(denom), denom)
    # The parabola's minimum is too far ahead (factor > mu) or lies behind us on a slope that is not shrinking
    # (same sign and |g| >= |g_prev|, so the secant points uphill or to infinity): take the largest allowed step.
    too_far = (factor > mu) | (same_sign & (g.abs() >= g_prev.abs()))
    factor = torch.where(too_far, torch.full_like(factor, mu), factor)
    secant = factor * step_prev + torch.where(same_sign, descent, torch.zeros_like(descent))
    return torch.where(step_prev == 0, descent, secant)


class Quickprop(Optimizer):
    r"""Quickprop (Fahlman, 1988): a per-weight secant (quasi-Newton) step on the error curve.

    Each weight is treated on its own, as if the error were a parabola in that weight. From the current slope
    :math:`g_t = \partial E / \partial w` (plus ``weight_decay * w``, Fahlman's decay term), the previous slope
    :math:`g_{t-1}` and the previous step :math:`\Delta w_{t-1}`:

    .. math::

        \Delta w_t = \begin{cases}
            -\eta\, g_t & \text{if } \Delta w_{t-1} = 0 \text{ (first step, or restart)} \\
            f_t\, \Delta w_{t-1} + [g_t g_{t-1} > 0]\,(-\eta\, g_t) & \text{otherwise}
        \end{cases}

    with the secant factor :math:`f_t = g_t / (g_{t-1} - g_t)` (the jump to the minimum of the parabola through the
    two slopes) limited by the maximum growth factor :math:`\mu`: when :math:`f_t > \mu`, or when the slope kept its
    sign without shrinking (:math:`g_t g_{t-1} > 0` and :math:`|g_t| \ge |g_{t-1}|`, where the secant points uphill
    or divides by zero), :math:`f_t = \mu`. Hence :math:`|f_t \Delta w_{t-1}| \le \mu |\Delta w_{t-1}|`. The
    gradient-descent term :math:`-\eta g_t` is added only while the slope keeps the sign of the previous slope, i.e.
    the minimum has not been crossed yet; after a crossing the step is the pure secant step back into the valley.
    This is Fahlman's rule; his reference code tests the slope against the sign of the previous step instead, which
    is the same test whenever that step went downhill.

    On an exact quadratic the secant step from two points lands on the minimum, so Quickprop can converge in a
    couple of steps along each weight. It assumes the weights are roughly independent and the gradient is exact:
    use it with full-batch (or large-batch) gradients, as in the paper. The state per parameter is the previous step
    and the previous slope, both tensors, so ``state_dict`` round-trips.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or parameter groups, as for any ``torch.optim.Optimizer``.
    lr : float, default 1e-3
        Learning rate :math:`\eta` of the gradient-descent term (Fahlman's epsilon); must be > 0.
    mu : float, default 1.75
        Maximum growth factor: no step is more than ``mu`` times the previous one (Fahlman recommends 1.75).
    weight_decay : float, default 0.0
        Added to the slope as ``weight_decay * w``; must be >= 0.

    Raises
    ------
    NeuralabError
        If a hyper-parameter is out of range.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> opt = Quickprop([w], lr=0.75)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w - 1.0).pow(2).sum().backward()
    ...     _ = opt.step()
    >>> w.data
    tensor([1.])
    """

    def __init__(self, params: Params, lr: float = 1e-3, mu: float = 1.75, weight_decay: float = 0.0) -> None:
        defaults = {
            "lr": check_float("lr", lr, positive=True),
            "mu": check_float("mu", mu, positive=True),
            "weight_decay": check_float("weight_decay", weight_decay, positive=False),
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one Quickprop update; ``closure`` re-evaluates the model and returns the loss, as in torch."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, weight_decay = group["lr"], group["mu"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise NeuralabError("Quickprop does not support sparse gradients; use a dense embedding")
                g = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
                state = self.state[p]
                if not state:
                    state["prev_step"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["prev_grad"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                step = _quickprop_step(g, state["prev_grad"], state["prev_step"], lr, mu)
                p.add_(step)
                state["prev_step"].copy_(step)
                state["prev_grad"].copy_(g)
        return loss


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": SGD,
    "nesterov": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "quickprop": Quickprop,
}

# Names that are presets of the same class; explicit keywords override these.
_PRESETS: dict[str, dict[str, Any]] = {
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
}


def build_optimizer(name: str, params: Params, lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimiser by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`OPTIMIZERS`: ``sgd`` (plain SGD), ``momentum`` (SGD, momentum 0.9), ``nesterov``
        (SGD with Nesterov momentum 0.9), ``adagrad``, ``rmsprop``, ``adam``, ``adamw``, ``quickprop``.
    params : iterable of Tensor or dict
        ``model.parameters()`` or a list of parameter groups.
    lr : float
        Learning rate; a positive finite number.
    **kwargs
        Other keywords of the optimiser's constructor (``momentum``, ``weight_decay``, ``betas``, ``mu`` ...),
        checked against its signature.

    Returns
    -------
    torch.optim.Optimizer
        A new optimiser over ``params``.

    Raises
    ------
    NeuralabError
        If ``name`` is unknown, ``lr`` is not a positive finite number, a keyword is not accepted by that optimiser
        (the message names the closest valid keyword), or torch rejects a value.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.zeros(3))
    >>> build_optimizer("nesterov", [w], lr=0.1).defaults["momentum"]
    0.9
    """
    cls = lookup("optimizer", name, OPTIMIZERS)
    lr = check_float("lr", lr, positive=True)
    check_keywords(f"optimizer {name!r}", kwargs, init_keywords(cls, exclude=("params", "lr")))
    try:
        return cls(params, lr=lr, **{**_PRESETS.get(name, {}), **kwargs})
    except ValueError as exc:  # torch's own checks, e.g. an empty parameter list or a negative momentum
        message = " ".join(str(exc).split())
        raise NeuralabError(f"optimizer {name!r}: {message}") from exc
