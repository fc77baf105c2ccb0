"""In-memory tables and images (digits): augmentation of flat images, and images given to a digits run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from neuralab.cli.main import main
from neuralab.errors import ConfigError
from neuralab.recipes import load_recipe
from neuralab.tasks import load_run, prepare_data
from neuralab.tasks._tables import augmentation

TINY = ["--set", "trainer.epochs=4", "--set", "scheduler.warmup_epochs=0", "--quiet"]


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits-cnn"
    assert main(["train", "digits-cnn", *TINY, "--set", "data.augment={shift: 1, rotation: 10}",
                 "--out", str(out)]) == 0
    return out


def test_the_8x8_digits_are_augmented_as_images(digits_cnn):
    # It used to stop with "augmentation expects a float tensor of shape (B, C, H, W)".
    assert load_run(digits_cnn).metrics()["final"]["test"]["accuracy"] > 0.8


def test_augmentation_shifts_pixels_not_standardised_values():
    recipe = load_recipe("digits-cnn", ["data.augment={shift: 1, rotation: 0}"])
    data = prepare_data(recipe)
    x, y = data.splits["train"]
    out = augmentation(recipe, data)((x[:64], y[:64]), torch.Generator().manual_seed(0))[0]
    raw_in = data.inputs.scaler.inverse_transform(x[:64]).reshape(64, 8, 8)
    raw_out = data.inputs.scaler.inverse_transform(out).reshape(64, 8, 8)
    assert out.shape == x[:64].shape and out.abs().max() < 10 * x.abs().max()
    assert torch.allclose(raw_out.sum((1, 2)), raw_in.sum((1, 2)), rtol=0.35), "ink moves, it is not created"
    assert not torch.allclose(raw_out, raw_in)


def test_augmentation_with_per_pixel_scaling_is_refused_when_the_recipe_is_read():
    with pytest.raises(ConfigError, match="augment moves ink between pixels.*use scaling: global"):
        load_recipe("digits-mlp", ["data.augment={shift: 1}"])
    with pytest.raises(ConfigError, match="data.augment: unknown key for a regression recipe"):
        load_recipe("esol-mlp", ["data.augment={shift: 1}"])


def test_a_digits_run_reads_images_as_scikit_learns_8x8_digits(digits_cnn, tmp_path, capsys):
    digits = load_digits()
    paths = []
    for i in range(10):  # the digits drawn large, dark on white, as a scan would give them
        pixels = 255 - np.kron(digits.images[i] / 16 * 255, np.ones((12, 12)))
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(pixels.astype(np.uint8)).save(paths[-1])
    assert main(["predict", str(digits_cnn), *map(str, paths), "-o", str(tmp_path / "p.csv")]) == 0
    rows = [line.split(",") for line in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    predicted = [int(r[1]) for r in rows]
    assert np.mean(np.array(predicted) == digits.target[:10]) >= 0.7
    np.savetxt(tmp_path / "x.csv", digits.data[:2], delimiter=",")
    assert main(["predict", str(digits_cnn), str(paths[0]), str(tmp_path / "x.csv")]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_blank_image_given_to_a_digits_run_is_a_one_line_error(tmp_path, capsys):
    from PIL import Image as PILImage

    PILImage.new("L", (20, 20), 255).save(tmp_path / "a.png")
    run = tmp_path / "run"
    assert main(["train", "digits-mlp", "--set", "trainer.epochs=1", "--set", "scheduler.warmup_epochs=0", "--quiet",
                 "--set", "model.hidden_sizes=[8]", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "a.png")]) == 2
    assert "no ink found" in capsys.readouterr().err


def test_a_classification_run_is_calibrated_on_validation_and_predicts_with_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits-mlp", "--set", "trainer.epochs=8", "--set", "scheduler.warmup_epochs=0", "--quiet",
                 "--out", str(out)]) == 0
    run = load_run(out)
    calibration = run.metrics()["calibration"]
    assert 0 < calibration["temperature"] < 1, "label smoothing leaves the raw softmax under-confident"
    assert calibration["val"]["ece"] < calibration["val"]["ece_raw"]
    assert calibration["val"]["nll"] < calibration["val"]["nll_raw"]
    x = load_digits().data[:50]
    raw, scaled = run.predict_proba(x, calibrated=False), run.predict_proba(x)
    assert np.array_equal(raw.argmax(1), scaled.argmax(1)), "temperature scaling never changes the class"
    assert scaled.max(1).mean() > raw.max(1).mean()
    assert "reliability.png" in {f["file"] for f in __import__("json").loads((out / "figures.json").read_text())}
    np.savetxt(tmp_path / "x.csv", x[:2], delimiter=",")
    assert main(["predict", str(out), str(tmp_path / "x.csv"), "--uncalibrated", "-o", str(tmp_path / "raw.csv")]) == 0
    first = (tmp_path / "raw.csv").read_text().splitlines()[1].split(",")
    np.testing.assert_allclose([float(v) for v in first[2:-1]], raw[0], atol=1e-4)
