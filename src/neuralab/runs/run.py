"""A trained run read back from its directory, to evaluate and predict through its task.

``Run`` knows no task: it holds the recipe, the model(s), the fitted input pipeline, the target scaler and the
calibration, and hands everything a task decides (scoring, predicting, what a prediction means) to its ``task``
object, one of :data:`neuralab.tasks.TASKS`. The methods that only one kind of run has (``forecast``,
``generate``, ``similar``, ``predict_proba``, ``sample``...) are the task's *verbs*: ``run.forecast(...)`` is
``run.task.forecast(run, ...)``, offered only on runs of that task.

Load a run with :func:`neuralab.tasks.load_run`, which finds its task; ``Run.load(path, task)`` is the task-free
core that it calls.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data import make_scaler
from neuralab.errors import ConfigError, NeuralabError
from neuralab.runs.recipe import ModelConfig, Recipe, build_model
from neuralab.runs.store import read_config, read_weights, save_weights
from neuralab.train import predict
from neuralab.train.seeding import resolve_device

if TYPE_CHECKING:
    from neuralab.tasks.base import Task

__all__ = ["Run", "VerbError", "read_model"]


class VerbError(NeuralabError, AttributeError):
    """A method that only runs of other tasks have (``generate`` on a classifier): a user error in one line, and an
    AttributeError, so that ``hasattr(run, "generate")`` is simply False."""


class Run:
    """A trained run: the recipe, the model(s), the input pipeline, the target scaler and the calibration.

    Parameters
    ----------
    path
        The run directory.
    recipe
        The resolved recipe (``config.yaml``).
    task
        The run's task (``neuralab.tasks.TASKS[recipe.task]``): everything task-specific is asked of it.
    models
        The trained model, or the members of an ensemble.
    inputs
        The fitted input pipeline: raw inputs → what the model eats.
    y_scaler
        The fitted target scaler, or None.
    classes
        The class labels of a classifier, in output order.
    calibration
        Tensors a task keeps for its intervals (validation residuals...).

    Examples
    --------
    >>> from neuralab.tasks import load_run
    >>> run = load_run("runs/digits-mlp-20261123-120000")  # doctest: +SKIP
    >>> run.predict(x[:5])                                  # doctest: +SKIP
    array([0, 1, 2, 3, 4])
    """

    def __init__(self, path: Path, recipe: Recipe, task: Task, models: list[torch.nn.Module], inputs: Any,
                 y_scaler: Any | None = None, classes: list[Any] | None = None,
                 calibration: dict[str, torch.Tensor] | None = None) -> None:
        self.path, self.recipe, self.task, self.models, self.inputs = Path(path), recipe, task, models, inputs
        self.y_scaler, self.classes = y_scaler, list(classes or [])
        self.calibration = calibration or {}

    @property
    def model(self) -> torch.nn.Module:
        """The first (or only) model."""
        return self.models[0]

    @classmethod
    def load(cls, path: str | Path, task: Task | None = None, device: str = "cpu") -> Run:
        """Read a run directory of ``task``. A missing or damaged file is a one-line NeuralabError naming it.

        :func:`neuralab.tasks.load_run` finds the task by itself; this core method is handed it.
        """
        if task is None:
            raise NeuralabError("Run.load needs the run's task; use neuralab.tasks.load_run(path), which finds it")
        path = Path(path)
        try:
            recipe = task.validate_saved(read_config(path))
        except ConfigError as err:
            raise NeuralabError(f"{path / 'config.yaml'} is damaged: {err}") from None
        weights = read_weights(path)
        models = []
        for i, state in enumerate(weights.members):
            model = build_model(recipe)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:  # shapes or keys that do not match config.yaml
                reason = str(exc).splitlines()[0] if len(str(exc).splitlines()) < 2 else str(exc).splitlines()[1]
                raise NeuralabError(f"{path / 'model.safetensors'} does not match {path / 'config.yaml'} (member {i}:"
                                    f" {reason.strip()}); was one of them edited or copied from another run?") \
                    from None
            models.append(model.to(resolve_device(device)).eval())
        inputs = task.make_inputs(recipe)
        y_scaler = None
        try:
            inputs.load_state_dict(weights.groups.get("inputs", {}))
            if weights.groups.get("y_scaler"):
                y_scaler = make_scaler("standard")
                y_scaler.load_state_dict(weights.groups["y_scaler"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise NeuralabError(f"{path / 'model.safetensors'} is damaged: its input pipeline or target scaler "
                                f"cannot be read ({type(exc).__name__}: {exc}); train the run again") from None
        return cls(path, recipe, task, models, inputs, y_scaler, weights.classes, weights.groups.get("calibration"))

    def save(self, path: str | Path | None = None) -> Path:
        """Write ``model.safetensors``: every member's weights, the pipeline, the scaler and the calibration."""
        folder = Path(path) if path is not None else self.path
        groups = {"inputs": self.inputs.state_dict()}
        if self.y_scaler is not None:
            groups["y_scaler"] = self.y_scaler.state_dict()
        groups["calibration"] = {k: v.float() for k, v in self.calibration.items()}
        save_weights(folder / "model.safetensors", self.models, groups, task=self.task.name, classes=self.classes)
        return folder / "model.safetensors"

    def outputs(self, split: Any) -> torch.Tensor:
        """Raw model outputs for prepared inputs: members stacked on dim 0, shape (M, N, out)."""
        batch = max(self.recipe.trainer.batch_size, 1024)
        x = split[0] if isinstance(split, tuple) else split
        return torch.stack([predict(m, x, batch_size=batch) for m in self.models])

    def prepare(self, raw: Any) -> Any:
        """Raw inputs (an array of feature rows or images, molecules, a window of a series...) as the model eats
        them, through the saved input pipeline."""
        return self.task.preprocess(self, raw)

    def predict(self, raw: Any) -> np.ndarray:
        """Predictions for raw inputs in the data's units: class labels, values, codes... as the task defines."""
        return self.task.predict_prepared(self, self.prepare(raw))

    def predict_prepared(self, split: Any) -> np.ndarray:
        """Predictions for prepared inputs (what :meth:`prepare` returns, or a split of the prepared data)."""
        return self.task.predict_prepared(self, split)

    def score_split(self, split: Any, targets: np.ndarray) -> dict[str, float]:
        """The recipe's metrics (and the loss) on prepared inputs against raw targets, as the task scores them."""
        return self.task.score(self, split, targets)

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Recompute the metrics on one split of the recipe's data (the same split as in training)."""
        data = self.task.prepare(self.recipe)
        if split not in data.splits:
            raise NeuralabError(f"split {split!r} is empty or unknown; available: {', '.join(data.splits)}")
        # The split and the refitted pipeline are those of training: both are deterministic given the seed.
        return self.score_split(data.splits[split], data.targets[split])

    def metrics(self) -> dict[str, Any]:
        """The contents of ``metrics.json``."""
        file = self.path / "metrics.json"
        try:
            return json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise NeuralabError(f"cannot read {file} ({type(exc).__name__}); the run may not have finished") \
                from None

    def __getattr__(self, name: str) -> Any:
        # Only called for names a Run lacks: the task's verbs (forecast, generate, similar...), bound to this run.
        task = self.__dict__.get("task")
        if name.startswith("__") or task is None:
            raise AttributeError(name)
        if name in task.verbs:
            return functools.partial(getattr(task, name), self)
        others = task.offering("verbs", name)
        if others:
            listed = " and ".join(others) if len(others) < 3 else f"{', '.join(others[:-1])} and {others[-1]}"
            raise VerbError(f"{name} is for {listed} runs; {self.path} is a run of task {task.name} "
                            f"({type(self.model).__name__})")
        offered = f"; its task offers: {', '.join(task.verbs)}" if task.verbs else ""
        raise AttributeError(f"a {task.name} run has no {name!r}{offered}")

    def __dir__(self) -> list[str]:
        task = self.__dict__.get("task")
        return sorted({*super().__dir__(), *(task.verbs if task is not None else ())})

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, task={self.task.name!r}, model={type(self.model).__name__})"


def read_model(path: str | Path, device: str = "cpu") -> torch.nn.Module:
    """The first model of a run directory, built from ``config.yaml``'s model section alone: no task needed
    (pretraining reads a source run this way)."""
    path = Path(path)
    raw = read_config(path)
    try:
        model_config = ModelConfig.model_validate(raw.get("model") or {})
    except ValueError as exc:
        raise NeuralabError(f"{path / 'config.yaml'} has a damaged model section ({exc})") from None
    model = build_model(model_config)
    state = read_weights(path).members[0]
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise NeuralabError(f"{path / 'model.safetensors'} does not match {path / 'config.yaml'}; was one of "
                            "them edited?") from None
    return model.to(resolve_device(device)).eval()
