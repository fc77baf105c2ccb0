"""The training engine: one ``fit`` for every model.

A model trains in one of three ways, checked in this order:

1. it defines ``train_step(batch, optimizers) -> dict``: the engine hands it the batch and the optimisers (one per
   parameter group its ``optimizer_groups()`` names) and records what it returns (GANs, RBMs with contrastive
   divergence). Each of its updates goes through ``optimizers.update(loss, group)`` (:mod:`neuralab.train.step`),
   which applies the same penalty, clipping, max-norm and non-finite check as the default step;
2. it defines ``loss(batch)``: the engine backpropagates that loss (autoencoders, VAEs, language models). It
   returns a scalar tensor, or a dict with the scalar under ``"loss"`` and other terms beside it (a VAE's
   ``reconstruction`` and ``kl``), which are logged as ``train_<term>`` and ``val_<term>``;
3. otherwise ``loss_fn(model(x), y)`` with the loss named in the config (classifiers, regressors).

A model may also define ``evaluate(batches) -> dict[str, float]``: an evaluation that is not a mean loss (a
log-likelihood estimate, an episode return, a ranking metric). The engine calls it every epoch with the validation
batches (``None`` when there is no validation data, e.g. for an agent that evaluates in its environment) and logs
each value as ``val_<name>``. State that a model needs to resume exactly but that is not a weight (an RBM's
persistent chains, an agent's replay buffer and environments) goes into checkpoints through the model's
``train_state_dict()`` and ``load_train_state_dict(state)``.

Three data paths feed it:

* the **fast path**, for tensors that fit in memory: they are moved to the device once, each epoch draws one index
  permutation and slices batches from it. There is no per-sample Python and no DataLoader;
* the **general path**, for any ``Dataset`` or ``DataLoader``, for data that does not fit in memory;
* **streams**: an ``IterableDataset`` (a sampler), or ``None`` for a model whose ``train_step`` makes its own data
  (an agent acting in its environments). An epoch is then ``trainer.steps_per_epoch`` steps.

Everything random draws from generators that are seeded by ``config.seed`` and saved in checkpoints, so that a run
resumed from its last checkpoint ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from neuralab.directions import direction
from neuralab.errors import NeuralabError
from neuralab.nn import get_loss
from neuralab.train.batches import Batches, Split
from neuralab.train.callbacks import Callback, EarlyStopping, LRSchedule, NonFiniteGuard, stack_losses
from neuralab.train.config import LossConfig, OptimizerConfig, SchedulerConfig, TrainerConfig
from neuralab.train.distributed import World, world
from neuralab.train.metrics import check_metrics, compute_metrics
from neuralab.train.seeding import resolve_device, rng_state, seed_everything, set_rng_state
from neuralab.train.state import load_state
from neuralab.train.step import Optimizers, build_optimizers, build_schedules, make_step

__all__ = ["FitData", "FitState", "fit", "evaluate", "predict"]

logger = logging.getLogger(__name__)




@dataclass
class FitData:
    """Training data and optional validation data.

    Each split is a tuple of tensors ``(x, y)`` or ``(x,)`` (the fast path), a ``Dataset`` or a ``DataLoader``.
    A ``Dataset`` with a ``collate`` method is batched with it; batch elements only need ``.to(device)``. The
    training split may also be an ``IterableDataset`` or ``None`` (a stream; see ``trainer.steps_per_epoch``).
    """

    train: Split | None
    val: Split | None = None


@dataclass
class FitState:
    """What callbacks see: the model, optimisers, config, counters, logs and the ``stop`` flag."""

    model: nn.Module
    optimizers: Optimizers
    config: TrainerConfig
    device: torch.device
    generator: torch.Generator
    callbacks: list[Callback]
    steps_per_epoch: int | None
    epoch: int = 0
    global_step: int = 0
    epoch_start_step: int = 0
    stop: bool = False
    logs: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[torch.Tensor] = field(default_factory=list)  # each step's loss, for the epoch's train_loss
    step_checks: list[torch.Tensor] = field(default_factory=list)  # each step's losses, for the non-finite check
    team: World = field(default_factory=World)
    batches: Batches | None = None  # the training batches: a stream's position goes into checkpoints

    def training_state(self) -> dict[str, Any]:
        """Everything a resumed run needs, as a nested dict of tensors and plain values."""
        state = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizers": self.optimizers.state_dict(),
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks().items()},
            "rng": rng_state(self.generator),
            "history": self.history,
        }
        if hasattr(self.model, "train_state_dict"):  # persistent chains, a replay buffer, environments...
            state["model_train_state"] = self.model.train_state_dict()
        if self.batches is not None and self.batches.loader is not None and self.batches.stream is not None:
            state["batches"] = self.batches.state_dict()
        return state

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` saved; callbacks are matched by class name."""
        epoch, step, history = state["epoch"], state["global_step"], state["history"]
        if not (isinstance(epoch, int) and isinstance(step, int) and isinstance(history, list) and epoch >= 0
                and all(isinstance(h, dict) for h in history)):
            raise TypeError("epoch, global_step or history has the wrong type")
        self.model.load_state_dict(state["model"])
        self.optimizers.load_state_dict(state["optimizers"])
        for key, cb in self._keyed_callbacks().items():
            if key in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][key])
            elif cb.state_dict():
                raise NeuralabError(f"the checkpoint has no state for callback {key}; resume with the run's own "
                                    "config")
        if hasattr(self.model, "load_train_state_dict"):
            self.model.load_train_state_dict(state.get("model_train_state"))
        if self.batches is not None and "batches" in state:
            self.batches.load_state_dict(state["batches"])
        set_rng_state(state["rng"], self.generator)
        self.epoch, self.global_step, self.history = epoch, step, history

    def resume_from(self, path: str | Path) -> None:
        """Restore a ``last.ckpt``; a damaged or tampered file is a one-line error naming it."""
        state = load_state(path)
        try:
            self.load_training_state(state)
        except NeuralabError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NeuralabError(f"checkpoint {path} is damaged or from another config ({reason}); resume with the "
                                "run's own config, or start again") from None


    def _keyed_callbacks(self) -> dict[str, Callback]:
        """Callbacks keyed ``ClassName`` (``ClassName_2`` for a second one), so adding a stateless callback such
        as a progress bar on resume changes nothing."""
        keyed: dict[str, Callback] = {}
        for cb in self.callbacks:
            key, i = type(cb).__name__, 1
            while key in keyed:
                i += 1
                key = f"{type(cb).__name__}_{i}"
            keyed[key] = cb
        return keyed


def fit(
    model: nn.Module,
    data: FitData | tuple[torch.Tensor, ...],
    config: TrainerConfig | None = None,
    callbacks: Sequence[Callback] = (),
    *,
    optimizer: OptimizerConfig | torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None = None,
    scheduler: SchedulerConfig | None = None,
    loss: LossConfig | nn.Module | Callable[..., torch.Tensor] | str | None = None,
    metrics: Sequence[str] = (),
    inverse_target: Callable[[torch.Tensor], torch.Tensor] | None = None,
    resume: str | Path | None = None,
    train_transform: Callable[[tuple[Any, ...], torch.Generator], tuple[Any, ...]] | None = None,
) -> FitState:
    """Train ``model`` on ``data``.

    Parameters
    ----------
    model
        Any ``nn.Module``. See the module docstring for how its loss is found.
    data
        A :class:`FitData`, or a tuple of tensors to train on without validation.
    config
        Epochs, batch size, device, precision, seed, regularisation and early stopping.
    callbacks
        Extra callbacks (checkpointing, progress...). The engine adds the non-finite guard, the LR schedule and
        early stopping from ``config`` itself.
    optimizer
        An :class:`OptimizerConfig` (default Adam, lr 1e-3), or ready optimisers. A model may define
        ``optimizer_groups()`` returning named parameter lists: it then gets one optimiser per group (a GAN's
        generator and discriminator), each with the config's ``groups`` overrides for its name.
    scheduler
        A learning-rate schedule for each optimiser (with the config's per-group overrides), stepped per batch or
        per epoch as it needs.
    loss
        The loss for models without ``loss``/``train_step``: a name, a config or a callable.
    metrics
        Names from :data:`neuralab.train.metrics.METRICS`, computed on the validation set each epoch.
    inverse_target
        Maps standardised targets back to the data's units for regression metrics.
    resume
        A ``last.ckpt`` written by :class:`~neuralab.train.callbacks.Checkpoint`: training goes on from there.
    train_transform
        ``f(batch, generator) -> batch`` applied to training batches only, on the device (data augmentation). It
        draws from the engine's saved generator, so augmented runs stay reproducible and resumable.

    Returns
    -------
    FitState
        The final state; ``state.history`` has one dict of logs per epoch.

    Examples
    --------
    >>> import torch
    >>> from neuralab.train import fit, FitData, TrainerConfig
    >>> x, y = torch.randn(64, 3), torch.randn(64, 1)
    >>> state = fit(torch.nn.Linear(3, 1), FitData((x, y)), TrainerConfig(epochs=2), loss="mse")
    >>> len(state.history)
    2
    """
    config = config or TrainerConfig()
    data = data if isinstance(data, FitData) else FitData(tuple(data))
    check_metrics(list(metrics))
    device = resolve_device(config.device)
    team = world(device)  # torchrun: join the process group (a single process otherwise)
    if team.distributed and device.type == "cuda":
        device = torch.device("cuda", team.local_rank)
        torch.cuda.set_device(device)
    if team.distributed and hasattr(model, "train_step"):
        raise NeuralabError(f"{type(model).__name__} trains through its own train_step, which cannot be run "
                            "data-parallel yet; run it in a single process")
    generator = seed_everything(config.seed)
    model.to(device)
    if config.channels_last:  # NHWC convolutions: often faster with oneDNN on CPU and tensor cores on GPU
        for module in model.modules():  # 2-D convolutions only: channels_last is a 4-D layout (Conv3d has 5-D)
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.to(memory_format=torch.channels_last)
    optimizers = Optimizers(_build_optimizers(model, optimizer), model, config, team)
    train_loader = Batches(data.train, config.batch_size, device, generator, shuffle=config.shuffle,
                            drop_last=config.drop_last, num_workers=config.num_workers, team=team,
                            steps_per_epoch=config.steps_per_epoch)
    steps = len(train_loader)
    callbacks = list(callbacks)
    if scheduler is not None:
        schedules = build_schedules(optimizers.by_name, scheduler, epochs=config.epochs, steps_per_epoch=steps)
        if schedules:
            callbacks.append(LRSchedule(schedules))
    has_evaluation = hasattr(model, "evaluate")
    monitor = config.monitor or ("val_loss" if data.val is not None else "train_loss")
    if config.early_stopping is not None:
        es = config.early_stopping
        es_monitor = es.monitor or monitor
        callbacks.append(EarlyStopping(es_monitor, direction(es_monitor) if es.mode == "auto" else es.mode,
                                       es.patience, es.min_delta, es.restore_best))
    callbacks.append(NonFiniteGuard())
    callbacks.sort(key=lambda cb: cb.order)
    state = FitState(model, optimizers, config, device, generator, callbacks, steps, team=team, batches=train_loader)
    if resume is not None:
        state.resume_from(resume)
        train_loader.epoch = state.epoch  # a distributed sampler's shuffle goes on from the resumed epoch
        logger.info("resumed from %s at epoch %d", resume, state.epoch)
    if team.distributed:
        team.broadcast_model(model)
    eval_loss = _resolve_loss(model, loss)
    step_fn = make_step(model, optimizers, eval_loss)
    own_step = hasattr(model, "train_step")
    batch_hooks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    autocast = _autocast(device, config.precision)

    for cb in callbacks:
        cb.on_fit_start(state)
    while state.epoch < config.epochs and not state.stop:
        model.train()
        state.step_losses, state.step_checks, state.epoch_start_step = [], [], state.global_step
        extra: dict[str, list[Any]] = {}
        lrs = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.by_name.items()}
        start = time.perf_counter()
        state.epoch += 1
        optimizers.epoch = state.epoch
        for cb in callbacks:
            cb.on_epoch_start(state)
        for batch in train_loader:
            if train_transform is not None:
                batch = train_transform(batch, generator)
            with autocast:
                out = step_fn(batch)
            updates, optimizers.losses = optimizers.losses, []
            if isinstance(out, dict):  # terms logged as train_<term>; train_loss only when there is a "loss"
                for key, value in out.items():
                    extra.setdefault(key, []).append(value)
                if "loss" in out:
                    state.step_losses.append(torch.as_tensor(out["loss"]))
            else:
                state.step_losses.append(out)
            state.step_checks.append(_checked(updates, out) if own_step else updates[-1])
            state.global_step += 1
            for cb in batch_hooks:
                cb.on_batch_end(state)
        logs: dict[str, float] = {"epoch": state.epoch}
        if team.distributed:  # every rank validates and checkpoints the same model
            team.broadcast_buffers(model)
        mean = (lambda v: team.mean(v.float()).item()) if team.distributed else (lambda v: v.mean().item())  # noqa: E731
        if state.step_losses:
            logs["train_loss"] = mean(stack_losses(state.step_losses).mean())
        for key, values in extra.items():
            if key != "loss":
                logs[f"train_{key}"] = mean(stack_losses(values).mean())
        if data.val is not None or has_evaluation:
            with autocast:
                val = evaluate(model, data.val, loss=eval_loss, metrics=metrics, device=device,
                               batch_size=config.eval_batch_size or max(config.batch_size, 1024),
                               inverse_target=inverse_target)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = next(iter(lrs.values()), float("nan"))
        if len(lrs) > 1:
            logs.update({f"lr_{name}": value for name, value in lrs.items()})
        logs["time"] = time.perf_counter() - start
        if team.distributed:
            logs = team.same_logs(logs)
        state.logs = logs
        state.history.append(logs)
        for cb in callbacks:
            cb.on_epoch_end(state)
    for cb in callbacks:
        cb.on_fit_end(state)
    return state


def _build_optimizers(model: nn.Module, optimizer: Any) -> Any:
    """Ready optimisers as given, or one per parameter group from a config."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return [optimizer]
    if isinstance(optimizer, (list, tuple, dict)):
        return optimizer
    return build_optimizers(model, optimizer)


def _checked(updates: list[torch.Tensor], out: Any) -> torch.Tensor:
    """One value for the non-finite check of a ``train_step``: the sum of its update losses and returned numbers
    (a NaN or Inf in any of them makes the sum non-finite too)."""
    values = list(updates)
    if isinstance(out, dict):
        values += [torch.as_tensor(v) for v in out.values() if isinstance(v, (torch.Tensor, float, int))]
    elif out is not None:
        values.append(torch.as_tensor(out))
    if not values:
        return torch.zeros(())
    return stack_losses([v.detach().float().sum() for v in values]).sum()


def _resolve_loss(model: nn.Module, loss: Any) -> Callable[..., torch.Tensor] | None:
    """The per-batch loss: a named/given criterion on ``model(x), y``, else the model's own ``loss(batch)``.

    ``None`` only for a model that trains through ``train_step`` and has no loss to evaluate.
    """
    if isinstance(loss, LossConfig):
        loss = None if loss.name is None else get_loss(loss.name, **loss.options)
    elif isinstance(loss, str):
        loss = get_loss(loss)
    if loss is None:
        if hasattr(model, "loss"):
            return model.loss
        if hasattr(model, "train_step"):
            return None
        raise NeuralabError(f"{type(model).__name__} has no loss method; give a loss, e.g. loss='cross_entropy'")
    if isinstance(loss, nn.Module):
        loss = loss.to(next(iter(model.parameters()), torch.empty(0)).device)
    return lambda batch: loss(model(batch[0]), batch[1])


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, split: Split | None, *,
             loss: Callable[..., torch.Tensor] | str | LossConfig | None = None, metrics: Sequence[str] = (),
             device: str | torch.device | None = None, batch_size: int = 1024,
             inverse_target: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over a whole split, in eval mode, and the model's own evaluation.

    ``loss`` is a per-batch callable (as ``fit`` resolves it), a loss name or config; the result has ``loss`` when one
    is given (and each term, when the loss returns a dict of terms) and one entry per metric, computed over all
    outputs at once. A model with ``evaluate(batches)`` adds what it returns (``batches`` is ``None`` when ``split``
    is).
    """
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    if isinstance(loss, (str, LossConfig)):
        loss = _resolve_loss(model, loss)
    was_training = model.training
    model.eval()
    result: dict[str, float] = {}
    if split is not None:
        result = _mean_loss(model, split, loss, metrics, device, batch_size, inverse_target)
    if hasattr(model, "evaluate"):
        batches = None if split is None else Batches(split, batch_size, device, None, shuffle=False, training=False)
        result.update(model.evaluate(batches))
    model.train(was_training)
    return result


def _mean_loss(model: nn.Module, split: Split, loss: Callable[..., Any] | None, metrics: Sequence[str],
               device: torch.device, batch_size: int, inverse_target: Callable[..., torch.Tensor] | None
               ) -> dict[str, float]:
    """The batch-size-weighted mean of each loss term, and the metrics over all outputs."""
    totals: dict[str, torch.Tensor] = {}
    count, outs, ys = 0, [], []
    for batch in Batches(split, batch_size, device, None, shuffle=False, training=False):
        n = len(batch[0])
        if loss is not None:
            value = loss(batch)
            for key, v in (value.items() if isinstance(value, dict) else [("loss", value)]):
                totals[key] = totals.get(key, 0.0) + torch.as_tensor(v).detach().double().cpu() * n
        if metrics:
            outs.append(model(batch[0]).float())
            ys.append(batch[1])
        count += n
    result = {key: float(v) / count for key, v in totals.items()} if count else {}
    if metrics and count:
        result.update(compute_metrics(list(metrics), torch.cat(outs), torch.cat(ys), inverse_target))
    return result


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | Dataset, *, batch_size: int = 1024,
            device: str | torch.device | None = None) -> torch.Tensor:
    """The model's outputs for every row of ``x``, in eval mode, batched, on the CPU."""
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    split = (x,) if isinstance(x, torch.Tensor) else x
    was_training = model.training
    model.eval()
    outs = [model(batch[0]).cpu() for batch in Batches(split, batch_size, device, None, shuffle=False, training=False)]
    model.train(was_training)
    return torch.cat(outs)
