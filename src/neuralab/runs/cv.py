"""k-fold cross-validation of a recipe: one run per fold, and the validation metrics summarised with an interval.

The training and validation parts of the recipe's split are pooled and cut into ``k`` folds (stratified for
classes, and never splitting a molecule's duplicates or, with the scaffold split, a scaffold); each fold is the
validation part of one run. The test part is never touched, so a model chosen by cross-validation can still be
scored once on it. Each fold is an ordinary run directory under ``out_dir/fold-<i>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralab.errors import NeuralabError
from neuralab.runs.recipe import Recipe
from neuralab.runs.train import train_run
from neuralab.train import Callback
from neuralab.train.distributed import is_main_process

if TYPE_CHECKING:
    from neuralab.tasks.base import Task

__all__ = ["cross_validate", "summarise_folds"]


def cross_validate(recipe: Recipe, task: Task, k: int = 5, *, out_dir: str | Path,
                   callbacks: Sequence[Callback] = (), level: float = 0.95, without_test: bool = False
                   ) -> dict[str, Any]:
    """Train ``recipe`` once per fold and summarise the folds' final validation metrics.

    Parameters
    ----------
    recipe
        Any recipe of a task that can be cross-validated (classification, regression, reconstruction).
    task
        Its task.
    k
        Number of folds, at least 2.
    out_dir
        Folder for the fold runs (``fold-0`` ... ``fold-<k-1>``) and ``cv.json``.
    callbacks
        Extra engine callbacks for every fold (a progress bar...).
    level
        Coverage of the interval for the mean of each metric.
    without_test
        Drop the test split in every fold run (hyper-parameter search): nothing is scored on it.

    Returns
    -------
    dict
        ``folds`` (each fold's validation metrics and run directory) and ``summary`` (per metric: mean, std over the
        folds, and a Student-t interval for the mean), also written to ``out_dir/cv.json``.
    """
    if not task.cross_validation:
        raise NeuralabError(f"cross-validation is not for {task.name} recipes, whose splits follow time or text "
                            "order; use a classification or regression recipe")
    out_dir = Path(out_dir)
    folds = []
    for fold in range(k):
        data = recipe.data.model_copy(update={"folds": k, "fold": fold})
        run_dir = out_dir / f"fold-{fold}"
        run = train_run(recipe.model_copy(update={"data": data}), task, out_dir=run_dir, callbacks=callbacks,
                        write_report=False, without_test=without_test)
        folds.append({"fold": fold, "run": str(run_dir), "val": run.metrics()["final"]["val"]})
    result = {"recipe": recipe.name, "k": k, "level": level, "folds": folds,
              "summary": summarise_folds([f["val"] for f in folds], level)}
    if is_main_process():  # under torchrun, rank 0 writes the summary
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "cv.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def summarise_folds(values: list[dict[str, float]], level: float = 0.95) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation and a Student-t interval of the mean, for each metric of the folds.

    The interval treats the fold scores as independent draws, which they are not quite (the folds share training
    data), so it is a little optimistic; it is the usual way to report a cross-validated score.
    """
    from scipy import stats

    summary = {}
    for name in values[0]:
        v = np.array([fold[name] for fold in values], dtype=np.float64)
        mean, std = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * std / math.sqrt(len(v)) if len(v) > 1 else 0.0
        summary[name] = {"mean": mean, "std": std, "low": mean - half, "high": mean + half}
    return summary
