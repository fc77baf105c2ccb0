"""The recipe: what to train, on what, and how, as a typed config.

A recipe has the sections ``data``, ``model``, ``loss``, ``optimizer``, ``scheduler``, ``trainer`` and ``metrics``,
and names its ``task``. Every section but ``data`` is the same for every task and is defined here; ``data`` is
:class:`DataConfig` extended by the task (``neuralab.tasks``), which forbids the keys that mean nothing to it, so
that ``data.window`` on a classification recipe is an error that names the task. This module reads YAML and applies
``--set`` overrides; validating a whole recipe needs its task and is :func:`neuralab.tasks.validate_recipe`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SerializeAsAny, model_validator
from torch import nn

from neuralab.errors import ConfigError, did_you_mean
from neuralab.models import MODELS
from neuralab.train.config import (
    LossConfig,
    OptimizerConfig,
    OptionsModel,
    SchedulerConfig,
    StrictModel,
    TrainerConfig,
)

__all__ = ["DataConfig", "FoldsConfig", "ModelConfig", "Recipe", "apply_override", "build_model", "check_model",
           "check_options", "read_yaml"]


class DataConfig(StrictModel):
    """What every task's ``data`` section has: the data set's ``name``, where to look for its files first, and the
    fractions of it held out for validation and test. Each task adds its own keys (see ``neuralab.tasks``)."""

    name: str
    data_dir: str | None = None
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)


class FoldsConfig(DataConfig):
    """A ``data`` section that can be cross-validated (``neuralab cv``): the training and validation parts are pooled
    into ``folds`` folds and fold ``fold`` is the validation part; the test part is never touched."""

    folds: int | None = Field(None, ge=2)
    fold: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _fold_in_range(self) -> FoldsConfig:
        if self.folds is None and self.fold:
            raise ValueError("fold needs folds (the number of folds), e.g. data.folds=5")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"fold must be in 0..{self.folds - 1} for folds={self.folds}; got {self.fold}")
        return self


class ModelConfig(OptionsModel):
    """``name`` of :data:`neuralab.models.MODELS` and that model's constructor arguments.

    ``init_from`` is a trained run directory whose model exposes ``encoder_layers()`` (an autoencoder, a stack of
    RBMs): its encoder initialises this model's first layers, which is how a network is pretrained, then
    fine-tuned as a classifier (Hinton & Salakhutdinov 2006; Vincent et al. 2010).
    """

    name: str = "mlp"
    init_from: str | None = None


class Recipe(StrictModel):
    """A whole training job. ``data`` is the task's own section (a subclass of :class:`DataConfig`)."""

    name: str
    description: str = ""
    task: str
    data: SerializeAsAny[DataConfig]
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    trainer: TrainerConfig = TrainerConfig()
    metrics: list[str] = []
    ensemble: int = Field(1, ge=1)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, or a one-line ConfigError that says where the YAML is broken."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not valid UTF-8)") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a recipe: its YAML is nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping with data, model, trainer... sections; got "
                          f"{type(raw).__name__}")
    if _too_large(raw):
        raise ConfigError(f"{path}: not a recipe: it holds over {MAX_NODES:,} values once its YAML aliases are "
                          "expanded")
    return raw


MAX_NODES = 100_000  # a recipe has a few hundred values; YAML aliases can make a small file expand without bound


def _too_large(raw: Any) -> bool:
    """Whether ``raw`` holds more than MAX_NODES values, counting each alias as often as it is used (the
    "billion laughs" bomb), stopping as soon as the count passes the limit."""
    todo, seen = [raw], 0
    while todo:
        node = todo.pop()
        seen += 1
        if seen > MAX_NODES:
            return True
        if isinstance(node, dict):
            todo.extend(node.values())
            todo.extend(node.keys())
        elif isinstance(node, (list, tuple)):
            todo.extend(node)
    return False


def apply_override(raw: dict[str, Any], override: str, data_schema: type[BaseModel] = DataConfig) -> None:
    """Apply one ``a.b.c=value`` override to a raw recipe dict, in place.

    The value is read as YAML, so ``5``, ``0.1``, ``[256, 128]`` and ``null`` mean what they look like. A bare key
    that belongs to exactly one section is short for it (``epochs=5`` is ``trainer.epochs=5``); ``data_schema`` is
    the task's data section, whose keys count too (``window=48`` is ``data.window=48`` for a forecasting recipe).
    """
    if "=" not in override:
        raise ConfigError(f"--set expects KEY=VALUE, e.g. trainer.epochs=5; got {override!r}")
    key, _, text = override.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set key {key!r} is not a dotted path like trainer.epochs")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: cannot read value {text!r}: {getattr(exc, 'problem', exc)}") from None
    if len(parts) == 1 and parts[0] not in Recipe.model_fields:
        parts = _shorthand(parts[0], data_schema)
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _shorthand(key: str, data_schema: type[BaseModel]) -> list[str]:
    """``epochs`` → ``trainer.epochs``, ``split`` → ``data.split``: a bare key found in exactly one section."""
    sections = {name: info.annotation for name, info in Recipe.model_fields.items()}
    sections["data"] = data_schema
    owners = [name for name, kind in sections.items()
              if isinstance(kind, type) and issubclass(kind, BaseModel) and key in kind.model_fields]
    return [owners[0], key] if len(owners) == 1 else [key]


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


def check_model(config: ModelConfig) -> None:
    """Raise a ConfigError for an unknown model name or an option its constructor does not take."""
    if config.name not in MODELS:
        raise ConfigError(f"model.name: unknown model {config.name!r}{did_you_mean(config.name, MODELS)}; choose "
                          f"from {', '.join(MODELS)}")
    check_options(MODELS[config.name], config.options, "model")


def build_model(config: Recipe | ModelConfig) -> nn.Module:
    """The recipe's model, built from its ``model`` section (resolved: input and output sizes filled in)."""
    model = config.model if isinstance(config, Recipe) else config
    check_model(model)
    return MODELS[model.name](**model.options)
