"""Autoencoder and VAE runs end to end on scikit-learn's digits: training, figures, Run API, CLI."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from neuralab.cli.main import main
from neuralab.errors import NeuralabError
from neuralab.recipes import validate_recipe
from neuralab.tasks import load_run, train_recipe


def _recipe(model, *, epochs=2, scaling="minmax", **extra):
    raw = {"name": "digits-ae", "task": "reconstruction",
           "data": {"name": "digits", "split": "stratified", "val": 0.1, "test": 0.2, "scaling": scaling},
           "model": {"hidden_sizes": [32], "latent_dim": 2, **model},
           "optimizer": {"name": "adam", "lr": 0.003}, "trainer": {"epochs": epochs, "batch_size": 64}, **extra}
    return validate_recipe(raw)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    recipe = _recipe({"name": "autoencoder", "output": "gaussian", "noise": "gaussian", "noise_level": 0.1})
    return train_recipe(recipe, out_dir=tmp_path_factory.mktemp("runs") / "ae")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    recipe = _recipe({"name": "vae", "likelihood": "gaussian", "warmup_steps": 20})
    return train_recipe(recipe, out_dir=tmp_path_factory.mktemp("runs") / "vae")


def test_an_autoencoder_run_scores_its_own_loss_terms_and_draws_its_figures(ae_run):
    metrics = ae_run.metrics()
    assert metrics["task"] == "reconstruction"
    assert {"loss", "reconstruction"} <= set(metrics["final"]["test"])
    assert "train_reconstruction" in metrics["history"][-1]
    files = {f["file"] for f in json.loads((ae_run.path / "figures.json").read_text())}
    assert {"reconstructions.png", "latent.png"} <= files
    assert all((ae_run.path / f).is_file() for f in files)
    assert (ae_run.path / "report.html").is_file()


def test_codes_reconstructions_and_anomaly_scores_from_raw_inputs(ae_run):
    x = load_digits().data[:5]
    assert ae_run.transform(x).shape == (5, 2)
    assert ae_run.reconstruct(x).shape == (5, 64)
    scores = ae_run.anomaly_score(x)
    assert scores.shape == (5,) and np.isfinite(scores).all()
    noise = np.random.default_rng(0).uniform(0, 16, size=(5, 64))
    assert ae_run.anomaly_score(noise).mean() > scores.mean(), "random pixels are less typical than digits"
    with pytest.raises(NeuralabError, match="classification"):
        ae_run.predict_proba(x)
    with pytest.raises(NeuralabError, match="VAE|sample"):
        ae_run.sample(4)


def test_a_vae_run_samples_and_logs_the_elbo_terms(vae_run):
    last = vae_run.metrics()["history"][-1]
    assert {"train_kl", "train_reconstruction", "val_kl", "val_elbo"} <= set(last)
    samples = vae_run.sample(6, seed=1)
    assert samples.shape == (6, 1, 8, 8)  # the digits are 8×8 images
    assert np.array_equal(samples, vae_run.sample(6, seed=1))
    files = {f["file"] for f in json.loads((vae_run.path / "figures.json").read_text())}
    assert {"samples.png", "interpolation.png", "manifold.png", "loss_terms.png"} <= files


def test_evaluate_reproduces_the_saved_test_terms(ae_run):
    saved = ae_run.metrics()["final"]["test"]
    assert load_run(ae_run.path).evaluate("test") == pytest.approx(saved, rel=1e-4)


def test_cli_predict_prints_scores_and_sample_writes_a_grid(ae_run, vae_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", load_digits().data[:3].astype(np.float32))
    assert main(["predict", str(ae_run.path), str(tmp_path / "x.npy"), "--output", str(tmp_path / "codes.csv")]) == 0
    lines = (tmp_path / "codes.csv").read_text().splitlines()
    assert lines[0] == "input,anomaly_score,z0,z1,error" and len(lines) == 4
    assert main(["sample", str(vae_run.path), "-n", "9", "--output", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["sample", str(ae_run.path)]) == 2
    assert "cannot sample" in capsys.readouterr().err


def test_pretrained_encoder_initialises_a_classifier(ae_run, tmp_path):
    raw = {"name": "digits-finetune", "task": "classification",
           "data": {"name": "digits", "split": "stratified", "val": 0.1, "test": 0.2, "scaling": "minmax"},
           "model": {"name": "mlp", "hidden_sizes": [32, 2], "init_from": str(ae_run.path)},
           "optimizer": {"name": "sgd", "lr": 1.0e-9}, "trainer": {"epochs": 1}}  # a step too small to move them
    run = train_recipe(validate_recipe(raw), out_dir=tmp_path / "ft", write_report=False)
    encoder = ae_run.model.encoder.net
    assert torch.allclose(run.model.net[0].weight, encoder[0].weight, atol=1e-6)
    assert torch.allclose(run.model.net[2].weight, encoder[2].weight, atol=1e-6)
    assert not torch.allclose(run.model.net[2].weight, torch.zeros_like(encoder[2].weight), atol=1e-2)


def test_a_bernoulli_decoder_rejects_unscaled_pixels(tmp_path):
    recipe = _recipe({"name": "autoencoder", "output": "bernoulli"}, epochs=1, scaling="none")
    with pytest.raises(NeuralabError, match="255"):
        train_recipe(recipe, out_dir=tmp_path / "bad", write_report=False)
