"""Tasks: one module per kind of learning problem, registered in :data:`TASKS`, and the calls that need one.

``TASKS`` maps a recipe's ``task:`` to the object that knows everything specific to it (see
:class:`~neuralab.tasks.base.Task`). The functions here look a recipe's or a run's task up and hand the work to
the task-free run core (:mod:`neuralab.runs`)::

    from neuralab.recipes import load_recipe
    from neuralab.tasks import load_run, train_recipe

    run = train_recipe(load_recipe("digits-mlp", ["trainer.epochs=30"]))
    load_run(run.path).evaluate("test")

To add a task: write ``tasks/<name>.py`` with a frozen dataclass subclass of ``Task``, add one line to ``TASKS``
below, and add its recipes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuralab.data.features import is_file
from neuralab.data.prepared import PreparedData
from neuralab.errors import ConfigError, NeuralabError, did_you_mean
from neuralab.runs import cv as _cv
from neuralab.runs.recipe import Recipe
from neuralab.runs.run import Run
from neuralab.runs.store import read_config
from neuralab.runs.train import resolve, train_run
from neuralab.tasks.base import Predictions, Task
from neuralab.tasks.classification import Classification
from neuralab.tasks.control import Control
from neuralab.tasks.density import Density
from neuralab.tasks.embedding import Embedding
from neuralab.tasks.forecasting import Forecasting
from neuralab.tasks.generation import Generation
from neuralab.tasks.language_model import LanguageModel
from neuralab.tasks.recommendation import Recommendation
from neuralab.tasks.reconstruction import Reconstruction
from neuralab.tasks.regression import Regression
from neuralab.train import Callback

__all__ = ["TASKS", "Task", "Predictions", "get_task", "validate_recipe", "validate_saved", "load_run", "train_recipe",
           "cross_validate", "prepare_data", "resolve_recipe"]

TASKS: dict[str, Task] = {
    "classification": Classification(),
    "regression": Regression(),
    "forecasting": Forecasting(),
    "language_model": LanguageModel(),
    "embedding": Embedding(),
    "reconstruction": Reconstruction(),
    "density": Density(),
    "recommendation": Recommendation(),
    "generation": Generation(),
    "control": Control(),
}

#: The task of a recipe that names none, from its data set (recipes written before tasks were required).
DEFAULT_TASKS = {"digits": "classification", "mnist": "classification", "esol": "regression",
                 "solubility": "regression", "csv": "regression"}


def get_task(name: Any) -> Task:
    """The task called ``name``; a one-line ConfigError listing the tasks otherwise."""
    if not isinstance(name, str) or name not in TASKS:
        hint = did_you_mean(name, TASKS) if isinstance(name, str) else ""
        raise ConfigError(f"task: unknown task {name!r}{hint}; choose from {', '.join(TASKS)}")
    return TASKS[name]


def task_of(raw: dict[str, Any]) -> Task:
    """The task a raw recipe names, or the usual task of its data set when it names none."""
    name = raw.get("task")
    if name is None:
        data = raw.get("data")
        dataset = data.get("name") if isinstance(data, dict) else None
        name = DEFAULT_TASKS.get(dataset) if isinstance(dataset, str) else None
        if name is None:
            raise ConfigError(f"task: the recipe names no task; add one of: {', '.join(TASKS)}")
    return get_task(name)


def validate_recipe(raw: dict[str, Any]) -> Recipe:
    """Validate a raw recipe with its task's schema: a bad key or value is a one-line ConfigError naming it."""
    return task_of(raw).validate_recipe(raw)


def validate_saved(raw: dict[str, Any]) -> Recipe:
    """Validate a run's own ``config.yaml``, also from before tasks had their own schemas (see
    :meth:`Task.validate_saved`)."""
    return task_of(raw).validate_saved(raw)


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Read a run directory back, with its task; a missing or damaged file is a one-line error naming it."""
    raw = read_config(Path(path))
    try:
        task = task_of(raw)
    except ConfigError as err:
        raise NeuralabError(f"{Path(path) / 'config.yaml'} is damaged: {err}") from None
    return Run.load(path, task, device)


def train_recipe(recipe: Recipe | None = None, *, out_dir: str | Path | None = None,
                 runs_root: str | Path = "runs", resume: str | Path | None = None,
                 callbacks: Sequence[Callback] = (), write_report: bool = True) -> Run:
    """Train a recipe into a run directory and return the loaded :class:`~neuralab.runs.Run`.

    Parameters
    ----------
    recipe
        The validated recipe; omitted when resuming (the run's own ``config.yaml`` is used).
    out_dir
        The run directory; by default ``<runs_root>/<recipe>-<timestamp>``.
    resume
        A run directory to continue: finished ensemble members are kept, the unfinished one goes on from its
        ``last.ckpt``; a run that stopped before its first checkpoint starts again.
    callbacks
        Extra engine callbacks, e.g. the CLI's progress bar.
    write_report
        Write the PNG plots and ``report.html`` at the end.
    """
    if resume is not None:
        resume = Path(resume)
        if not is_file(resume / "config.yaml"):
            raise NeuralabError(f"cannot resume {resume}: it has no config.yaml; is it a run directory?")
        raw = read_config(resume)
        recipe = task_of(raw).validate_saved(raw)
        if is_file(resume / "model.safetensors") and not any((resume / "checkpoints").rglob("*.ckpt")):
            raise NeuralabError(f"cannot resume {resume}: it has finished (model.safetensors is there) and kept no "
                                "checkpoint to go on from; train it again into another --out")
        return train_run(recipe, get_task(recipe.task), out_dir=resume, resume=True, callbacks=callbacks,
                         write_report=write_report)
    if recipe is None:
        raise NeuralabError("train_recipe needs a recipe or a run directory to resume")
    return train_run(recipe, get_task(recipe.task), out_dir=out_dir, runs_root=runs_root, callbacks=callbacks,
                     write_report=write_report)


def cross_validate(recipe: Recipe, k: int = 5, *, out_dir: str | Path, callbacks: Sequence[Callback] = (),
                   level: float = 0.95) -> dict[str, Any]:
    """k-fold cross-validation of a recipe (see :func:`neuralab.runs.cv.cross_validate`)."""
    return _cv.cross_validate(recipe, get_task(recipe.task), k, out_dir=out_dir, callbacks=callbacks, level=level)


def prepare_data(recipe: Recipe) -> PreparedData:
    """The recipe's data, split and prepared by its task (pipelines fitted on the training part only)."""
    return get_task(recipe.task).prepare(recipe)


def resolve_recipe(recipe: Recipe, data: PreparedData | None = None) -> Recipe:
    """The recipe with what its data decides filled in (the model's input and output sizes, the default loss)."""
    task = get_task(recipe.task)
    return resolve(recipe, data if data is not None else task.prepare(recipe), task)
