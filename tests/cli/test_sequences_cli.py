"""The command line on sequence runs: train a user's series, forecast, sample text, similar words and analogies."""

import numpy as np
import pytest

from neuralab.cli.main import main
from neuralab.recipes import validate_recipe
from neuralab.tasks import train_recipe


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_series(path, n=100):
    t = np.arange(n)
    y = 20 + 0.1 * t + 4 * np.sin(2 * np.pi * t / 12)
    path.write_text("day,visitors\n" + "".join(f"d{i},{v:.3f}\n" for i, v in enumerate(y)))


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-series")
    write_series(folder / "visits.csv")
    recipe = folder / "tiny.yaml"
    recipe.write_text("task: forecasting\ndata: {name: placeholder, window: 8, horizon: 2, val: 0.2, test: 0.2}\n"
                      "model: {name: rnn, hidden_size: 4}\ntrainer: {epochs: 1, batch_size: 32, device: cpu}\n")
    out = folder / "run"
    code = main(["train", str(recipe), "--data", str(folder / "visits.csv"), "--date-column", "day",
                 "--target-column", "visitors", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_predict_on_a_forecasting_run_prints_the_next_horizon_with_an_interval(capsys, forecast_run, tmp_path):
    code, out, _ = run_cli(capsys, "predict", str(forecast_run))
    assert code == 0 and "+1" in out and "+2" in out and "90% interval" in out
    write_series(tmp_path / "recent.csv", n=30)
    code, _, _ = run_cli(capsys, "predict", str(forecast_run), "--input", str(tmp_path / "recent.csv"), "--level",
                         "0.8", "--output", str(tmp_path / "f.csv"))
    assert code == 0
    assert (tmp_path / "f.csv").read_text().splitlines()[0] == "step,forecast,low,high"
    write_series(tmp_path / "short.csv", n=5)
    code, _, err = run_cli(capsys, "predict", str(forecast_run), "--input", str(tmp_path / "short.csv"))
    assert code == 2 and "history has 5 rows; the model reads a window of 8" in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-text")
    (folder / "play.txt").write_text("ROMEO: but soft.\nJULIET: ay me.\n" * 30)
    recipe = validate_recipe({
        "name": "tiny-char", "task": "language_model",
        "data": {"name": "play", "path": str(folder / "play.txt"), "block_size": 12, "val": 0.2, "test": 0.0},
        "model": {"name": "char_rnn", "embedding_dim": 4, "hidden_size": 8, "num_layers": 1},
        "trainer": {"epochs": 1, "batch_size": 16, "device": "cpu"}})
    return train_recipe(recipe, out_dir=folder / "run", write_report=False).path


def test_sample_prints_text_from_a_language_model(capsys, char_run):
    code, out, _ = run_cli(capsys, "sample", str(char_run), "--prompt", "ROMEO:", "--temperature", "0.8",
                           "--length", "30")
    assert code == 0 and out.startswith("ROMEO:") and len(out.rstrip("\n")) >= 30
    code, _, err = run_cli(capsys, "sample", str(char_run), "--prompt", "Zed")
    assert code == 2 and "'Z'" in err and "'d'" in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-words")
    (folder / "c.txt").write_text("the king and the queen . the man and the woman . " * 40)
    recipe = validate_recipe({
        "name": "tiny-w2v", "task": "embedding",
        "data": {"name": "c", "path": str(folder / "c.txt"), "val": 0.1, "test": 0.0, "min_count": 2},
        "model": {"name": "skipgram", "embedding_dim": 4}, "trainer": {"epochs": 1, "device": "cpu"}})
    return train_recipe(recipe, out_dir=folder / "run", write_report=False).path


def test_similar_and_analogy_print_words(capsys, word_run):
    code, out, _ = run_cli(capsys, "similar", str(word_run), "king", "-k", "3")
    assert code == 0 and "cosine similarity" in out and len(out.strip().splitlines()) == 4
    code, out, _ = run_cli(capsys, "analogy", str(word_run), "man", "woman", "king", "-k", "2")
    assert code == 0 and out.startswith("man is to woman as king is to ...")


def test_unknown_words_and_wrong_runs_are_one_line_errors(capsys, word_run, char_run):
    code, _, err = run_cli(capsys, "similar", str(word_run), "quen")
    assert code == 2 and "did you mean 'queen'" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(capsys, "analogy", str(char_run), "a", "b", "c")
    assert code == 2 and "analogy is for embedding runs" in err
    code, _, err = run_cli(capsys, "sample", str(word_run), "--prompt", "the")
    assert code == 2 and ("which cannot sample; sampling is for density, generation, language_model and "
                          "reconstruction runs") in err
