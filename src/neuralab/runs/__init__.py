"""Runs: a recipe trained into a directory, and loaded back to evaluate and predict.

``train_recipe`` prepares the data, builds the model, calls the engine and writes the run directory::

    runs/<recipe>-<timestamp>/
        config.yaml         the fully resolved recipe (the model's input and output sizes included)
        model.safetensors   weights plus the fitted scalers; no pickle anywhere
        metrics.json        per-epoch history and final train / val / test metrics
        environment.json    versions, device, seed, git commit, data files' sha256
        checkpoints/        last.ckpt (to resume) and best.ckpt
        *.png, report.html  learning curves and the self-contained report

``Run.load(path)`` reads a run back; ``run.predict(x)`` applies the saved scaling and the model.
"""

from neuralab.runs.prepare import MOLECULAR, make_inputs, prepare_data, resolve
from neuralab.data.features import read_features
from neuralab.runs.run import Run
from neuralab.runs.train import train_recipe

__all__ = ["MOLECULAR", "Run", "make_inputs", "prepare_data", "read_features", "resolve", "train_recipe"]
