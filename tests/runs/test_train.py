import json

import numpy as np
import pytest

from neuralab.errors import NeuralabError
from neuralab.recipes import load_recipe
from neuralab.tasks import load_run, train_recipe


@pytest.fixture(scope="module")
def smoothed_run(tmp_path_factory):
    recipe = load_recipe("digits-mlp", ["epochs=3", "loss.label_smoothing=0.2", "scheduler.warmup_epochs=0"])
    return train_recipe(recipe, out_dir=tmp_path_factory.mktemp("runs") / "d", write_report=False)


def test_final_loss_uses_the_recipes_loss_options(smoothed_run):
    test = smoothed_run.metrics()["final"]["test"]
    assert test["loss"] > test["nll"] + 0.1, "label-smoothed cross-entropy is larger than the plain NLL"


def test_evaluate_reproduces_the_saved_test_metrics(smoothed_run):
    saved = smoothed_run.metrics()["final"]["test"]
    again = load_run(smoothed_run.path).evaluate("test")
    assert again == pytest.approx(saved, rel=1e-5)


def test_predict_applies_the_saved_scaling_to_raw_features(smoothed_run):
    from sklearn.datasets import load_digits

    digits = load_digits()
    pred = load_run(smoothed_run.path).predict(digits.data[:200])
    assert (pred == digits.target[:200]).mean() > 0.8
    proba = load_run(smoothed_run.path).predict_proba(digits.data[:3])
    assert proba.shape == (3, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_config_is_fully_resolved_and_environment_recorded(smoothed_run):
    env = json.loads((smoothed_run.path / "environment.json").read_text())
    assert {"torch", "python", "device", "seed", "git_commit", "data_files"} <= set(env)
    assert list(env["data_files"]) == ["sklearn/datasets/data/digits.csv.gz"]
    assert smoothed_run.recipe.model.options["in_features"] == 64
    assert smoothed_run.recipe.loss.name == "cross_entropy"


def test_unreadable_weights_format_is_a_clear_error(tmp_path, smoothed_run):
    import shutil

    import torch
    from safetensors.torch import save_file

    bad = tmp_path / "old"
    shutil.copytree(smoothed_run.path, bad)
    save_file({"model.net.0.weight": torch.zeros(1)}, bad / "model.safetensors")
    with pytest.raises(NeuralabError, match="format this neuralab does not read"):
        load_run(bad)


def test_a_new_run_refuses_a_directory_that_holds_one(smoothed_run):
    recipe = load_recipe("digits-mlp", ["epochs=1"])
    with pytest.raises(NeuralabError, match="already holds a run.*--resume"):
        train_recipe(recipe, out_dir=smoothed_run.path, write_report=False)
