"""Reusable building blocks: activations (incl. the step), losses, optimisers (incl. Quickprop), schedules and
regularisers, each looked up by name through a plain dict and a ``get_*`` / ``build_*`` function."""

from neuralab.nn.activations import ACTIVATIONS, Step, get_activation
from neuralab.nn.losses import LOSSES, get_loss
from neuralab.nn.optim import OPTIMIZERS, Quickprop, build_optimizer
from neuralab.nn.regularizers import Penalty, apply_max_norm, l1_penalty, l2_penalty
from neuralab.nn.schedules import SCHEDULES, Schedule, build_scheduler

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Penalty",
    "Quickprop",
    "Schedule",
    "Step",
    "apply_max_norm",
    "build_optimizer",
    "build_scheduler",
    "get_activation",
    "get_loss",
    "l1_penalty",
    "l2_penalty",
]
