"""What a task is: everything specific to one kind of learning problem, behind one interface.

A task says how a recipe's ``data:`` section looks (its pydantic schema), how the data is prepared, which loss and
metrics fit it and which way each is better, how a trained run is scored and calibrated, which figures its report
shows, and how raw user input is decoded for ``predict``. The run core, the engine, the CLI and the server never
ask "which task is this?": they call the run's task.

Inference follows Hugging Face's pipelines: :meth:`Task.predict` decodes raw inputs (files, SMILES, rows...) into
what the model eats (:meth:`Task.preprocess`), runs the model, and turns its outputs into :class:`Predictions`:
rows a person reads, with an ``error`` per row that could not be predicted, so that one bad input never costs the
others.

To add a task: write a module with a subclass of :class:`Task` (a frozen dataclass), add one line to
``TASKS`` in :mod:`neuralab.tasks`, and add its recipes. See the README's "Architecture" section.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import ValidationError

from neuralab.data.prepared import PreparedData
from neuralab.errors import ConfigError, NeuralabError
from neuralab.report import write_report
from neuralab.runs.recipe import DataConfig, Recipe, check_model
from neuralab.train import Callback
from neuralab.train.config import validation_message
from neuralab.train.state import atomic_write_text

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Task", "Predictions", "Column", "offering", "join_names"]

Column = tuple[str, Callable[[dict[str, Any]], str]]  # a terminal table's header and how a row shows in it


@dataclass
class Predictions:
    """The rows of a prediction, one per input (a file, a SMILES, a feature row, a forecast step...).

    Attributes
    ----------
    columns
        Every key of the rows, in order: the CSV header and the JSON keys.
    rows
        One dict per row. ``row["error"]`` says why a row could not be predicted (None when it was).
    table
        How the rows show in a terminal: ``(header, cell)`` pairs, ``cell(row) -> str``; failed rows show their
        error instead.
    title
        A line printed above the table, or None.
    failed_note
        What to say (on stderr) when some rows failed: a format string with ``{failed}`` and ``{total}``.
    file_only
        Set when the rows are too wide for a terminal (a whole CSV with its columns): the message that asks for a
        file to write them to.
    error_column
        The key of the rows' error (``error``, unless the input already had such a column).
    """

    columns: list[str]
    rows: list[dict[str, Any]]
    table: list[Column] = field(default_factory=list)
    title: str | None = None
    failed_note: str = "{failed} of {total} rows could not be predicted (see the error column)"
    file_only: str | None = None
    error_column: str = "error"

    @property
    def failed(self) -> int:
        """How many rows could not be predicted."""
        return sum(row.get(self.error_column) not in (None, "") for row in self.rows)

    def flat(self) -> list[list[str]]:
        """The rows as CSV cells: floats to 4 significant decimals, None as empty."""
        return [[_cell(row.get(column)) for column in self.columns] for row in self.rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}" if np.isfinite(value) else ""
    return str(value)


@dataclass(frozen=True)
class Task:
    """One kind of learning problem. Subclasses override what differs; the defaults suit a supervised task.

    Attributes
    ----------
    name
        The key in ``TASKS`` and the recipe's ``task:``.
    summary
        One line for ``neuralab tasks``.
    default_loss
        The loss a recipe gets when it names none; None: the model's own ``loss(batch)``.
    metrics
        The metric names a recipe of this task may list (see :data:`neuralab.train.METRICS`).
    cross_validation
        Whether ``neuralab cv`` applies (not to series and texts, whose splits follow time).
    keep_best
        Whether a run keeps the weights of its best epoch by the monitor even without early stopping (an agent,
        whose evaluations swing from epoch to epoch).
    predict_options, sample_options
        The keyword options :meth:`predict` and :meth:`sample` take (the CLI refuses the others in one line).
    verbs
        Methods of the task offered on its runs: ``run.forecast(...)`` is ``task.forecast(run, ...)``.
    """

    name: str = ""
    summary: str = ""
    default_loss: str | None = None
    metrics: tuple[str, ...] = ()
    cross_validation: bool = False
    keep_best: bool = False  # keep the best epoch's weights (by the monitor) even without early stopping
    predict_options: tuple[str, ...] = ()
    sample_options: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    # --- the recipe -----------------------------------------------------------------------------------------

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        """The pydantic model of this task's ``data:`` section (it may depend on the data set, as molecules do)."""
        raise NotImplementedError

    def validate_recipe(self, raw: dict[str, Any]) -> Recipe:
        """Validate a raw recipe of this task; a bad key or value is a one-line ConfigError naming it."""
        data = raw.get("data")
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"data: a {self.name} recipe needs a data section with at least a name, e.g. "
                              "data: {name: digits}")
        schema = self.data_schema(data)
        try:
            data_config = schema.model_validate(data)
        except ValidationError as exc:
            message = validation_message(exc, schema, "data")
            raise ConfigError(message.replace(": unknown key", f": unknown key for a {self.name} recipe", 1)) \
                from None
        try:
            recipe = Recipe.model_validate({**raw, "task": self.name, "data": data_config})
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, Recipe)) from None
        check_model(recipe.model)
        for metric in recipe.metrics:
            if metric not in self.metrics:
                choices = f"choose from {', '.join(self.metrics)}" if self.metrics else \
                    "it is scored by its model's own loss, so leave metrics empty"
                raise ConfigError(f"metrics: {metric!r} is not a {self.name} metric; {choices}")
        return recipe

    def validate_saved(self, raw: dict[str, Any]) -> Recipe:
        """Validate a run's own ``config.yaml``. Runs saved before each task had its own ``data:`` schema hold every
        task's data keys; those this task does not know are dropped, since they never meant anything to it."""
        data = raw.get("data")
        if isinstance(data, dict) and "name" in data:
            known = self.data_schema(data).model_fields
            raw = {**raw, "data": {k: v for k, v in data.items() if k in known}}
        return self.validate_recipe(raw)

    def own_data(self, path: str) -> dict[str, Any]:
        """The ``data:`` keys that train this task's recipe on the user's own file (the CLI's ``--data``)."""
        raise ConfigError(f"--data is not supported for {self.name} recipes")

    # --- training ---------------------------------------------------------------------------------------------

    def prepare(self, recipe: Recipe) -> PreparedData:
        """Load, split and transform the recipe's data; pipelines and scalers are fitted on the training part."""
        raise NotImplementedError

    def make_inputs(self, recipe: Recipe) -> Any:
        """An unfitted input pipeline of the recipe's kind; its state is then loaded from the weights file."""
        raise NotImplementedError

    def init_model(self, model: torch.nn.Module, data: PreparedData) -> None:
        """Set up a new model from the data before training (e.g. word2vec's noise distribution). Default: no-op."""

    def train_transform(self, recipe: Recipe, data: PreparedData
                        ) -> Callable[[tuple[Any, ...], torch.Generator], tuple[Any, ...]] | None:
        """A per-batch transform of training batches (augmentation), or None."""
        return None

    def callbacks(self, recipe: Recipe, data: PreparedData, out: Path) -> list[Callback]:
        """Engine callbacks the task adds to training (a GAN's fixed-noise grid each epoch); ``out`` is the member's
        own folder. Default: none."""
        return []

    def loss_note(self, recipe: Recipe) -> str:
        """What the ``loss`` column means for this task, in a sentence for the report and ``metrics.json``."""
        return f"loss is the recipe's {recipe.loss.name} loss, a mean over samples."

    def monitor(self, recipe: Recipe, data: PreparedData) -> str:
        """The logged value that picks the best epoch: ``trainer.monitor``, else the validation loss."""
        return recipe.trainer.monitor or ("val_loss" if "val" in data.splits else "train_loss")

    # --- scoring ----------------------------------------------------------------------------------------------

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        """The recipe's metrics (and the loss) of a run on prepared inputs against raw targets."""
        raise NotImplementedError

    def calibrate(self, run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
        """Tensors saved with the weights for intervals (validation residuals...). Default: none."""
        return {}

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """Numbers for ``metrics.json`` beyond the per-split metrics (baselines, interval coverage...)."""
        return dict(data.extras.get("metrics", {}))

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """Draw the task's figures into ``out``; return ``{"file", "title", "caption"}`` for each, in order."""
        return []

    def finish(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> Path:
        """Draw the figures, list them in ``figures.json`` and write ``report.html``; return the report's path."""
        figures = self.figures(run, data, metrics, out)
        atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))
        return write_report(out)

    # --- inference --------------------------------------------------------------------------------------------

    def preprocess(self, run: Run, raw: Any) -> Any:
        """Raw model inputs (arrays, molecules, windows...) → prepared inputs, through the run's pipeline."""
        return run.inputs.transform(raw)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        """Predictions for prepared inputs, in the data's units."""
        raise NotImplementedError

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Decode raw user inputs (paths, SMILES, rows...), predict, and return rows a person reads."""
        raise NeuralabError(f"predict is not available for {self.name} runs")

    def write_samples(self, run: Run, output: Path | None, **options: Any) -> str:
        """Draw new data from a generative run (the CLI's ``sample``); return the text drawn or a line saying what
        was written where."""
        raise NeuralabError(f"{run.path} is a run of task {self.name} ({type(run.model).__name__}), which cannot "
                            f"sample; sampling is for {join_names(offering('sample_options'))} runs")

    @staticmethod
    def offering(attribute: str, item: str | None = None) -> list[str]:
        """The tasks whose ``attribute`` holds ``item`` (see :func:`offering`)."""
        return offering(attribute, item)

    def check_options(self, action: str, taken: Sequence[str], options: dict[str, Any]) -> None:
        """A one-line error for an option given to ``action`` that this task does not take."""
        for name, value in options.items():
            if value is not None and name not in taken:
                raise NeuralabError(f"{_flag(name)} is not an option of {action} for {self.name} runs"
                                    + (f"; it takes {', '.join(map(_flag, taken))}" if taken else ""))


def _flag(option: str) -> str:
    """The CLI flag of an option: ``-n``, ``--smiles-column``; ``input_file`` is ``--input``."""
    if option in {"input_file", "calibrated"}:
        return {"input_file": "--input", "calibrated": "--uncalibrated"}[option]
    return f"-{option}" if len(option) == 1 else "--" + option.replace("_", "-")


def offering(attribute: str, item: str | None = None) -> list[str]:
    """The names of the tasks whose ``attribute`` (``verbs``, ``sample_options``...) is not empty, or holds
    ``item``: for error messages that say which runs have what was asked for."""
    names, todo = [], list(Task.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo += cls.__subclasses__()
        fields = cls.__dataclass_fields__
        values = fields[attribute].default
        if (item in values) if item is not None else bool(values):
            names.append(fields["name"].default)
    return names


def join_names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: a list in a sentence."""
    names = list(names)
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"
