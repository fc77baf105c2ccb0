"""Data for a recipe: loaded, split, and put through an input pipeline fitted on the training part only."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from neuralab.data import cv_fold, load_dataset, make_scaler, split_indices
from neuralab.data.prepared import ImageInputs, PreparedData, TabularInputs
from neuralab.errors import DataError
from neuralab.models import MODELS
from neuralab.recipes import Recipe, validate_recipe

__all__ = ["MOLECULAR", "SEQUENCE_TASKS", "OWN_LOSS_TASKS", "REGRESSION_TASKS", "prepare_data", "make_inputs",
           "encode_targets", "resolve", "build_model"]

MOLECULAR = {"esol", "solubility", "csv"}
#: Tasks whose data is a series or a text (prepared in :mod:`neuralab.runs.sequences`).
SEQUENCE_TASKS = {"forecasting", "language_model", "embedding"}
#: Tasks scored by the model's own ``loss`` (and its terms), not by a named loss on outputs and targets.
OWN_LOSS_TASKS = {"reconstruction", "language_model", "embedding"}
#: Tasks whose outputs are values in the target's units, with intervals.
REGRESSION_TASKS = {"regression", "forecasting"}


def _is_molecular(recipe: Recipe) -> bool:
    return recipe.data.name in MOLECULAR


def prepare_data(recipe: Recipe) -> PreparedData:
    """Load, split and transform the recipe's data; pipelines and scalers are fitted on the training part only."""
    if recipe.task in SEQUENCE_TASKS:
        if recipe.data.folds is not None:
            raise DataError(f"data.folds: cross-validation is not for {recipe.task} recipes, whose splits follow "
                            "time or text order; use a classification or regression recipe")
        from neuralab.runs.sequences import prepare_sequences

        return prepare_sequences(recipe)
    if _is_molecular(recipe):
        # RDKit is imported only for molecular recipes.
        from neuralab.chem.inputs import prepare_molecules

        return prepare_molecules(recipe)
    return _prepare_table(recipe)


def make_inputs(recipe: Recipe) -> Any:
    """An unfitted input pipeline of the kind the recipe uses (its state is loaded from the weights file)."""
    if recipe.task in SEQUENCE_TASKS:
        from neuralab.runs.sequences import make_sequence_inputs

        return make_sequence_inputs(recipe)
    if _is_molecular(recipe):
        from neuralab.chem.inputs import MoleculeInputs

        return MoleculeInputs.from_recipe(recipe)
    return ImageInputs() if recipe.data.scaling == "pixels" else TabularInputs(recipe.data.scaling)


def _prepare_table(recipe: Recipe) -> PreparedData:
    cfg = recipe.data
    ds = load_dataset(cfg.name, data_dir=cfg.data_dir)
    task = recipe.task or ds.task
    if ds.y is None and task != "reconstruction":
        raise DataError(f"data set {cfg.name!r} has no targets; a {task} recipe needs them")
    split = _table_split(ds, cfg, recipe.trainer.seed)
    if cfg.folds is not None:  # cross-validation: stratified folds for labelled classes
        split = cv_fold(split, cfg.folds, cfg.fold, seed=recipe.trainer.seed,
                        y=ds.y if task == "classification" else None)
    images = cfg.scaling == "pixels"
    inputs = ImageInputs() if images else TabularInputs(cfg.scaling)
    inputs.fit(ds.x[split.train])
    y_scaler = None
    if task == "regression" and cfg.target_scaling == "standard":
        y_scaler = make_scaler("standard").fit(ds.y[split.train].astype(np.float32).reshape(-1, 1))
    splits, targets = {}, {}
    for name in ("train", "val", "test"):
        idx = getattr(split, name)
        if len(idx) == 0:
            continue
        if ds.y is None:  # an autoencoder on unlabelled data
            targets[name] = np.zeros(len(idx), dtype=np.int64)
            splits[name] = inputs.transform(ds.x[idx])
            continue
        targets[name] = ds.y[idx]
        splits[name] = inputs.transform(ds.x[idx], encode_targets(ds.y[idx], task, y_scaler))
    labelled = task == "classification" or (task == "reconstruction" and ds.task == "classification")
    classes = list(ds.classes or np.unique(ds.y).tolist()) if labelled else []
    shape = tuple(int(d) for d in ds.x.shape[1:])
    model_args = {"in_features": int(np.prod(shape)), "out_features": len(classes) if task == "classification" else 1}
    if len(shape) == 3:  # images (C, H, W)
        model_args.update(in_channels=shape[0], image_size=list(shape[1:]))
    return PreparedData(splits, targets, inputs, y_scaler, task, model_args, classes, dict(ds.files))


def _table_split(ds: Any, cfg: Any, seed: int) -> Any:
    """The data set's own train/test split (validation carved from train), or a random/stratified one."""
    if cfg.split == "predefined":
        if not hasattr(ds, "predefined_split"):
            raise DataError(f"data set {cfg.name!r} has no predefined split; use random or stratified")
        given = ds.predefined_split
        inner = split_indices(len(given.train), method="stratified", val=cfg.val, test=0.0, seed=seed,
                              y=ds.y[given.train])
        return type(given)(given.train[inner.train], given.train[inner.val], given.test)
    if cfg.split not in {"random", "stratified"}:
        raise DataError(f"data.split {cfg.split!r} needs molecules or groups; use random, stratified or predefined "
                        f"for {cfg.name!r}")
    return split_indices(len(ds.x), method=cfg.split, val=cfg.val, test=cfg.test, seed=seed,
                         y=ds.y if cfg.split == "stratified" else None)


def encode_targets(y: np.ndarray, task: str, y_scaler: Any | None) -> torch.Tensor:
    """Targets as the loss wants them: class indices, or a scaled (N, 1) float column.

    An autoencoder ignores its targets; it keeps the labels it has, which the report uses to colour the codes."""
    if task == "classification" or (task == "reconstruction" and np.issubdtype(np.asarray(y).dtype, np.integer)):
        return torch.as_tensor(y, dtype=torch.long)
    t = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(len(y), -1)
    return y_scaler.transform(t) if y_scaler is not None else t


def build_model(recipe: Recipe) -> torch.nn.Module:
    return MODELS[recipe.model.name](**recipe.model.options)


def resolve(recipe: Recipe, data: PreparedData) -> Recipe:
    """Fill in what the data decides: the task and the sizes the model needs (input and output sizes...)."""
    raw = recipe.model_dump(mode="json")
    raw["task"] = data.task
    accepted = inspect.signature(MODELS[recipe.model.name]).parameters
    for key, value in data.model_args.items():
        if key in accepted:
            raw["model"].setdefault(key, value)
    if raw["loss"].get("name") is None and data.task in {"classification", *REGRESSION_TASKS}:
        raw["loss"]["name"] = "cross_entropy" if data.task == "classification" else "mse"
    return validate_recipe(raw)
