"""Tables and images in memory (digits, MNIST): their ``data:`` schema and their preparation, shared by the
classification, regression and reconstruction tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from neuralab.data import cv_fold, load_dataset, make_scaler, split_indices
from neuralab.data.features import read_features
from neuralab.data.prepared import ImageInputs, PreparedData, TabularInputs
from neuralab.data.transforms import Augment
from neuralab.errors import DataError, NeuralabError
from neuralab.runs.recipe import FoldsConfig, Recipe
from neuralab.train.config import StrictModel

__all__ = ["AugmentConfig", "TableData", "prepare_table", "table_inputs", "augmentation", "read_rows",
           "flag_non_finite", "check_width"]

TargetKind = Literal["classes", "values", "optional"]


class AugmentConfig(StrictModel):
    """Random distortions of training images, drawn per batch on the device (see :class:`neuralab.data.Augment`)."""

    shift: int = Field(2, ge=0)
    rotation: float = Field(10.0, ge=0)
    elastic_alpha: float = Field(0.0, ge=0)
    elastic_sigma: float = Field(4.0, gt=0)


class TableData(FoldsConfig):
    """An in-memory data set of feature rows or images (``digits``, ``mnist``).

    ``split`` is ``random``, ``stratified`` (class proportions kept) or ``predefined`` (the data set's own
    train/test split, validation carved from train). ``scaling`` is fitted on the training part only: per feature
    (``standard``, ``minmax``, ``robust``), or one statistic for every pixel (``global``: one mean and std;
    ``global_minmax``: the overall range to [0, 1]), for images given as rows; ``pixels`` divides by 255 and keeps
    the image shape. ``augment`` distorts training images each batch.
    """

    split: Literal["random", "stratified", "predefined"] = "random"
    scaling: Literal["standard", "global", "global_minmax", "minmax", "robust", "pixels", "none"] = "standard"
    augment: AugmentConfig | None = None

    @model_validator(mode="after")
    def _augment_whole_images(self) -> TableData:
        if self.augment is not None and self.scaling in {"standard", "minmax", "robust"}:
            raise ValueError(f"augment moves ink between pixels, which per-pixel scaling ({self.scaling}) turns into "
                             "huge values; use scaling: global (one mean and std for every pixel), pixels or none")
        return self


def table_inputs(recipe: Recipe) -> ImageInputs | TabularInputs:
    """The unfitted input pipeline of a table recipe: images kept as images, or feature rows scaled."""
    return ImageInputs() if recipe.data.scaling == "pixels" else TabularInputs(recipe.data.scaling)


def prepare_table(recipe: Recipe, targets: TargetKind, y_scaling: str = "none") -> PreparedData:
    """Load, split and scale an in-memory data set.

    ``targets`` is ``classes`` (class indices, stratified folds), ``values`` (a float column, standardised when
    ``y_scaling`` is ``standard``) or ``optional`` (an autoencoder: labels are kept when the data has them, to
    colour the report's latent space, and ignored by the model).
    """
    cfg = recipe.data
    ds = load_dataset(cfg.name, data_dir=cfg.data_dir)
    if ds.y is None and targets != "optional":
        raise DataError(f"data set {cfg.name!r} has no targets; a {recipe.task} recipe needs them")
    split = _split(ds, cfg, recipe.trainer.seed)
    if cfg.folds is not None:  # cross-validation: stratified folds for labelled classes
        split = cv_fold(split, cfg.folds, cfg.fold, seed=recipe.trainer.seed,
                        y=ds.y if targets == "classes" else None)
    inputs = table_inputs(recipe)
    inputs.fit(ds.x[split.train])
    y_scaler = None
    if targets == "values" and y_scaling == "standard":
        y_scaler = make_scaler("standard").fit(ds.y[split.train].astype(np.float32).reshape(-1, 1))
    labelled = targets == "classes" or (targets == "optional" and ds.task == "classification")
    splits, raw_targets = {}, {}
    for name in ("train", "val", "test"):
        idx = getattr(split, name)
        if len(idx) == 0:
            continue
        if ds.y is None:  # an autoencoder on unlabelled data
            raw_targets[name] = np.zeros(len(idx), dtype=np.int64)
            splits[name] = inputs.transform(ds.x[idx])
            continue
        raw_targets[name] = ds.y[idx]
        splits[name] = inputs.transform(ds.x[idx], _encode(ds.y[idx], targets, y_scaler))
    classes = list(ds.classes or np.unique(ds.y).tolist()) if labelled else []
    shape = tuple(int(d) for d in ds.x.shape[1:])
    model_args = {"in_features": int(np.prod(shape)), "out_features": len(classes) if targets == "classes" else 1}
    if ds.image_shape is not None:  # images (C, H, W), or flat rows that are images (the 8×8 digits)
        model_args.update(in_channels=ds.image_shape[0], image_size=list(ds.image_shape[1:]))
    if cfg.augment is not None and ds.image_shape is None:
        raise DataError(f"data.augment: {cfg.name!r} is not a data set of images, so it cannot be augmented; "
                        "remove data.augment")
    return PreparedData(splits, raw_targets, inputs, y_scaler, recipe.task, model_args, classes, dict(ds.files),
                        image_shape=ds.image_shape)


def _split(ds: Any, cfg: TableData, seed: int) -> Any:
    """The data set's own train/test split (validation carved from train), or a random/stratified one."""
    if cfg.split == "predefined":
        if not hasattr(ds, "predefined_split"):
            raise DataError(f"data set {cfg.name!r} has no predefined split; use random or stratified")
        given = ds.predefined_split
        inner = split_indices(len(given.train), method="stratified", val=cfg.val, test=0.0, seed=seed,
                              y=ds.y[given.train])
        return type(given)(given.train[inner.train], given.train[inner.val], given.test)
    return split_indices(len(ds.x), method=cfg.split, val=cfg.val, test=cfg.test, seed=seed,
                         y=ds.y if cfg.split == "stratified" else None)


def _encode(y: np.ndarray, targets: TargetKind, y_scaler: Any | None) -> torch.Tensor:
    """Targets as the loss wants them: class indices, or a scaled (N, 1) float column.

    An autoencoder ignores its targets; it keeps the labels it has, which the report uses to colour the codes."""
    if targets == "classes" or (targets == "optional" and np.issubdtype(np.asarray(y).dtype, np.integer)):
        return torch.as_tensor(y, dtype=torch.long)
    t = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(len(y), -1)
    return y_scaler.transform(t) if y_scaler is not None else t


def augmentation(recipe: Recipe, data: PreparedData) -> Callable[[tuple[Any, ...], torch.Generator],
                                                                  tuple[Any, ...]] | None:
    """The recipe's image augmentation as a per-batch transform for the engine, or None.

    Images kept as images are distorted as they are. Flat rows that are images (the 8×8 digits) are put back in
    their pixel values (the scaler undone), laid out as images, distorted, flattened and scaled again, so that a
    shift moves pixels, not standardised values.
    """
    if getattr(recipe.data, "augment", None) is None:
        return None
    augment = Augment(**recipe.data.augment.model_dump())
    shape = data.image_shape
    scaler = getattr(data.inputs, "scaler", None)

    def transform(batch: tuple[Any, ...], generator: torch.Generator) -> tuple[Any, ...]:
        x = batch[0]
        if x.ndim == 2 and shape is not None:
            raw = scaler.inverse_transform(x) if scaler is not None else x
            raw = augment(raw.reshape(len(x), *shape), generator=generator).reshape(len(x), -1)
            x = scaler.transform(raw) if scaler is not None else raw
        else:
            x = augment(x, generator=generator)
        return (x, *batch[1:])

    return transform


def read_rows(inputs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Feature rows from ``.csv``/``.npy`` paths or arrays, stacked, and a name for each row: its index, or
    ``file:index`` when several inputs are given (counted from 0, as in the file). A sample with more dimensions
    (an image in a ``.npy``) is flattened to one row."""
    arrays, names = [], []
    for item in inputs:
        if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
            x = read_features(item, flatten=True)
            label = str(item)
        else:
            x = np.asarray(item, dtype=np.float32)
            x = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(len(x), -1)
            label = "input"
        arrays.append(x)
        names += [f"{label}:{i}" if len(inputs) > 1 else str(i) for i in range(len(x))]
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        raise DataError(f"the inputs have different numbers of features: {sorted(widths)}")
    return np.concatenate(arrays), names


def flag_non_finite(x: np.ndarray) -> list[str | None]:
    """An error for each row holding a NaN or an infinite value (never predicted: it would print NaN), else None."""
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(1)
    return [f"row holds a missing or infinite value in column {int(np.flatnonzero(~np.isfinite(r))[0]) + 1}"
            if b else None for r, b in zip(x.reshape(len(x), -1), bad)]


def check_width(x: np.ndarray, expected: int | None) -> None:
    """A one-line error when feature rows do not have the model's number of features."""
    if expected is not None and x[0].size != expected:
        raise NeuralabError(f"the model expects {expected} features per row; got input of shape {tuple(x.shape)}")
