"""Sequence tasks through the run layer: forecasting, a character language model and word embeddings, on tiny
generated data."""

import json
import math

import numpy as np
import pytest
import torch

from neuralab.errors import DataError, NeuralabError
from neuralab.recipes import validate_recipe
from neuralab.tasks import load_run, prepare_data, train_recipe
from neuralab.tasks.forecasting import baseline_scores

WORDS = ("the king rules the city . the queen rules the city . a man walks in the city . a woman walks in the "
         "city . the king and the queen speak . the man and the woman speak . justice is good . the soul is good . ")


def write_series(path, n=160, season=12):
    t = np.arange(n)
    rng = np.random.default_rng(0)
    y = 10 + 0.05 * t + 3 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.3, n)
    x = np.cos(2 * np.pi * t / season) + rng.normal(0, 0.1, n)
    lines = ["month,sales,temperature"] + [f"m{i},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(zip(y, x))]
    path.write_text("\n".join(lines) + "\n")
    return y


def forecast_recipe(path, **data):
    return validate_recipe({
        "name": "tiny-forecast", "task": "forecasting",
        "data": {"name": "csv", "path": str(path), "date_column": "month", "target_column": "sales", "window": 12,
                 "horizon": 3, "val": 0.15, "test": 0.15, **data},
        "model": {"name": "rnn", "hidden_size": 8}, "optimizer": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": 2, "batch_size": 32, "device": "cpu"}, "metrics": ["rmse"]})


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    y = write_series(folder / "sales.csv")
    return train_recipe(forecast_recipe(folder / "sales.csv"), out_dir=folder / "run"), y


def test_forecasting_run_writes_forecast_figures_and_scores_model_beside_baselines(forecast_run):
    run, _ = forecast_run
    assert run.recipe.model.options == {"hidden_size": 8, "in_features": 2, "out_features": 1, "horizon": 3,
                                        "target": 0}
    metrics = run.metrics()
    forecast = metrics["forecast"]
    for name in ("model", "naive", "linear_ar"):
        assert set(forecast[name]) == {"rmse", "mase"} and forecast[name]["rmse"] > 0
    assert forecast["seasonal_naive"] is None and "season" in forecast["notes"]["seasonal_naive"]
    assert forecast["model"]["rmse"] == pytest.approx(metrics["final"]["test"]["rmse"], rel=1e-4)
    listed = [f["file"] for f in json.loads((run.path / "figures.json").read_text())]
    assert {"parity.png", "forecast.png", "forecast_scores.png"} <= set(listed)
    assert all((run.path / name).is_file() for name in listed)


def test_the_model_is_scored_beside_its_baselines_without_a_report(tmp_path):
    write_series(tmp_path / "sales.csv")
    run = train_recipe(forecast_recipe(tmp_path / "sales.csv"), out_dir=tmp_path / "run", write_report=False)
    forecast = run.metrics()["forecast"]
    assert forecast["model"]["rmse"] == pytest.approx(run.metrics()["final"]["test"]["rmse"], rel=1e-4)


def test_series_scalers_are_fitted_on_the_training_part_only(forecast_run):
    run, y = forecast_run
    train_end = 160 - 2 * 24  # val and test are 15% (24 steps) each
    assert run.inputs.scaler.shift[0].item() == pytest.approx(y[:train_end].mean(), abs=1e-3)
    assert run.y_scaler.shift.shape == (3,)  # one per horizon step, all the target column's mean
    assert run.y_scaler.shift[2].item() == pytest.approx(y[:train_end].mean(), abs=1e-3)


def test_forecast_after_the_series_end_matches_forecast_from_the_same_history(forecast_run):
    run, _ = forecast_run
    loaded = load_run(run.path)
    pred, low, high = loaded.forecast()
    assert pred.shape == low.shape == high.shape == (3,)
    assert np.all(low < pred) and np.all(pred < high)
    again = loaded.forecast(loaded.inputs.tail, level=0.5)
    np.testing.assert_allclose(again[0], pred, rtol=1e-6)
    assert np.all(again[2] - again[1] <= high - low + 1e-9), "a lower level gives a narrower interval"
    with pytest.raises(DataError, match=r"history has 5 rows; the model reads a window of 12"):
        loaded.forecast(loaded.inputs.tail[-5:])
    with pytest.raises(DataError, match=r"history must have shape \(T, 2\)"):
        loaded.forecast(np.ones((20, 3)))


def test_a_series_shorter_than_window_plus_horizon_states_both(tmp_path):
    write_series(tmp_path / "short.csv", n=10)
    with pytest.raises(DataError, match=r"10 points; window 12 \+ horizon 3 needs at least 15"):
        prepare_data(forecast_recipe(tmp_path / "short.csv"))


def test_an_unknown_target_column_lists_the_value_columns(tmp_path):
    write_series(tmp_path / "s.csv", n=60)
    with pytest.raises(DataError, match=r"no value column 'sale'; the value columns are sales, temperature"):
        prepare_data(forecast_recipe(tmp_path / "s.csv", target_column="sale"))


def test_baselines_use_the_whole_history_for_the_seasonal_naive_forecast():
    t = np.arange(120)
    periodic = np.sin(2 * np.pi * t / 24) + 5
    scores = baseline_scores(periodic, 80, 100, window=6, horizon=2, season=24)  # season longer than the window
    assert scores["origins"] == 19 and scores["mase_season"] == 24
    assert scores["seasonal_naive"]["rmse"] == pytest.approx(0, abs=1e-12)
    assert scores["naive"]["rmse"] > 0.1
    assert baseline_scores(periodic, 80, 120, window=6, horizon=2, season=24) == {}, "no test part, no scores"


def write_text(path, repeats=40):
    path.write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n" + ("ROMEO: but soft, what light.\n"
                    "JULIET: ay me.\n") * repeats + "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence")


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    write_text(folder / "play.txt")
    recipe = validate_recipe({
        "name": "tiny-char", "task": "language_model",
        "data": {"name": "play", "path": str(folder / "play.txt"), "block_size": 16, "val": 0.2, "test": 0.0},
        "model": {"name": "char_rnn", "embedding_dim": 8, "hidden_size": 16, "num_layers": 1},
        "optimizer": {"name": "adam", "lr": 0.01}, "trainer": {"epochs": 2, "batch_size": 16, "device": "cpu"}})
    return train_recipe(recipe, out_dir=folder / "run")


def test_language_model_reports_nats_and_bits_per_char_and_a_sample(char_run):
    final = char_run.metrics()["final"]
    assert set(final) == {"train", "val"}, "val is the held-out tail; this recipe carves no test part"
    for split in final.values():
        assert split["bits_per_char"] == pytest.approx(split["loss"] / math.log(2))
    assert final["val"]["loss"] < math.log(len(char_run.inputs.vocab)), "better than uniform after training"
    sample = (char_run.path / "sample.txt").read_text()
    assert len(sample) == 301 and set(sample) <= set(char_run.inputs.vocab.chars)
    assert "PROJECT" not in "".join(char_run.inputs.vocab.chars), "the Gutenberg header and footer are stripped"
    assert "sample.png" in (char_run.path / "figures.json").read_text()


def test_language_model_blocks_overlap_by_half_in_training_only(char_run):
    data = prepare_data(char_run.recipe)
    x_train, y_train = data.splits["train"]
    x_val, y_val = data.splits["val"]
    assert torch.equal(x_train[1, :8], x_train[0, 8:]) and torch.equal(y_train[0, :-1], x_train[0, 1:])
    assert x_val.shape[1] == 16 and y_val[0, -1] == x_val[1, 0], "validation blocks follow one another"


def test_generate_is_seeded_and_lists_characters_outside_the_vocabulary(char_run):
    run = load_run(char_run.path)
    text = run.generate("ROMEO:", length=40, temperature=0.8, seed=3)
    assert text.startswith("ROMEO:") and len(text) == 46
    assert run.generate("ROMEO:", length=40, temperature=0.8, seed=3) == text
    with pytest.raises(DataError, match=r"outside the run's vocabulary of \d+: '\$', 'Z'"):
        run.generate("Z$ROMEO", length=5)
    with pytest.raises(DataError, match="non-empty"):
        run.generate("", length=5)
    with pytest.raises(NeuralabError, match="similar is for embedding runs; .* is a run of task language_model"):
        run.similar("romeo")


def test_evaluate_reproduces_the_saved_language_model_loss(char_run):
    saved = char_run.metrics()["final"]["val"]
    assert load_run(char_run.path).evaluate("val") == pytest.approx(saved, rel=1e-5)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    (folder / "corpus.txt").write_text(WORDS * 30)
    recipe = validate_recipe({
        "name": "tiny-w2v", "task": "embedding",
        "data": {"name": "corpus", "path": str(folder / "corpus.txt"), "val": 0.1, "test": 0.0, "min_count": 2,
                 "context_window": 2, "subsample": 0.01},
        "model": {"name": "skipgram", "embedding_dim": 8, "negatives": 3},
        "optimizer": {"name": "adam", "lr": 0.01}, "trainer": {"epochs": 2, "batch_size": 256, "device": "cpu"}})
    return train_recipe(recipe, out_dir=folder / "run")


def test_embedding_run_sets_noise_from_training_counts_and_saves_it(word_run):
    run = load_run(word_run.path)
    counts = torch.as_tensor(run.inputs.vocab.counts, dtype=torch.float64).pow(0.75)
    torch.testing.assert_close(run.model.noise.double(), counts / counts.sum())
    metrics = run.metrics()
    assert set(metrics["final"]) == {"train", "val"} and metrics["final"]["val"]["loss"] > 0
    assert 0 < len(metrics["neighbours"]) <= 6 and all(len(v) == 8 for v in metrics["neighbours"].values())
    assert (run.path / "word_map.png").is_file()


def test_similar_and_analogy_name_words_and_exclude_the_query(word_run):
    run = load_run(word_run.path)
    pairs = run.similar("King", k=4)
    assert len(pairs) == 4 and "king" not in [w for w, _ in pairs]
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
    answers = run.analogy("man", "woman", "king", k=3)
    assert len(answers) == 3 and not {"man", "woman", "king"} & {w for w, _ in answers}
    with pytest.raises(DataError, match=r"'kng' is not in the vocabulary of \d+ words \(did you mean 'king'\?\)"):
        run.similar("kng")
    with pytest.raises(DataError, match="did you mean 'queen'"):
        run.analogy("man", "woman", "quen")
    with pytest.raises(NeuralabError, match="generate is for language_model runs"):
        run.generate("the")


def test_each_forecast_step_has_its_own_interval_from_its_own_residuals(forecast_run):
    run, _ = forecast_run
    residuals = run.calibration["residuals"].double().numpy()
    assert residuals.ndim == 2 and residuals.shape[1] == 3, "one column of validation residuals per step"
    from neuralab.train.intervals import conformal_quantile

    _, low, high = run.forecast(level=0.9)
    expected = [conformal_quantile(residuals[:, h], 0.9) for h in range(3)]
    np.testing.assert_allclose((high - low) / 2, expected, rtol=1e-5)
    _, low, high = run.predict_interval(np.zeros((1, 12, 2)) + run.inputs.tail[None], method="normal", level=0.9)
    half = (high - low).reshape(-1) / 2
    np.testing.assert_allclose(half, 1.6448536 * np.sqrt((residuals ** 2).mean(0)), rtol=1e-5)
