"""Density runs end to end on scikit-learn's digits: an RBM scored by AIS, sampled, and asked for likelihoods; a DBN
trained greedily and fine-tuned as a classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from neuralab.cli.main import main
from neuralab.errors import ConfigError, DataError
from neuralab.recipes import load_recipe
from neuralab.tasks import load_run, prepare_data, train_recipe

FAST = ["--set", "trainer.epochs=6", "--set", "model.hidden_size=32", "--set", "model.ais_betas=1000",
        "--set", "model.ais_runs=50", "--quiet"]


@pytest.fixture(scope="module")
def rbm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "rbm"
    assert main(["train", "digits-rbm", *FAST, "--out", str(out)]) == 0
    return out


def test_an_rbm_run_is_scored_by_its_ais_log_likelihood_with_bounds(rbm_run):
    metrics = json.loads((rbm_run / "metrics.json").read_text())
    likelihood = metrics["likelihood"]
    assert likelihood["runs"] == 50 and likelihood["betas"] == 1000 and "base-rate" in likelihood["method"]
    test = likelihood["test"]
    assert test["low"] <= test["log_likelihood"] <= test["high"] < 0
    assert metrics["final"]["test"]["log_likelihood"] == pytest.approx(test["log_likelihood"], abs=1e-3)
    assert metrics["monitor"] == "val_pseudo_log_likelihood" and metrics["mode"] == "max"
    assert "AIS log-likelihood" in metrics["loss_note"]


def test_the_report_shows_filters_activity_free_energy_samples_and_a_chain(rbm_run):
    files = [f["file"] for f in json.loads((rbm_run / "figures.json").read_text())]
    assert files == ["filters.png", "hidden_activity.png", "free_energy.png", "samples.png", "reconstructions.png",
                     "chain.gif"]
    assert "image/gif" in (rbm_run / "report.html").read_text()


def test_predict_gives_free_energies_and_log_likelihoods(rbm_run, tmp_path):
    x = load_digits().data[:3]
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    assert main(["predict", str(rbm_run), str(tmp_path / "x.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    header, *rows = (tmp_path / "p.csv").read_text().splitlines()
    assert header == "input,free_energy,log_likelihood,error" and len(rows) == 3
    run = load_run(rbm_run)
    ll = run.log_likelihood(x)
    assert ll.shape == (3,) and (ll < 0).all()
    noise = np.random.default_rng(0).uniform(0, 16, (3, 64))
    assert run.log_likelihood(noise).mean() < ll.mean(), "noise is less likely than digits"


def test_sample_writes_a_grid_and_a_gif_from_noise_or_data(rbm_run, tmp_path, capsys):
    assert main(["sample", str(rbm_run), "-n", "9", "--steps", "20", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "s.gif").stat().st_size > 0
    run = load_run(rbm_run)
    a = run.sample(4, seed=1, steps=10, start="data")
    assert a.shape == (4, 64) and np.array_equal(a, run.sample(4, seed=1, steps=10, start="data"))
    assert main(["sample", str(rbm_run), "--prompt", "x"]) == 2
    assert "--prompt is not an option of sample for density runs" in capsys.readouterr().err


def test_bernoulli_units_refuse_standardised_data(tmp_path):
    recipe = load_recipe("digits-rbm", ["data.scaling=standard"])
    with pytest.raises(DataError, match="Bernoulli visible units model values in \\[0, 1\\]"):
        prepare_data(recipe)
    with pytest.raises(ConfigError, match="data.window: unknown key for a density recipe"):
        load_recipe("digits-rbm", ["data.window=3"])


def test_a_gaussian_rbm_models_standardised_data(tmp_path):
    recipe = load_recipe("digits-rbm", ["data.scaling=standard", "model.visible=gaussian", "model.binarize=false",
                                        "optimizer.lr=0.005", "trainer.epochs=3", "model.hidden_size=16",
                                        "model.ais_betas=500", "model.ais_runs=30"])
    run = train_recipe(recipe, out_dir=tmp_path / "g", write_report=False)
    metrics = run.metrics()
    assert metrics["monitor"] == "val_reconstruction_error"
    assert np.isfinite(metrics["likelihood"]["test"]["log_likelihood"])


def test_a_dbn_pretrains_a_classifier(tmp_path):
    from neuralab.tasks import validate_recipe

    raw = {"name": "digits-dbn", "task": "density", "data": {"name": "digits", "scaling": "global_minmax"},
           "model": {"name": "dbn", "hidden_sizes": [32, 16], "binarize": True},
           "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.5}, "trainer": {"epochs": 4, "batch_size": 20}}
    dbn = train_recipe(validate_recipe(raw), out_dir=tmp_path / "dbn", write_report=False)
    history = dbn.metrics()["history"]
    assert [h["train_layer"] for h in history] == [0.0, 0.0, 1.0, 1.0]
    assert "likelihood" not in dbn.metrics(), "a DBN has no tractable log-likelihood here"
    fine = {"name": "digits-finetune", "task": "classification",
            "data": {"name": "digits", "scaling": "global_minmax", "split": "stratified"},
            "model": {"name": "mlp", "hidden_sizes": [32, 16], "activation": "sigmoid", "init_from": str(dbn.path)},
            "optimizer": {"name": "sgd", "lr": 1.0e-9}, "trainer": {"epochs": 1}}
    run = train_recipe(validate_recipe(fine), out_dir=tmp_path / "fine", write_report=False)
    for i, layer in enumerate(dbn.model.encoder_layers()):
        assert torch.allclose(run.model.net[2 * i].weight, layer.weight, atol=1e-6)
