"""Bundled recipes, trained as shipped, reach the accuracy they promise."""

import os
from pathlib import Path

import pytest

from neuralab.recipes import load_recipe
from neuralab.tasks import train_recipe

pytestmark = pytest.mark.integration


def _mirror() -> Path | None:
    for root in (os.environ.get("NEURALAB_DATA"), Path(__file__).parents[3] / "shared" / "data"):
        if root and (Path(root) / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
            return Path(root)
    return None


def test_digits_mlp_reaches_97_percent_test_accuracy_at_its_fixed_seed(tmp_path):
    run = train_recipe(load_recipe("digits-mlp"), out_dir=tmp_path / "run", write_report=False)
    assert run.metrics()["final"]["test"]["accuracy"] >= 0.97


@pytest.mark.slow
@pytest.mark.skipif(_mirror() is None, reason="the MNIST files of the data mirror are absent")
def test_mnist_cnn_one_epoch_on_real_mnist_is_above_99_percent(tmp_path):
    recipe = load_recipe("mnist-cnn", ["epochs=1", f"data.data_dir={_mirror() / 'mnist'}"])
    run = train_recipe(recipe, out_dir=tmp_path / "run", write_report=False)
    assert run.metrics()["final"]["test"]["accuracy"] >= 0.99
