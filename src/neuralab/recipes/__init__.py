"""Recipes: YAML files that say what to train, on what, and how.

A recipe has the sections ``data``, ``model``, ``loss``, ``optimizer``, ``scheduler``, ``trainer`` and ``metrics``.
Bundled recipes live beside this file; any YAML file with the same sections works too. ``--set a.b=c`` overrides
one value (the value is read as YAML, so ``5``, ``0.1``, ``[256, 128]`` and ``null`` mean what they look like);
a bare key that belongs to exactly one section is short for it (``--set epochs=5`` is ``trainer.epochs=5``).
Unknown keys are errors that name the closest valid key, in every section: model and optimiser options are checked
against the signature of what they build.
"""

from __future__ import annotations

import inspect
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from neuralab.errors import ConfigError, did_you_mean
from neuralab.models import MODELS
from neuralab.train.config import (
    LossConfig,
    OptimizerConfig,
    OptionsModel,
    SchedulerConfig,
    StrictModel,
    TrainerConfig,
    validation_message,
)

__all__ = ["AugmentConfig", "FeaturesConfig", "DataConfig", "ModelConfig", "Recipe", "load_recipe", "list_recipes",
           "apply_override"]


class FeaturesConfig(StrictModel):
    """Molecular features: fingerprints and descriptors (see :mod:`neuralab.chem.featurize`)."""

    kinds: list[Literal["morgan", "morgan_counts", "rdkit2d", "maccs"]] = ["morgan"]
    radius: int = Field(2, ge=0)
    n_bits: int = Field(2048, ge=8)
    use_chirality: bool = False


class AugmentConfig(StrictModel):
    """Random distortions of training images, drawn per batch on the device (see :class:`neuralab.data.Augment`)."""

    shift: int = Field(2, ge=0)
    rotation: float = Field(10.0, ge=0)
    elastic_alpha: float = Field(0.0, ge=0)
    elastic_sigma: float = Field(4.0, gt=0)


class DataConfig(StrictModel):
    """Which data set, how to split it, and how to scale its features (fitted on the training part only).

    ``name`` is a registered data set, or ``csv`` for a user's file given by ``path`` with ``smiles_column`` and
    ``target_column``. For molecules, ``random`` and ``group`` splits keep duplicate molecules on one side,
    ``scaffold`` is the Bemis-Murcko split, and ``predefined`` uses the data set's own train/test split.
    Series, text and word corpora are split in time order (the tail is the test part), see :mod:`neuralab.runs`.
    """

    name: str
    path: str | None = None
    smiles_column: str = "smiles"
    target_column: str | None = None
    split: Literal["random", "stratified", "group", "scaffold", "predefined"] = "random"
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)
    scaling: Literal["standard", "minmax", "robust", "pixels", "none"] = "standard"
    target_scaling: Literal["standard", "none"] = "standard"
    features: FeaturesConfig | None = None
    augment: AugmentConfig | None = None
    data_dir: str | None = None
    # Cross-validation (`neuralab cv`): the training and validation parts are pooled into ``folds`` folds and
    # fold ``fold`` is the validation part; the test part is never touched.
    folds: int | None = Field(None, ge=2)
    fold: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _fold_in_range(self) -> DataConfig:
        if self.folds is None and self.fold:
            raise ValueError("fold needs folds (the number of folds), e.g. data.folds=5")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"fold must be in 0..{self.folds - 1} for folds={self.folds}; got {self.fold}")
        return self
    # Series (forecasting): the date column, the look-back window, the forecast horizon, how to fill gaps.
    date_column: str | None = None
    window: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    fill: Literal["none", "linear", "ffill"] = "none"
    # Text: characters per training sequence (language model); words: vocabulary floor, skip-gram context,
    # frequent-word subsampling threshold (word embeddings).
    block_size: int = Field(128, ge=1)
    min_count: int = Field(5, ge=1)
    context_window: int = Field(5, ge=1)
    subsample: float = Field(1e-3, ge=0)


class ModelConfig(OptionsModel):
    """``name`` of :data:`neuralab.models.MODELS` and that model's constructor arguments.

    ``init_from`` is a trained autoencoder's run directory: its encoder initialises this MLP's first layers, which
    is how a stacked autoencoder is pretrained, then fine-tuned as a classifier (Hinton & Salakhutdinov 2006;
    Vincent et al. 2010).
    """

    name: str = "mlp"
    init_from: str | None = None


class Recipe(StrictModel):
    """A whole training job."""

    name: str
    description: str = ""
    task: Literal["classification", "regression", "forecasting", "reconstruction", "language_model",
                  "embedding"] | None = None
    data: DataConfig
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    trainer: TrainerConfig = TrainerConfig()
    metrics: list[str] = []
    ensemble: int = Field(1, ge=1)


def _bundled() -> dict[str, Path]:
    folder = resources.files(__name__)
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def list_recipes() -> list[tuple[str, str]]:
    """``(name, description)`` of every bundled recipe, sorted by name."""
    out = []
    for name, path in sorted(_bundled().items()):
        raw = yaml.safe_load(path.read_text()) or {}
        out.append((name, str(raw.get("description", "")).strip().splitlines()[0] if raw.get("description") else ""))
    return out


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one ``a.b.c=value`` override to a raw recipe dict, in place."""
    if "=" not in override:
        raise ConfigError(f"--set expects KEY=VALUE, e.g. trainer.epochs=5; got {override!r}")
    key, _, text = override.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set key {key!r} is not a dotted path like trainer.epochs")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: cannot read value {text!r}: {exc.problem}") from exc
    if len(parts) == 1 and parts[0] not in Recipe.model_fields:
        parts = _shorthand(parts[0])
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _shorthand(key: str) -> list[str]:
    """``epochs`` → ``trainer.epochs``, ``split`` → ``data.split``: a bare key found in exactly one section."""
    owners = [section for section, info in Recipe.model_fields.items()
              if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
              and key in info.annotation.model_fields]
    return [owners[0], key] if len(owners) == 1 else [key]


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load a bundled recipe by name, or a YAML file by path, apply ``overrides`` and validate.

    Raises
    ------
    ConfigError
        Unknown recipe, unreadable YAML, unknown key (with the closest valid key) or bad value.

    Examples
    --------
    >>> recipe = load_recipe("digits-mlp", ["trainer.epochs=3"])
    >>> recipe.trainer.epochs
    3
    """
    path = Path(name_or_path)
    bundled = _bundled()
    if str(name_or_path) in bundled:
        path = bundled[str(name_or_path)]
    elif not path.is_file():
        hint = did_you_mean(str(name_or_path), bundled)
        raise ConfigError(f"no recipe or file named {str(name_or_path)!r}{hint}; run `neuralab recipes` to list "
                          "the bundled ones")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping with data, model, trainer... sections")
    raw.setdefault("name", path.stem)
    for override in overrides:
        apply_override(raw, override)
    return validate_recipe(raw)


def validate_recipe(raw: dict[str, Any]) -> Recipe:
    """Validate a raw dict as a :class:`Recipe`, checking options against what they build."""
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, Recipe)) from None
    if recipe.model.name not in MODELS:
        raise ConfigError(f"model.name: unknown model {recipe.model.name!r}{did_you_mean(recipe.model.name, MODELS)}"
                          f"; choose from {', '.join(MODELS)}")
    check_options(MODELS[recipe.model.name], recipe.model.options, "model")
    return recipe


def check_options(target: Any, options: dict[str, Any], section: str) -> None:
    """Raise a ConfigError for an option that ``target``'s signature does not take."""
    params = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in options:
        if key not in params:
            valid = [p for p in params if p != "self"]
            raise ConfigError(f"{section}.{key}: unknown key{did_you_mean(key, valid)}; valid keys: name, "
                              f"{', '.join(valid)}")
