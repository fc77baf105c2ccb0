"""Learning-rate schedules by name, with an optional linear warm-up.

Only torch's built-in schedulers are used, never ``LambdaLR``, so that ``scheduler.state_dict()`` holds nothing but
tensors and plain Python values and a checkpoint can be saved without pickle.

References
----------
Loshchilov, I. & Hutter, F. (2017). SGDR: stochastic gradient descent with warm restarts. ICLR.
Smith, L. N. & Topin, N. (2019). Super-convergence: very fast training of neural networks using large learning
rates. SPIE.
Goyal, P. et al. (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour. arXiv:1706.02677.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from neuralab.errors import NeuralabError
from neuralab.nn._checks import check_float, check_keywords, lookup

__all__ = ["SCHEDULES", "WARMUP_START_FACTOR", "MomentumSwitch", "Schedule", "build_scheduler"]

#: The warm-up starts at this fraction of the base learning rate (LinearLR needs a factor > 0).
WARMUP_START_FACTOR = 1e-3

#: Schedule name -> the keywords it accepts, with their defaults.
SCHEDULES: dict[str, dict[str, Any]] = {
    "none": {},
    "constant": {},
    "step": {"step_size": None, "gamma": 0.1},
    "cosine": {"min_lr": 0.0},
    "one_cycle": {
        "max_lr": None,
        "pct_start": 0.3,
        "anneal_strategy": "cos",
        "div_factor": 25.0,
        "final_div_factor": 1e4,
        "three_phase": False,
        "cycle_momentum": None,
    },
    "momentum": {"initial": 0.5, "final": 0.9, "switch_epoch": 5},
    "plateau": {
        "monitor": "val_loss",
        "mode": "min",
        "factor": 0.1,
        "patience": 10,
        "threshold": 1e-4,
        "cooldown": 0,
        "min_lr": 0.0,
    },
}


@dataclass
class Schedule:
    """A scheduler plus how the training loop must drive it.

    Attributes
    ----------
    scheduler : LRScheduler or ReduceLROnPlateau
        A torch scheduler bound to the optimiser.
    interval : {"epoch", "step"}
        Call ``scheduler.step()`` after every epoch or after every optimiser step.
    monitor : str or None
        For ``ReduceLROnPlateau``, the metric to pass as ``scheduler.step(metrics[monitor])`` at the end of each
        epoch; ``None`` for the other schedulers, whose ``step()`` takes no argument.
    """

    scheduler: LRScheduler | ReduceLROnPlateau
    interval: Literal["epoch", "step"]
    monitor: str | None = None


def _positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise NeuralabError(f"{name} must be a positive int; got {value!r}")
    return value


def _warmup_steps(warmup_epochs: float, epochs: int, steps_per_epoch: int, name: str) -> int:
    """Warm-up length in optimiser steps (at least 1 when ``warmup_epochs > 0``); checks it leaves room."""
    if check_float("warmup_epochs", warmup_epochs, positive=False) == 0:
        return 0
    if name in ("one_cycle", "plateau", "momentum"):
        hint = "one_cycle has its own warm-up (pct_start)" if name == "one_cycle" else "use step or cosine"
        raise NeuralabError(f"warmup_epochs is not supported with the {name!r} schedule; {hint}")
    warm, total = max(1, round(warmup_epochs * steps_per_epoch)), epochs * steps_per_epoch
    # A constant lr may warm up for the whole run; the other schedules need at least one step after the warm-up.
    if warm > total or (warm == total and name not in ("none", "constant")):
        raise NeuralabError(
            f"warmup_epochs must leave steps for the {name!r} schedule; got {warmup_epochs} warm-up epochs "
            f"({warm} steps) in a run of {epochs} epochs ({total} steps); lower it, e.g. "
            f"--set scheduler.warmup_epochs=0"
        )
    return warm


def _step(optimizer: Optimizer, opts: dict[str, Any], epochs: int, steps_per_epoch: int, warm: int) -> Schedule:
    """StepLR every ``step_size`` epochs (counted in steps when it follows a warm-up)."""
    step_size = max(1, epochs // 3) if opts["step_size"] is None else _positive_int("step_size", opts["step_size"])
    if warm:
        return Schedule(StepLR(optimizer, step_size * steps_per_epoch, gamma=opts["gamma"]), "step")
    return Schedule(StepLR(optimizer, step_size, gamma=opts["gamma"]), "epoch")


def _cosine(optimizer: Optimizer, opts: dict[str, Any], epochs: int, steps_per_epoch: int, warm: int) -> Schedule:
    """Cosine annealing from the base lr to ``min_lr`` over the steps left after the warm-up."""
    total = epochs * steps_per_epoch - warm
    return Schedule(CosineAnnealingLR(optimizer, T_max=total, eta_min=opts["min_lr"]), "step")


def _one_cycle(optimizer: Optimizer, opts: dict[str, Any], epochs: int, steps_per_epoch: int, warm: int) -> Schedule:
    """OneCycleLR peaking at ``max_lr`` (default: each group's current lr)."""
    max_lr = opts["max_lr"]
    if max_lr is None:
        max_lr = [group["lr"] for group in optimizer.param_groups]
    cycle_momentum = opts["cycle_momentum"]
    if cycle_momentum is None:
        # Cycling momentum on an optimiser without momentum (plain SGD, Adagrad) would switch momentum on or fail.
        cycle_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
    kwargs = {k: v for k, v in opts.items() if k not in ("max_lr", "cycle_momentum")}
    scheduler = OneCycleLR(
        optimizer, max_lr, total_steps=epochs * steps_per_epoch, cycle_momentum=cycle_momentum, **kwargs
    )
    return Schedule(scheduler, "step")


def _plateau(optimizer: Optimizer, opts: dict[str, Any], epochs: int, steps_per_epoch: int, warm: int) -> Schedule:
    """ReduceLROnPlateau on the ``monitor`` metric, once per epoch."""
    monitor = opts["monitor"]
    if not isinstance(monitor, str) or not monitor:
        raise NeuralabError(f"monitor must be a metric name such as 'val_loss'; got {monitor!r}")
    kwargs = {k: v for k, v in opts.items() if k != "monitor"}
    return Schedule(ReduceLROnPlateau(optimizer, **kwargs), "epoch", monitor)


class MomentumSwitch(LRScheduler):
    """Hinton's momentum schedule for RBMs (2010, "A Practical Guide to Training Restricted Boltzmann Machines",
    section 9): momentum ``initial`` (0.5) for the first ``switch_epoch`` epochs, while the weights are still far from
    a good region, then ``final`` (0.9). The learning rate is left as it is. For Adam-style optimisers the momentum is
    beta1."""

    def __init__(self, optimizer: Optimizer, initial: float = 0.5, final: float = 0.9, switch_epoch: int = 5,
                 last_epoch: int = -1) -> None:
        for name, value in (("initial", initial), ("final", final)):
            if not 0.0 <= check_float(name, value, positive=False) < 1.0:
                raise NeuralabError(f"momentum {name} must be in [0, 1); got {value}")
        self.initial, self.final = float(initial), float(final)
        self.switch_epoch = _positive_int("switch_epoch", switch_epoch)
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise NeuralabError(f"the momentum schedule needs an optimiser with momentum (sgd, momentum, nesterov, "
                                f"rmsprop) or betas (adam, adamw); got {type(optimizer).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:  # noqa: D102
        super().step()
        momentum = self.initial if self.last_epoch < self.switch_epoch else self.final
        for group in self.optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                group["momentum"] = momentum


def _momentum(optimizer: Optimizer, opts: dict[str, Any], epochs: int, steps_per_epoch: int, warm: int) -> Schedule:
    """Momentum ``initial`` for ``switch_epoch`` epochs, then ``final``; the lr is constant."""
    return Schedule(MomentumSwitch(optimizer, **opts), "epoch")


_BUILDERS = {"step": _step, "cosine": _cosine, "one_cycle": _one_cycle, "plateau": _plateau, "momentum": _momentum}


def build_scheduler(
    name: str,
    optimizer: Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0,
    **kwargs: Any,
) -> Schedule | None:
    """Build a learning-rate schedule by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`SCHEDULES`:

        - ``none`` / ``constant``: keep the optimiser's lr (returns ``None`` unless there is a warm-up);
        - ``step``: multiply the lr by ``gamma`` (0.1) every ``step_size`` epochs (default ``epochs // 3``);
        - ``cosine``: cosine annealing to ``min_lr`` (0.0), reached after the last step;
        - ``one_cycle``: OneCycleLR over ``epochs * steps_per_epoch`` steps, peaking at ``max_lr`` (default: the
          optimiser's lr); also takes ``pct_start, anneal_strategy, div_factor, final_div_factor, three_phase`` and
          ``cycle_momentum`` (default: only when the optimiser uses momentum or betas);
        - ``plateau``: ReduceLROnPlateau on ``monitor`` ("val_loss"), with ``mode, factor, patience, threshold,
          cooldown, min_lr``.
    optimizer : torch.optim.Optimizer
        The optimiser whose lr is scheduled; its current lr is the base lr.
    epochs : int
        Number of epochs of the run.
    steps_per_epoch : int
        Optimiser steps per epoch (batches per epoch).
    warmup_epochs : float, default 0
        Length of a linear warm-up from ``WARMUP_START_FACTOR`` times the base lr to the base lr, in epochs (may be
        fractional; rounded to whole steps, at least one). The main schedule starts after it, both driven per step
        through a ``SequentialLR``. Not available with ``one_cycle`` (which has its own) nor ``plateau``.
    **kwargs
        The schedule's keywords (see above).

    Returns
    -------
    Schedule or None
        The scheduler with its interval (and monitor), or ``None`` for a constant lr without warm-up.

    Raises
    ------
    NeuralabError
        If ``name`` is unknown, a keyword is not accepted by that schedule (the message names the closest valid
        one), ``epochs`` / ``steps_per_epoch`` are not positive ints, the warm-up is too long or not supported, or
        torch rejects a value.

    Examples
    --------
    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> build_scheduler("cosine", opt, epochs=10, steps_per_epoch=5, warmup_epochs=1).interval
    'step'
    """
    defaults = lookup("schedule", name, SCHEDULES)
    check_keywords(f"schedule {name!r}", kwargs, defaults)
    epochs = _positive_int("epochs", epochs)
    steps_per_epoch = _positive_int("steps_per_epoch", steps_per_epoch)
    warm = _warmup_steps(warmup_epochs, epochs, steps_per_epoch, name)
    opts = {**defaults, **kwargs}
    try:
        if name in ("none", "constant"):
            if not warm:
                return None
            return Schedule(LinearLR(optimizer, WARMUP_START_FACTOR, 1.0, total_iters=warm), "step")
        # The warm-up is built first so that it records each group's base lr as 'initial_lr' for the main schedule.
        warmup = LinearLR(optimizer, WARMUP_START_FACTOR, 1.0, total_iters=warm) if warm else None
        main = _BUILDERS[name](optimizer, opts, epochs, steps_per_epoch, warm)
        if warmup is None:
            return main
        return Schedule(SequentialLR(optimizer, [warmup, main.scheduler], milestones=[warm]), "step")
    except (ValueError, TypeError) as exc:  # torch's own checks, e.g. gamma or factor out of range
        if isinstance(exc, NeuralabError):
            raise
        message = " ".join(str(exc).split())
        raise NeuralabError(f"schedule {name!r}: {message}") from exc
