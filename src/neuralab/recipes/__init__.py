"""Recipes: YAML files that say what to train, on what, and how.

A recipe names its ``task`` and has the sections ``data``, ``model``, ``loss``, ``optimizer``, ``scheduler``,
``trainer`` and ``metrics`` (see :class:`neuralab.runs.recipe.Recipe`). Bundled recipes live beside this file; any
YAML file with the same sections works too. ``--set a.b=c`` overrides one value (the value is read as YAML, so
``5``, ``0.1``, ``[256, 128]`` and ``null`` mean what they look like); a bare key that belongs to exactly one
section is short for it (``--set epochs=5`` is ``trainer.epochs=5``). Unknown keys are errors that name the closest
valid key, in every section: the ``data`` section is checked against the task's own schema, model and optimiser
options against the signature of what they build.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from neuralab.errors import ConfigError, did_you_mean
from neuralab.runs.recipe import DataConfig, ModelConfig, Recipe, apply_override, read_yaml
from neuralab.tasks import task_of, validate_recipe

__all__ = ["DataConfig", "ModelConfig", "Recipe", "load_recipe", "list_recipes", "apply_override",
           "apply_overrides", "validate_recipe", "read_recipe"]


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


def read_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A recipe as a raw dict, bundled by name or read from a YAML file, with ``overrides`` applied."""
    path = Path(name_or_path)
    bundled = _bundled()
    if str(name_or_path) in bundled:
        path = bundled[str(name_or_path)]
    else:
        try:
            found = path.is_file()
        except OSError:  # a name too long for the file system
            found = False
        if not found:
            hint = did_you_mean(str(name_or_path), bundled)
            raise ConfigError(f"no recipe or file named {str(name_or_path)!r}{hint}; run `neuralab recipes` to "
                              "list the bundled ones")
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    apply_overrides(raw, overrides)
    return raw


# Sections whose options belong to the thing they name, and the keys every one of those things shares.
_SWAPPABLE = {"optimizer": {"name", "lr", "groups"}, "scheduler": {"name", "warmup_epochs", "groups"}}


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> None:
    """Apply ``--set`` overrides to a raw recipe, in place; the task's data keys count as shorthands
    (``window=48`` is ``data.window=48`` for a forecasting recipe)."""
    if not overrides:
        return
    try:
        schema = task_of(raw).data_schema(raw.get("data") if isinstance(raw.get("data"), dict) else {})
    except ConfigError:
        schema = DataConfig  # a recipe without a valid task: validation will say so
    before = {section: dict(raw[section]) for section in _SWAPPABLE if isinstance(raw.get(section), dict)}
    for override in overrides:
        apply_override(raw, override, schema)
    # `--set optimizer.name=adam` on a recipe written for SGD: the recipe's SGD options (momentum...) go with SGD,
    # as a group that names another optimiser drops them; options also given on the command line stay.
    for section, old in before.items():
        new = raw.get(section)
        if isinstance(new, dict) and new.get("name") != old.get("name") and "name" in old:
            given = {o.split("=", 1)[0].strip().split(".", 2)[1] for o in overrides
                     if o.strip().startswith(f"{section}.") and o.count(".") >= 1}
            for key in [k for k in new if k not in _SWAPPABLE[section] and k not in given and k in old]:
                del new[key]


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load a bundled recipe by name, or a YAML file by path, apply ``overrides`` and validate.

    Raises
    ------
    ConfigError
        Unknown recipe, unreadable YAML, unknown key (with the closest valid key, and the task for a ``data`` key)
        or bad value.

    Examples
    --------
    >>> recipe = load_recipe("digits-mlp", ["trainer.epochs=3"])
    >>> recipe.trainer.epochs
    3
    """
    return validate_recipe(read_recipe(name_or_path, overrides))
