"""Image recipes end to end on a tiny generated MNIST-format folder (and on real MNIST when the mirror is there)."""

import numpy as np
import pytest

from neuralab.cli.main import main
from neuralab.data.idx import write_idx

pytestmark = pytest.mark.integration

TINY = ["--set", "epochs=2", "--set", "trainer.batch_size=32", "--quiet"]


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    """A 'fashion-like' data set: class k is a bright horizontal bar at row 2 + 2k, with noise."""
    folder = tmp_path_factory.mktemp("tiny-idx")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 240), ("t10k", 60)):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            x[i, 2 + 2 * k:4 + 2 * k, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    return folder


@pytest.mark.parametrize("recipe, extra", [
    ("mnist-cnn", ["--set", "model.conv_channels=[4,4,8,8]", "--set", "model.hidden_sizes=[16]", "--set", "epochs=8"]),
    ("mnist-mlp", ["--set", "model.hidden_sizes=[32]"]),
])
def test_mnist_recipes_train_unchanged_on_any_mnist_format_folder(tmp_path, idx_folder, recipe, extra, capsys):
    out = tmp_path / "run"
    assert main(["train", recipe, "--data-dir", str(idx_folder), *TINY, *extra, "--out", str(out)]) == 0
    from neuralab.tasks import load_run

    run = load_run(out)
    assert run.metrics()["final"]["test"]["accuracy"] > 0.5
    env = (out / "environment.json").read_text()
    assert "train-images-idx3-ubyte" in env
    x = np.zeros((2, 1, 28, 28), dtype=np.uint8)
    x[0, 0, 2:4, 4:24] = 255
    assert run.predict_proba(x).shape == (2, 10)


def test_summary_prints_layers_for_recipe_and_run(tmp_path, idx_folder, capsys):
    assert main(["summary", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "Receptive field: 10×10 px" in out and "Total params: 53,194" in out
    assert main(["summary", "digits-cnn", "--set", "model.conv_channels=[8]"]) == 0
    assert "Total params" in capsys.readouterr().out


def test_augmented_training_is_reproducible(tmp_path, idx_folder):
    from safetensors.torch import load_file

    args = ["train", "mnist-mlp", "--data-dir", str(idx_folder), *TINY, "--set", "model.hidden_sizes=[16]"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_predict_reads_digit_images_of_any_size_and_polarity(tmp_path, idx_folder, capsys, big_png):
    from PIL import Image, ImageDraw

    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--data-dir", str(idx_folder), *TINY, "--set", "model.hidden_sizes=[16]",
                 "--out", str(out)]) == 0
    dark_on_light = Image.new("RGB", (90, 120), "white")
    ImageDraw.Draw(dark_on_light).line([(45, 10), (45, 110)], fill="black", width=10)
    dark_on_light.save(tmp_path / "a.png")
    Image.new("L", (40, 40), 0).save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("not an image")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "a.png")]) == 0
    text = capsys.readouterr().out
    assert "a.png" in text and "%" in text
    for bad, message in (("notes.txt", "not a readable image"), ("blank.png", "no ink")):
        assert main(["predict", str(out), str(tmp_path / bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    # One bad file among good ones loses nothing: the good one is predicted, the bad one gets its error in its row.
    paths = [str(tmp_path / name) for name in ("a.png", "notes.txt", "missing.png")]
    assert main(["predict", str(out), *paths, "--output", str(tmp_path / "p.csv")]) == 0
    assert "2 of 3 images could not be read" in capsys.readouterr().err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["image", "prediction", "p_0"] and rows[0].endswith(",error")
    good, unreadable, missing = (r.split(",") for r in rows[1:])
    assert good[1] != "" and abs(sum(map(float, good[2:-1])) - 1) < 1e-3 and good[-1] == ""
    assert unreadable[1] == "" and "not a readable image" in unreadable[-1]
    assert "no such image file" in missing[-1]
    assert main(["predict", str(out), paths[1], paths[2]]) == 2
    assert "and 1 more unreadable file)" in capsys.readouterr().err
    # Images saved as an array (N, 1, 28, 28) are read as images too, one row each.
    np.save(tmp_path / "two.npy", np.zeros((2, 1, 28, 28), dtype=np.uint8))
    assert main(["predict", str(out), str(tmp_path / "two.npy"), "-o", str(tmp_path / "npy.csv")]) == 0
    assert len((tmp_path / "npy.csv").read_text().splitlines()) == 3
    # A 9000×9000 image (5.3 GB once decoded) is refused from its header, in its own row; the others are predicted.
    huge = str(big_png(tmp_path / "huge.png", 9000, 9000))
    assert main(["predict", str(out), paths[0], huge, "--output", str(tmp_path / "h.csv")]) == 0
    good, refused = ((tmp_path / "h.csv").read_text().splitlines()[1:])
    assert good.split(",")[1] != "" and "81,000,000 pixels" in refused


def test_filters_command_writes_a_figure(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (32, 32), 0).save(tmp_path / "img.png")
    assert main(["filters", str(tmp_path / "img.png"), "--out", str(tmp_path / "f.png"), "-k", "sobel_x"]) == 0
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["filters", str(tmp_path / "img.png"), "-k", "sobelx"]) == 2
    assert "did you mean 'sobel_x'" in capsys.readouterr().err


def test_cnn_run_report_shows_the_teaching_figures(tmp_path):
    import json

    out = tmp_path / "run"
    assert main(["train", "digits-cnn", "--set", "epochs=2", "--set", "scheduler.warmup_epochs=0", "--quiet",
                 "--out", str(out)]) == 0
    files = [f["file"] for f in json.loads((out / "figures.json").read_text())]
    assert files == ["confusion.png", "filters.png", "feature_maps.png", "mistakes.png", "reliability.png"]
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 6


def test_autoencoder_predict_scores_readable_images_and_reports_the_rest(tmp_path, idx_folder, capsys):
    from PIL import Image

    out = tmp_path / "ae"
    assert main(["train", "mnist-ae", "--data-dir", str(idx_folder), *TINY, "--set", "model.hidden_sizes=[16]",
                 "--set", "model.latent_dim=2", "--set", "scheduler.warmup_epochs=0", "--out", str(out)]) == 0
    bar = np.zeros((28, 28), dtype=np.uint8)
    bar[10:12, 4:24] = 255
    Image.fromarray(bar).save(tmp_path / "bar.png")
    (tmp_path / "notes.txt").write_text("not an image")
    paths = [str(tmp_path / "bar.png"), str(tmp_path / "notes.txt")]
    capsys.readouterr()
    assert main(["predict", str(out), *paths, "--output", str(tmp_path / "codes.csv")]) == 0
    assert "1 of 2 images could not be read" in capsys.readouterr().err
    header, good, bad = (tmp_path / "codes.csv").read_text().splitlines()
    assert header == "input,anomaly_score,z0,z1,error"
    assert float(good.split(",")[1]) > 0 and good.endswith(",")
    assert "not a readable image" in bad
