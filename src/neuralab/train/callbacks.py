"""Callbacks: small objects the engine calls at a handful of points.

Hooks: ``on_fit_start``, ``on_epoch_start``, ``on_batch_end``, ``on_epoch_end``, ``on_fit_end``; each receives the
engine's :class:`~neuralab.train.engine.FitState`. A callback that keeps state implements ``state_dict`` and
``load_state_dict`` so that a resumed run continues exactly where it stopped. Callbacks run in ascending ``order``
(stable), so the checkpoint, with ``order = 100``, sees every other callback's updated state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from neuralab.errors import TrainingError
from neuralab.train.state import save_state

if TYPE_CHECKING:
    from neuralab.nn.schedules import Schedule
    from neuralab.train.engine import FitState

__all__ = ["Callback", "EarlyStopping", "Checkpoint", "LRSchedule", "NonFiniteGuard", "ProgressBar", "is_improvement"]


class Callback:
    """Base class with no-op hooks. Subclasses override what they need."""

    order: int = 0

    def on_fit_start(self, state: FitState) -> None: ...
    def on_epoch_start(self, state: FitState) -> None: ...
    def on_batch_end(self, state: FitState) -> None: ...
    def on_epoch_end(self, state: FitState) -> None: ...
    def on_fit_end(self, state: FitState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def stack_losses(values: list[Any]) -> torch.Tensor:
    """Per-step losses as one float32 vector: one ``torch.stack`` in the usual case of 0-d tensors alike, and a
    value-by-value conversion only for mixed types (floats from a ``train_step``, tensors on several devices)."""
    try:
        return torch.stack(values).float().reshape(-1)
    except (TypeError, RuntimeError):
        return torch.stack([torch.as_tensor(v, dtype=torch.float32).reshape(()).cpu() for v in values])


def is_improvement(value: float, best: float | None, *, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (the pure decision behind early stopping)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor
        A key of the epoch's logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    mode
        ``"min"`` or ``"max"``.
    patience
        Epochs without improvement before stopping.
    min_delta
        The smallest change that counts as an improvement.
    restore_best
        Load the best epoch's weights into the model when training ends (stopped early or not).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 10, min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: FitState) -> None:
        value = state.logs.get(self.monitor)
        if value is None:
            raise TrainingError(f"early stopping monitors {self.monitor!r}, which is not among the logged values "
                                f"{sorted(state.logs)}")
        if is_improvement(value, self.best, mode=self.mode, min_delta=self.min_delta):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = state.epoch
                state.stop = True

    def on_fit_end(self, state: FitState) -> None:
        if self.restore_best and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


class Checkpoint(Callback):
    """Save ``last.ckpt`` (everything needed to resume) every epoch and ``best.ckpt`` (weights) on improvement.

    Both are written to a temporary file and renamed, so a crash never leaves a broken checkpoint.
    """

    order = 100

    def __init__(self, directory: str | Path, monitor: str = "val_loss", mode: str = "min",
                 every: int = 1) -> None:
        self.directory, self.monitor, self.mode, self.every = Path(directory), monitor, mode, every
        self.best: float | None = None
        self.best_epoch: int | None = None

    @property
    def last_path(self) -> Path:
        return self.directory / "last.ckpt"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.ckpt"

    def on_epoch_end(self, state: FitState) -> None:
        value = state.logs.get(self.monitor)
        if value is not None and is_improvement(value, self.best, mode=self.mode):
            self.best, self.best_epoch = value, state.epoch
            save_state({"epoch": state.epoch, "model": state.model.state_dict()}, self.best_path)
        if state.epoch % self.every == 0 or state.stop or state.epoch == state.config.epochs:
            # Saved last, after every other callback, so the file holds their updated state too.
            save_state(state.training_state(), self.last_path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class LRSchedule(Callback):
    """Step learning-rate schedules (one per optimiser that has one) after every batch or every epoch, as each asks.

    Every schedule is stepped, so a GAN's generator and discriminator each follow their own.
    """

    order = 10

    def __init__(self, schedules: Schedule | Sequence[Schedule]) -> None:
        self.schedules = [schedules] if not isinstance(schedules, Sequence) else list(schedules)

    @property
    def schedule(self) -> Schedule:
        """The first schedule (the only one for a model with one parameter group)."""
        return self.schedules[0]

    def on_batch_end(self, state: FitState) -> None:
        for schedule in self.schedules:
            if schedule.interval == "step":
                schedule.scheduler.step()

    def on_epoch_end(self, state: FitState) -> None:
        for schedule in self.schedules:
            if schedule.interval != "epoch":
                continue
            if schedule.monitor is not None:
                value = state.logs.get(schedule.monitor)
                if value is None:
                    raise TrainingError(f"the {type(schedule.scheduler).__name__} schedule monitors "
                                        f"{schedule.monitor!r}, which is not logged; logged: {sorted(state.logs)}")
                schedule.scheduler.step(value)
            else:
                schedule.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"schedules": [schedule.scheduler.state_dict() for schedule in self.schedules]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state["schedules"] if "schedules" in state else [state]  # a checkpoint from before groups
        if len(states) != len(self.schedules):
            raise TrainingError(f"the checkpoint has {len(states)} learning-rate schedule(s) and this run "
                                f"{len(self.schedules)}; resume with the run's own config")
        for schedule, saved in zip(self.schedules, states):
            schedule.scheduler.load_state_dict(saved)


class NonFiniteGuard(Callback):
    """Stop at the first NaN or Inf training loss with one line naming epoch, step, loss and learning rate.

    It reads ``state.step_checks``: one value per step, the loss of the default step, or the sum of every loss a
    model's own ``train_step`` passed to ``optimizers.update`` and every number it returned.

    The losses of recent steps stay on the device and are checked every ``check_every`` steps and at the end of the
    epoch, so the guard costs one synchronisation per ``check_every`` steps rather than one per step; the step it
    names is still the exact first bad one.
    """

    def __init__(self, check_every: int = 32) -> None:
        self.check_every = check_every
        self._checked = 0

    def on_epoch_start(self, state: FitState) -> None:
        self._checked = 0

    def on_batch_end(self, state: FitState) -> None:
        if len(state.step_checks) - self._checked >= self.check_every:
            self._check(state)

    def on_epoch_end(self, state: FitState) -> None:
        self._check(state)

    def _check(self, state: FitState) -> None:
        recent = state.step_checks[self._checked:]
        if not recent:
            return
        values = stack_losses(recent).cpu()
        bad = (~torch.isfinite(values)).nonzero()
        team = state.team
        if team.distributed and team.any(bool(len(bad)), state.device) and not len(bad):
            raise TrainingError(f"training diverged on another process (a non-finite loss by epoch {state.epoch}); "
                                "see its message")
        if len(bad):
            i = int(bad[0])
            step_in_epoch = self._checked + i + 1
            lr = state.optimizers[0].param_groups[0]["lr"] if state.optimizers else float("nan")
            what = "loss" if not hasattr(state.model, "train_step") else "a loss (or a value train_step returned)"
            raise TrainingError(
                f"training diverged: {what} is {values[i].item()} at epoch {state.epoch}, step {step_in_epoch} "
                f"(global step {state.epoch_start_step + step_in_epoch}), lr {lr:.3g}; try a smaller learning rate "
                f"(e.g. --set optimizer.lr={lr / 10:.3g}) or gradient clipping (--set trainer.grad_clip=1.0)")
        self._checked = len(state.step_checks)


class ProgressBar(Callback):
    """A rich progress bar with ETA and the latest metrics; the CLI adds it, library code does not.

    Without a terminal (a log file, CI, ``| tee``) a bar would collapse into one truncated line, so it prints one
    plain line per epoch instead, never cut: ``epoch 3/60  train_loss 0.41  val_loss 0.45 ...  (1.2 s)``.
    """

    def __init__(self, console: Any | None = None, refresh_every: int = 10) -> None:
        self.console, self.refresh_every = console, refresh_every
        self._progress: Any = None
        self._task: Any = None
        self._plain = False

    def on_fit_start(self, state: FitState) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = self.console or Console(stderr=True)
        self._plain = not self.console.is_terminal
        if self._plain:
            return
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[logs]}"),
            console=self.console, transient=False)
        self._progress.start()
        total = state.config.epochs * state.steps_per_epoch if state.steps_per_epoch else None
        self._task = self._progress.add_task("train", total=total, completed=state.global_step,
                                             epoch=f"{state.epoch + 1}/{state.config.epochs}", logs="")

    def on_batch_end(self, state: FitState) -> None:
        if not self._plain and state.global_step % self.refresh_every == 0:
            self._progress.update(self._task, completed=state.global_step)

    def on_epoch_end(self, state: FitState) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in state.logs.items() if k not in {"epoch", "time", "lr"}
                          and isinstance(v, float))
        if self._plain:
            line = f"epoch {state.epoch}/{state.config.epochs}  {shown}  ({state.logs.get('time', 0.0):.1f} s)"
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        self._progress.update(self._task, completed=state.global_step, logs=shown,
                              epoch=f"{state.epoch}/{state.config.epochs}")

    def on_fit_end(self, state: FitState) -> None:
        if self._progress is not None:
            if self._task is not None and state.stop:
                self._progress.update(self._task, total=state.global_step, completed=state.global_step)
            self._progress.stop()

    def state_dict(self) -> dict[str, Any]:
        return {}

