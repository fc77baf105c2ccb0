"""The training engine: one ``fit`` for every model.

A model trains in one of three ways, checked in this order:

1. it defines ``train_step(batch, optimizers) -> dict``: the engine hands it the batch and the optimisers and
   records what it returns (GANs, RBMs with contrastive divergence);
2. it defines ``loss(batch)``: the engine backpropagates that loss (autoencoders, VAEs, language models). It
   returns a scalar tensor, or a dict with the scalar under ``"loss"`` and other terms beside it (a VAE's
   ``reconstruction`` and ``kl``), which are logged as ``train_<term>`` and ``val_<term>``;
3. otherwise ``loss_fn(model(x), y)`` with the loss named in the config (classifiers, regressors).

Two data paths feed it:

* the **fast path**, for tensors that fit in memory: they are moved to the device once, each epoch draws one index
  permutation and slices batches from it. There is no per-sample Python and no DataLoader;
* the **general path**, for any ``Dataset`` or ``DataLoader``, for data that does not fit in memory.

Everything random draws from generators that are seeded by ``config.seed`` and saved in checkpoints, so that a run
resumed from its last checkpoint ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from neuralab.errors import NeuralabError
from neuralab.nn import Penalty, apply_max_norm, build_optimizer, build_scheduler, get_loss
from neuralab.train.callbacks import Callback, EarlyStopping, LRSchedule, NonFiniteGuard, stack_losses
from neuralab.train.config import LossConfig, OptimizerConfig, SchedulerConfig, TrainerConfig
from neuralab.train.metrics import HIGHER_IS_BETTER, check_metrics, compute_metrics
from neuralab.train.distributed import World, world
from neuralab.train.seeding import resolve_device, rng_state, seed_everything, set_rng_state
from neuralab.train.state import load_state

__all__ = ["FitData", "FitState", "fit", "evaluate", "predict"]

logger = logging.getLogger(__name__)

Split = tuple[torch.Tensor, ...] | Dataset | DataLoader


@dataclass
class FitData:
    """Training data and optional validation data.

    Each split is a tuple of tensors ``(x, y)`` or ``(x,)`` (the fast path), a ``Dataset`` or a ``DataLoader``.
    A ``Dataset`` with a ``collate`` method is batched with it; batch elements only need ``.to(device)``.
    """

    train: Split
    val: Split | None = None


@dataclass
class FitState:
    """What callbacks see: the model, optimisers, config, counters, logs and the ``stop`` flag."""

    model: nn.Module
    optimizers: list[torch.optim.Optimizer]
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
    step_losses: list[torch.Tensor] = field(default_factory=list)
    team: World = field(default_factory=World)

    def training_state(self) -> dict[str, Any]:
        """Everything a resumed run needs, as a nested dict of tensors and plain values."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks().items()},
            "rng": rng_state(self.generator),
            "history": self.history,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` saved; callbacks are matched by class name."""
        self.model.load_state_dict(state["model"])
        if len(state["optimizers"]) != len(self.optimizers):
            raise NeuralabError(f"the checkpoint has {len(state['optimizers'])} optimiser(s) and this run "
                                f"{len(self.optimizers)}; resume with the run's own config")
        for opt, opt_state in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(opt_state)
        for key, cb in self._keyed_callbacks().items():
            if key in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][key])
            elif cb.state_dict():
                raise NeuralabError(f"the checkpoint has no state for callback {key}; resume with the run's own "
                                    "config")
        set_rng_state(state["rng"], self.generator)
        self.epoch, self.global_step, self.history = state["epoch"], state["global_step"], state["history"]


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
        ``optimizer_groups()`` returning several parameter lists: it then gets one optimiser per list (a GAN's
        generator and discriminator).
    scheduler
        A learning-rate schedule, stepped per batch or per epoch as it needs.
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
    optimizers = _build_optimizers(model, optimizer)
    train_loader = _Batches(data.train, config.batch_size, device, generator, shuffle=config.shuffle,
                            drop_last=config.drop_last, num_workers=config.num_workers, team=team)
    steps = len(train_loader)
    callbacks = list(callbacks)
    if scheduler is not None and config.epochs > 0:  # zero epochs: evaluate or export an initialised model
        schedule = build_scheduler(scheduler.name, optimizers[0], epochs=config.epochs, steps_per_epoch=steps,
                                   warmup_epochs=scheduler.warmup_epochs, **scheduler.options)
        if schedule is not None:
            callbacks.append(LRSchedule(schedule))
    monitor = config.monitor or ("val_loss" if data.val is not None else "train_loss")
    if config.early_stopping is not None:
        es = config.early_stopping
        es_monitor = es.monitor or monitor
        callbacks.append(EarlyStopping(es_monitor, _mode(es_monitor, es.mode), es.patience, es.min_delta,
                                       es.restore_best))
    callbacks.append(NonFiniteGuard())
    callbacks.sort(key=lambda cb: cb.order)
    state = FitState(model, optimizers, config, device, generator, callbacks, steps, team=team)
    if resume is not None:
        state.load_training_state(load_state(resume))
        train_loader.epoch = state.epoch  # a distributed sampler's shuffle goes on from the resumed epoch
        logger.info("resumed from %s at epoch %d", resume, state.epoch)
    if team.distributed:
        team.broadcast_model(model)
    eval_loss = _resolve_loss(model, loss)
    step_fn = _make_step(model, optimizers, config, eval_loss, team)
    batch_hooks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    autocast = _autocast(device, config.precision)

    for cb in callbacks:
        cb.on_fit_start(state)
    while state.epoch < config.epochs and not state.stop:
        model.train()
        state.step_losses, state.epoch_start_step = [], state.global_step
        extra: dict[str, list[Any]] = {}
        lr = optimizers[0].param_groups[0]["lr"] if optimizers else float("nan")
        start = time.perf_counter()
        state.epoch += 1
        for cb in callbacks:
            cb.on_epoch_start(state)
        for batch in train_loader:
            if train_transform is not None:
                batch = train_transform(batch, generator)
            with autocast:
                out = step_fn(batch)
            if isinstance(out, dict):
                loss_value = out.get("loss", next(iter(out.values()), float("nan")))
                for key, value in out.items():
                    extra.setdefault(key, []).append(value)
                out = torch.as_tensor(loss_value)
            state.step_losses.append(out)
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
        if data.val is not None:
            with autocast:
                val = evaluate(model, data.val, loss=eval_loss, metrics=metrics, device=device,
                               batch_size=config.eval_batch_size or max(config.batch_size, 1024),
                               inverse_target=inverse_target)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"], logs["time"] = lr, time.perf_counter() - start
        if team.distributed:
            logs = team.same_logs(logs)
        state.logs = logs
        state.history.append(logs)
        for cb in callbacks:
            cb.on_epoch_end(state)
    for cb in callbacks:
        cb.on_fit_end(state)
    return state


def _mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    return "max" if monitor.split("_", 1)[-1] in HIGHER_IS_BETTER else "min"


def _build_optimizers(model: nn.Module, optimizer: Any) -> list[torch.optim.Optimizer]:
    if isinstance(optimizer, torch.optim.Optimizer):
        return [optimizer]
    if isinstance(optimizer, (list, tuple)):
        return list(optimizer)
    cfg = optimizer or OptimizerConfig()
    groups = model.optimizer_groups() if hasattr(model, "optimizer_groups") else [list(model.parameters())]
    return [build_optimizer(cfg.name, params, cfg.lr, **cfg.options) for params in groups]


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


def _make_step(model: nn.Module, optimizers: list[torch.optim.Optimizer], config: TrainerConfig,
               loss_fn: Callable[..., torch.Tensor] | None,
               team: World = World()) -> Callable[[tuple[torch.Tensor, ...]], Any]:
    """Build the per-batch update once, so the hot loop has no config look-ups."""
    if hasattr(model, "train_step"):
        return lambda batch: model.train_step(batch, optimizers)
    assert loss_fn is not None
    penalty = Penalty(l1=config.l1, l2=config.l2)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizers[0]

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor | dict[str, torch.Tensor]:
        loss = loss_fn(batch)
        terms = None
        if isinstance(loss, dict):  # a model's own loss with its terms beside it
            terms, loss = loss, loss["loss"]
        total = loss + penalty(model) if penalty.active else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if team.distributed:
            team.all_reduce_gradients(params)
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        if config.max_norm is not None:
            apply_max_norm(model, config.max_norm)
        if terms is not None:
            return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in terms.items()}
        return loss.detach()

    return step


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _Batches:
    """Batches of a split: index slices of device tensors (fast path) or a DataLoader (general path)."""

    def __init__(self, split: Split, batch_size: int, device: torch.device, generator: torch.Generator | None, *,
                 shuffle: bool, drop_last: bool = False, num_workers: int = 0, team: World = World()) -> None:
        self.device, self.batch_size, self.generator = device, batch_size, generator
        self.shuffle, self.drop_last, self.team = shuffle, drop_last, team
        self.tensors: tuple[torch.Tensor, ...] | None = None
        self.loader: DataLoader | None = None
        self.sampler: DistributedSampler | None = None
        self.epoch = 0
        if isinstance(split, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in split):
            if not split:
                raise NeuralabError("a data split needs at least one tensor")
            n = len(split[0])
            if any(len(t) != n for t in split):
                raise NeuralabError(f"tensors of one split differ in length: {[len(t) for t in split]}")
            if n == 0:
                raise NeuralabError("a data split is empty")
            if n < team.size:
                raise NeuralabError(f"a data split of {n} rows cannot be shared by {team.size} processes")
            self.tensors = tuple(t.to(device) for t in split)
        elif isinstance(split, DataLoader):
            if team.distributed:
                raise NeuralabError("a ready DataLoader cannot be sharded across processes; pass the Dataset")
            self.loader = split
        elif isinstance(split, Dataset):
            # A dataset of variable-size items (molecular graphs) says how to batch them with a `collate` method.
            if team.distributed and len(split) < team.size:
                raise NeuralabError(f"a data split of {len(split)} items cannot be shared by {team.size} processes")
            sampler = None
            if team.distributed:  # each process its own shard of one seeded permutation per epoch
                seed = int(torch.randint(2**31, (1,), generator=generator).item()) if generator is not None else 0
                sampler = DistributedSampler(split, num_replicas=team.size, rank=team.rank, shuffle=shuffle,
                                             seed=seed, drop_last=True)
            self.sampler = sampler
            self.loader = DataLoader(split, batch_size=batch_size, shuffle=shuffle and sampler is None,
                                     drop_last=drop_last, sampler=sampler,
                                     generator=generator if shuffle and sampler is None else None,
                                     num_workers=num_workers, collate_fn=getattr(split, "collate", None),
                                     pin_memory=device.type == "cuda")
        else:
            raise NeuralabError(f"data must be a tuple of tensors, a Dataset or a DataLoader; got "
                                f"{type(split).__name__}")

    def __len__(self) -> int:
        if self.loader is not None:
            return len(self.loader)
        n = self._rows()
        if (self.drop_last or n % self.batch_size == 1) and n > self.batch_size:
            # A last batch of one row is folded into the one before: batch norm cannot train on a single row.
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _rows(self) -> int:
        """Rows this process trains on per epoch: all of them, or an equal shard of each process's."""
        return len(self.tensors[0]) // self.team.size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.loader is not None:
            if self.sampler is not None:
                self.sampler.set_epoch(self.epoch)
                self.epoch += 1
            for batch in self.loader:
                batch = batch if isinstance(batch, (tuple, list)) else (batch,)
                yield tuple(t.to(self.device, non_blocking=True) for t in batch)
            return
        tensors, team = self.tensors, self.team
        n = self._rows()
        if self.shuffle:
            # Drawn on the CPU generator (saved in checkpoints), then moved: one transfer per epoch.
            order = torch.randperm(len(tensors[0]), generator=self.generator)
            if team.distributed:  # the same permutation on every rank: each takes every size-th sample
                order = order[:n * team.size][team.rank::team.size]
        elif team.distributed:
            order = torch.arange(team.rank, n * team.size, team.size)
        else:  # in order, one process: plain slices, no gather
            for lo, hi in self._bounds(n):
                yield tuple(t[lo:hi] for t in tensors)
            return
        order = order.to(self.device)
        for lo, hi in self._bounds(n):
            idx = order[lo:hi]
            yield tuple(t[idx] for t in tensors)

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        steps, bs = len(self), self.batch_size
        last = n if not self.drop_last or n <= bs else steps * bs
        return [(i * bs, last if i == steps - 1 else (i + 1) * bs) for i in range(steps)]


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, *, loss: Callable[..., torch.Tensor] | str | LossConfig | None = None,
             metrics: Sequence[str] = (), device: str | torch.device | None = None, batch_size: int = 1024,
             inverse_target: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over a whole split, in eval mode.

    ``loss`` is a per-batch callable (as ``fit`` resolves it), a loss name or config; the result has ``loss`` when one is
    given (and each term, when the loss returns a dict of terms) and one entry per metric, computed over all outputs
    at once.
    """
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    if isinstance(loss, (str, LossConfig)):
        loss = _resolve_loss(model, loss)
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    count, outs, ys = 0, [], []
    for batch in _Batches(split, batch_size, device, None, shuffle=False):
        n = len(batch[0])
        if loss is not None:
            value = loss(batch)
            for key, v in (value.items() if isinstance(value, dict) else [("loss", value)]):
                totals[key] = totals.get(key, 0.0) + torch.as_tensor(v).detach().double().cpu() * n
        if metrics:
            outs.append(model(batch[0]).float())
            ys.append(batch[1])
        count += n
    model.train(was_training)
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
    outs = [model(batch[0]).cpu() for batch in _Batches(split, batch_size, device, None, shuffle=False)]
    model.train(was_training)
    return torch.cat(outs)
