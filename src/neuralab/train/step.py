"""One training step: the optimisers of a model's parameter groups, and the update that every step goes through.

A model trains by loss → backward → step (the engine's default step), or by its own ``train_step(batch,
optimizers)`` (a GAN's two players, an RBM's contrastive divergence). Either way each update goes through
:meth:`Optimizers.update`, so every model gets the same L1/L2 penalty, gradient all-reduce under torchrun, gradient
clipping, max-norm constraint and non-finite check::

    def train_step(self, batch, optimizers):
        d_loss = ...
        optimizers.update(d_loss, "discriminator")
        g_loss = ...
        optimizers.update(g_loss, "generator")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

A model names its parameter groups with ``optimizer_groups() -> dict[str, list[Parameter]]``; each group gets its
own optimiser, built from the recipe's ``optimizer`` section with that group's overrides (``optimizer.groups``), and
its own learning-rate schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from neuralab.errors import ConfigError, NeuralabError, did_you_mean
from neuralab.nn import Penalty, apply_max_norm, build_optimizer, build_scheduler
from neuralab.nn.schedules import Schedule
from neuralab.train.config import OptimizerConfig, SchedulerConfig, TrainerConfig
from neuralab.train.distributed import World

__all__ = ["Optimizers", "build_optimizers", "build_schedules", "parameter_groups", "make_step"]


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's named parameter groups: ``optimizer_groups()`` when it has one, else one group ``"model"``.

    ``optimizer_groups`` may return a dict (names are used in ``optimizer.groups``) or a list (groups are then
    named ``"0"``, ``"1"`` ...).
    """
    if not hasattr(model, "optimizer_groups"):
        return {"model": list(model.parameters())}
    groups = model.optimizer_groups()
    if isinstance(groups, Mapping):
        return {str(name): list(params) for name, params in groups.items()}
    return {str(i): list(params) for i, params in enumerate(groups)}


def _check_group_names(section: str, given: Mapping[str, Any], names: Sequence[str]) -> None:
    for name in given:
        if name not in names:
            raise ConfigError(f"{section}.groups.{name}: the model has no parameter group {name!r}"
                              f"{did_you_mean(name, names)}; its groups are: {', '.join(names)}")


def build_optimizers(model: nn.Module, config: OptimizerConfig | None) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per parameter group, each from ``config`` with its group's overrides."""
    config = config or OptimizerConfig()
    groups = parameter_groups(model)
    _check_group_names("optimizer", config.groups, list(groups))
    optimizers = {}
    for name, params in groups.items():
        cfg = config.for_group(name, "optimizer")
        optimizers[name] = build_optimizer(cfg.name, params, cfg.lr, **cfg.options)
    return optimizers


def build_schedules(optimizers: Mapping[str, torch.optim.Optimizer], config: SchedulerConfig, *, epochs: int,
                    steps_per_epoch: int) -> list[Schedule]:
    """A learning-rate schedule for every optimiser that its group's ``scheduler`` section asks for."""
    _check_group_names("scheduler", config.groups, list(optimizers))
    schedules = []
    for name, optimizer in optimizers.items():
        cfg = config.for_group(name, "scheduler")
        schedule = build_scheduler(cfg.name, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                   warmup_epochs=cfg.warmup_epochs, **cfg.options)
        if schedule is not None:
            schedules.append(schedule)
    return schedules


class Optimizers(Sequence[torch.optim.Optimizer]):
    """The optimisers of a model's parameter groups, by position or name, and :meth:`update`.

    Parameters
    ----------
    optimizers
        ``group name -> optimiser`` (a plain list gets the names ``"0"``, ``"1"`` ...).
    model
        The model being trained (for the penalty and the max-norm constraint).
    config
        The trainer config: ``l1``, ``l2``, ``grad_clip`` and ``max_norm`` apply to every update.
    team
        The process group under torchrun: gradients are averaged across processes before each step.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer] | Sequence[torch.optim.Optimizer],
                 model: nn.Module, config: TrainerConfig | None = None, team: World | None = None) -> None:
        if not isinstance(optimizers, Mapping):
            optimizers = {str(i): opt for i, opt in enumerate(optimizers)}
        config = config or TrainerConfig()
        self.by_name = dict(optimizers)
        self.names = list(self.by_name)
        self.model, self.team = model, team or World()
        self.grad_clip, self.max_norm = config.grad_clip, config.max_norm
        self.penalty = Penalty(l1=config.l1, l2=config.l2)
        self._params = {name: [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
                        for name, opt in self.by_name.items()}
        self.losses: list[torch.Tensor] = []  # every loss backpropagated since the engine last collected them
        # Where training stands, for models whose update changes over training (a DBN trains one layer after another):
        # the epoch being trained (1-based) and the number of epochs, set by the engine.
        self.epoch, self.epochs = 1, config.epochs

    def __getitem__(self, key: int | str | slice) -> Any:  # type: ignore[override]
        if isinstance(key, slice):
            return [self.by_name[name] for name in self.names[key]]
        if isinstance(key, str):
            if key not in self.by_name:
                raise NeuralabError(f"no optimiser for parameter group {key!r}{did_you_mean(key, self.names)}; "
                                    f"the groups are: {', '.join(self.names)}")
            return self.by_name[key]
        return self.by_name[self.names[key]]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return iter(self.by_name.values())

    def _name(self, group: int | str) -> str:
        self[group]  # raises for an unknown group
        return group if isinstance(group, str) else self.names[group]

    def update(self, loss: torch.Tensor, group: int | str = 0, *, retain_graph: bool = False) -> torch.Tensor:
        """One gradient step of ``group`` on ``loss``; returns the loss, detached.

        zero_grad → backward of ``loss`` plus the L1/L2 penalty on the group's weights → gradient all-reduce (under
        torchrun) → clipping to ``grad_clip`` → ``step()`` → the max-norm constraint. The loss is kept for the
        engine's non-finite check, which stops training at the first NaN or Inf with the epoch and step.
        """
        name = self._name(group)
        optimizer, params = self.by_name[name], self._params[name]
        total = loss
        if self.penalty.active:  # one group: the whole model, as before groups existed
            total = loss + self.penalty(self.model if len(self.names) == 1 else params)
        optimizer.zero_grad(set_to_none=True)
        total.backward(retain_graph=retain_graph)
        return self._step(name, loss)

    def apply_gradients(self, gradients: Mapping[torch.Tensor, torch.Tensor], loss: torch.Tensor,
                        group: int | str = 0) -> torch.Tensor:
        """One step of ``group`` along gradients a model worked out itself (an RBM's contrastive divergence has a
        closed form, cheaper than backpropagating a surrogate); otherwise exactly :meth:`update`: the penalty's
        gradient is added, then all-reduce, clipping, ``step()``, max-norm, and ``loss`` is kept for the
        non-finite check. ``gradients`` maps each parameter of the group to its gradient."""
        name = self._name(group)
        optimizer, params = self.by_name[name], self._params[name]
        optimizer.zero_grad(set_to_none=True)
        for param in params:
            if param in gradients:
                param.grad = gradients[param].detach().to(param.dtype)
        if self.penalty.active:  # accumulates the penalty's gradient into .grad
            self.penalty(self.model if len(self.names) == 1 else params).backward()
        return self._step(name, loss)

    def _step(self, name: str, loss: torch.Tensor) -> torch.Tensor:
        """After the gradients: all-reduce, clip, step, max-norm; the loss is kept for the non-finite check."""
        optimizer, params = self.by_name[name], self._params[name]
        if self.team.distributed:
            self.team.all_reduce_gradients(params)
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        optimizer.step()
        if self.max_norm is not None:  # on this group's layers only: the other group's weights did not move
            apply_max_norm(self.model, self.max_norm, only=None if len(self.names) == 1 else params)
        detached = loss.detach()
        self.losses.append(detached)
        return detached

    def state_dict(self) -> list[dict[str, Any]]:
        """Each optimiser's state, in group order."""
        return [opt.state_dict() for opt in self]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        if len(states) != len(self):
            raise NeuralabError(f"the checkpoint has {len(states)} optimiser(s) and this run {len(self)}; resume "
                                "with the run's own config")
        for opt, state in zip(self, states):
            opt.load_state_dict(state)


def make_step(model: nn.Module, optimizers: Optimizers,
              loss_fn: Callable[..., Any] | None) -> Callable[[Any], Any]:
    """The per-batch step: the model's own ``train_step``, or loss → :meth:`Optimizers.update` on its one group."""
    if hasattr(model, "train_step"):
        return lambda batch: model.train_step(batch, optimizers)
    if loss_fn is None:
        raise NeuralabError(f"{type(model).__name__} has no loss; give one, e.g. loss='cross_entropy'")
    if len(optimizers) != 1:
        raise NeuralabError(f"{type(model).__name__} has {len(optimizers)} parameter groups ("
                            f"{', '.join(optimizers.names)}) but no train_step to say how each is updated")

    def step(batch: Any) -> torch.Tensor | dict[str, torch.Tensor]:
        loss = loss_fn(batch)
        terms = None
        if isinstance(loss, dict):  # a model's own loss with its terms beside it
            terms, loss = loss, loss["loss"]
        detached = optimizers.update(loss)
        if terms is not None:
            return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in terms.items()}
        return detached

    return step
