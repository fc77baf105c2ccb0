"""Property tests for recipe files: any bytes given to ``load_recipe(path)`` give a Recipe or a NeuralabError, never
another exception, from pure random bytes, random YAML mappings shaped like recipes, and bundled recipes with one
value changed.

The tests at the end are tracebacks these properties found in the recipe and task code, and inputs that random
generation does not reach (deep nesting, an alias bomb), kept as regression tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuralab.recipes
from neuralab.errors import NeuralabError
from neuralab.recipes import Recipe, load_recipe

FUZZ = settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
# While a known traceback stands, shrinking it again on every run costs seconds: these properties skip that phase.
BUNDLED = sorted(Path(neuralab.recipes.__file__).parent.glob("*.yaml"))
SECTIONS = {
    "data": ["name", "path", "split", "val", "test", "features", "target_column", "smiles_column", "scaling",
             "folds", "fold", "window", "augment"],
    "model": ["name", "hidden_sizes", "activation", "dropout", "latent_dim"],
    "trainer": ["epochs", "batch_size", "seed", "device", "early_stopping"],
    "optimizer": ["name", "lr", "weight_decay"],
    "loss": ["name"],
    "scheduler": ["name", "warmup_epochs"],
}
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=12),
                    st.sampled_from(["mlp", "cnn", "mpnn", "esol", "digits", "csv", "mnist", "regression",
                                     "classification", "adamw", "mse", "cosine", "random", "scaffold", "auto"]))
KEYS = st.sampled_from(sorted({k for keys in SECTIONS.values() for k in keys} | {"task", "metrics", "name"}))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=4), max_leaves=12)
# A mapping shaped like a recipe: optional sections holding their own keys (or anything else), an optional task.
RECIPES = st.fixed_dictionaries({}, optional={
    "task": st.sampled_from(["classification", "regression", "forecasting", "reconstruction"]) | VALUES,
    "metrics": VALUES,
    **{section: st.dictionaries(st.sampled_from(keys), VALUES, max_size=5) | VALUES
       for section, keys in SECTIONS.items()},
})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for a test's examples (hypothesis runs them all inside one call of the test)."""
    return tmp_path_factory.mktemp("fuzz")


def loads_or_neuralab_error(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: ``load_recipe`` must return a Recipe or raise a NeuralabError."""
    path.write_bytes(data)
    try:
        recipe = load_recipe(path)
    except NeuralabError:
        return
    assert isinstance(recipe, Recipe)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_any_bytes_load_as_a_recipe_or_raise_neuralab_error(folder: Path, data: bytes) -> None:
    loads_or_neuralab_error(folder / "any.yaml", data)


@FUZZ
@given(raw=RECIPES)
def test_random_recipe_like_mappings_load_or_raise_neuralab_error(folder: Path, raw: dict[str, Any]) -> None:
    loads_or_neuralab_error(folder / "mapping.yaml", yaml.safe_dump(raw, allow_unicode=True).encode())


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every value inside ``node`` (a recipe's nested dicts and lists), depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    return [place for key, value in items for place in [(*path, key), *_places(value, (*path, key))]]


@st.composite
def mutated_recipes(draw: st.DrawFn) -> dict[str, Any]:
    """A bundled recipe with one value, at any place chosen uniformly, replaced by a random value or deleted."""
    raw = yaml.safe_load(draw(st.sampled_from(BUNDLED)).read_text())
    *parents, key = draw(st.sampled_from(_places(raw)))
    node = raw
    for parent in parents:
        node = node[parent]
    if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
        del node[key]
    else:
        node[key] = draw(VALUES)
    return raw


@FUZZ
@given(raw=mutated_recipes())
def test_bundled_recipes_with_one_value_changed_load_or_raise_neuralab_error(folder: Path,
                                                                           raw: dict[str, Any]) -> None:
    loads_or_neuralab_error(folder / "mutated.yaml", yaml.safe_dump(raw, allow_unicode=True).encode())


# --------------------------------------------------------------------------------- tracebacks found, now fixed

@pytest.mark.parametrize("text", ["data: {name: [a]}\n", "data: {name: {a: 1}}\n",
                                  "task: regression\ndata: {name: [esol]}\n"])
def test_a_list_where_a_name_belongs_is_a_neuralab_error(tmp_path: Path, text: str) -> None:
    loads_or_neuralab_error(tmp_path / "r.yaml", text.encode())


def test_deeply_nested_yaml_is_a_neuralab_error(tmp_path: Path) -> None:
    loads_or_neuralab_error(tmp_path / "deep.yaml", ("a: " + "[" * 5000 + "]" * 5000 + "\n").encode())


LAUGHS = "".join(f"{a}: &{a} [{', '.join([f'*{b}'] * 9)}]\n" for b, a in zip("abcdefgh", "bcdefghi"))


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text('a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS +
                    "task: classification\ndata: {name: digits}\nmodel: {name: mlp}\ntrainer: {epochs: *i}\n")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "from neuralab.errors import NeuralabError; from neuralab.recipes import load_recipe\n"
            "try: load_recipe(sys.argv[1])\nexcept NeuralabError: pass")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=20,
                          check=False)
    assert done.returncode == 0, done.stderr[-500:]
