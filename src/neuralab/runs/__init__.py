"""Runs: a recipe trained into a directory, and loaded back, whatever its task.

This is the task-free core: the recipe's typed config (:mod:`~neuralab.runs.recipe`), the run directory on disk
(:mod:`~neuralab.runs.store`), :class:`Run` and the training of a recipe given its task
(:mod:`~neuralab.runs.train`). Everything task-specific is asked of the run's task (:mod:`neuralab.tasks`), which
is also where a run is loaded by path (:func:`neuralab.tasks.load_run`) and a recipe trained
(:func:`neuralab.tasks.train_recipe`)::

    runs/<recipe>-<timestamp>/
        config.yaml         the fully resolved recipe (the model's input and output sizes included)
        model.safetensors   weights plus the fitted scalers; no pickle anywhere
        metrics.json        per-epoch history and final train / val / test metrics
        environment.json    versions, device, seed, git commit, data files' sha256
        checkpoints/        last.ckpt (to resume) and best.ckpt
        *.png, report.html  the task's figures and the self-contained report
"""

from neuralab.runs.recipe import DataConfig, FoldsConfig, ModelConfig, Recipe
from neuralab.runs.run import Run, read_model

__all__ = ["DataConfig", "FoldsConfig", "ModelConfig", "Recipe", "Run", "read_model"]
