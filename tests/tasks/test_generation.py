"""Generation runs end to end on the embedded digits: a DCGAN and a conditional GAN train, keep a fixed-noise frame
per epoch, sample from the command line, and are scored by FID on a digits classifier's features."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuralab.cli.main import main
from neuralab.tasks import load_run

FAST = ["--set", "trainer.epochs=3", "--set", "model.channels=8", "--quiet"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cnn"
    assert main(["train", "digits-cnn", "--set", "data.scaling=global_minmax", "--set", "data.split=stratified",
                 "--set", "trainer.epochs=3", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def gan(tmp_path_factory, classifier):
    out = tmp_path_factory.mktemp("runs") / "gan"
    assert main(["train", "digits-gan", *FAST, "--set", f"data.classifier={classifier}",
                 "--set", "data.eval_samples=200", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cgan"
    assert main(["train", "digits-gan", *FAST, "--set", "model.conditional=true", "--out", str(out)]) == 0
    return out


def test_each_epoch_logs_both_players_and_keeps_a_fixed_noise_frame(gan):
    metrics = json.loads((gan / "metrics.json").read_text())
    assert len(metrics["history"]) == 3 and metrics["task"] == "generation"
    for key in ("train_d_loss", "train_g_loss", "val_d_real", "val_d_fake", "val_d_accuracy_real",
                "val_d_accuracy_fake"):
        assert key in metrics["history"][-1]
    frames = np.load(gan / "checkpoints" / "progress.npy")
    assert frames.shape == (3, 64, 64) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1]), "the generator changed between epochs"
    files = [f["file"] for f in json.loads((gan / "figures.json").read_text())]
    assert files == ["gan_history.png", "samples.png", "progress.gif", "interpolation.png", "nearest.png",
                     "classes.png"]
    assert "image/gif" in (gan / "report.html").read_text()


def test_samples_are_scored_by_fid_beside_the_real_against_real_floor(gan, classifier):
    quality = json.loads((gan / "metrics.json").read_text())["quality"]
    assert quality["n"] == 200 and quality["seed"] == 0 and quality["classifier"] == str(classifier)
    assert len(quality["classifier_sha256"]) == 64
    assert 0 <= quality["floor"]["fid"] < quality["samples"]["fid"], "three epochs of GAN are not real digits"
    assert quality["fid_over_floor"] == pytest.approx(quality["samples"]["fid"] / quality["floor"]["fid"])
    assert len(quality["classes"]["share"]) == 10 and sum(quality["classes"]["share"]) == pytest.approx(1, abs=1e-3)
    again = load_run(gan).quality(n=200)
    assert again["samples"]["fid"] == pytest.approx(quality["samples"]["fid"], rel=1e-4), "seeded: repeatable"


def test_a_run_without_a_classifier_says_what_it_did_not_measure(cgan):
    metrics = json.loads((cgan / "metrics.json").read_text())
    assert metrics["quality"] is None and "no data.classifier" in metrics["quality_note"]
    with pytest.raises(Exception, match="no classifier to score the samples with"):
        load_run(cgan).quality(n=100)


def test_a_conditional_gan_samples_the_label_it_is_given(cgan, tmp_path, capsys):
    out = tmp_path / "sevens.png"
    assert main(["sample", str(cgan), "--label", "7", "-n", "4", "-o", str(out)]) == 0
    assert out.stat().st_size > 0 and "wrote 4 samples" in capsys.readouterr().out
    run = load_run(cgan)
    images = run.sample(5, seed=1, label=3)
    assert images.shape == (5, 1, 8, 8) and np.array_equal(images, run.sample(5, seed=1, label=3))
    assert run.interpolate(steps=4).shape == (10, 4, 1, 8, 8), "one row per class"


@pytest.mark.parametrize("args, message", [
    (["-n", "4"], "is a conditional GAN: say which class to draw"),
    (["--label", "12"], "label must be a class number from 0 to 9"),
    (["--steps", "5", "--label", "1"], "--steps is not an option of sample for generation runs"),
    (["-n", "0", "--label", "1"], "n must be a whole number from 1 to 100,000"),
])
def test_sample_refuses_bad_requests_in_one_line(cgan, capsys, args, message):
    assert main(["sample", str(cgan), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unconditional_gan_takes_no_label(gan, capsys):
    assert main(["sample", str(gan), "--label", "3"]) == 2
    assert "is not a conditional GAN" in capsys.readouterr().err
    assert load_run(gan).interpolate(steps=5).shape == (6, 5, 1, 8, 8)


def test_a_bad_classifier_stops_the_run_before_it_trains(tmp_path, capsys, classifier):
    assert main(["train", "digits-gan", *FAST, "--set", f"data.classifier={tmp_path}", "--out",
                 str(tmp_path / "a")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["train", "digits-gan", *FAST, "--set", f"data.classifier={classifier}",
                 "--set", "data.scaling=none", "--out", str(tmp_path / "b")]) == 2
    assert "train the classifier on the same images and scaling" in capsys.readouterr().err
    assert not (tmp_path / "b").exists(), "nothing is left behind"
