"""The vanishing-gradient demonstration: task generators, gradient-norm curves, a tiny run, plots and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from neuralab.cli.main import main
from neuralab.errors import NeuralabError
from neuralab.experiments import (
    adding_problem,
    copy_task,
    plot_vanishing,
    run_vanishing,
)
from neuralab.experiments.vanishing import ADDING_SOLVED_MSE, gradient_norms
from neuralab.models.rnn import RNN

TINY = {"lengths": (5, 10), "hidden_size": 8, "epochs": 1, "n_train": 64, "n_test": 32, "batch_size": 32}


def test_adding_problem_target_is_the_sum_of_the_two_marked_values():
    x, y = adding_problem(256, 20, generator=torch.Generator().manual_seed(0))
    assert x.shape == (256, 20, 2) and y.shape == (256, 1)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values <= 1)).all()
    assert (markers.sum(1) == 2).all() and set(markers.unique().tolist()) == {0.0, 1.0}
    first, second = markers[:, :10].argmax(1), 10 + markers[:, 10:].argmax(1)  # one marker in each half
    assert (markers[:, :10].sum(1) == 1).all() and (markers[:, 10:].sum(1) == 1).all()
    rows = torch.arange(256)
    torch.testing.assert_close(y[:, 0], values[rows, first] + values[rows, second])
    # The first marker spreads over the whole first half: the dependency spans the sequence.
    assert first.min() == 0 and first.max() == 9


def test_adding_problem_is_reproducible_from_the_generator():
    a = adding_problem(8, 12, generator=torch.Generator().manual_seed(3))
    b = adding_problem(8, 12, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_copy_task_target_is_the_first_symbol_and_later_steps_are_distractors():
    x, y = copy_task(64, 15, symbols=4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (64, 15, 8) and y.shape == (64,) and y.dtype == torch.int64
    tokens = x.argmax(-1)
    assert torch.equal(tokens[:, 0], y) and (tokens[:, 1:] >= 4).all()
    assert (x.sum(-1) == 1).all()


@pytest.mark.parametrize("length", [1, 0])
def test_task_generators_reject_a_length_below_two(length):
    with pytest.raises(NeuralabError, match="length must be an int >= 2"):
        adding_problem(4, length)


def test_gradient_norm_curve_has_one_value_per_step_and_vanishes_back_in_time_for_an_elman_rnn():
    torch.manual_seed(0)
    x, y = adding_problem(32, 30, generator=torch.Generator().manual_seed(0))
    norms = gradient_norms(RNN(2, 16, 1, cell="rnn"), x, y, "adding")
    assert len(norms) == 30 and all(v >= 0 for v in norms)
    assert norms[0] < 1e-3 * norms[-1]  # 29 steps of tanh' · U with spectral radius < 1 at initialisation


def test_tiny_run_returns_the_documented_structure():
    seen = []
    results = run_vanishing(**TINY, progress=seen.append)
    assert results["task"] == "adding" and results["metric"] == "test_mse"
    assert results["solved_threshold"] == pytest.approx(1 / 60)
    assert results["baseline"] == pytest.approx(1 / 6)
    assert results["lengths"] == [5, 10] and results["cells"] == ["rnn", "lstm", "gru"]
    assert results["config"]["hidden_size"] == 8 and results["config"]["epochs"] == 1
    assert [(r["cell"], r["length"]) for r in results["runs"]] == [(c, t) for t in (5, 10) for c in
                                                                   ("rnn", "lstm", "gru")]
    assert seen == results["runs"]
    for r in results["runs"]:
        assert r["test_mse"] == r["test_loss"] > 0 and r["solved"] == (r["test_mse"] < ADDING_SOLVED_MSE)
        assert len(r["curve"]) == 1 and r["time_s"] > 0
        assert len(r["grad_norm_init"]) == len(r["grad_norm_trained"]) == r["length"]
    json.dumps(results)  # results.json is written from it as is


def test_tiny_copy_run_scores_accuracy():
    results = run_vanishing(task="copy", cells=("gru",), **{**TINY, "lengths": (4,)})
    (run,) = results["runs"]
    assert results["metric"] == "test_accuracy" and 0 <= run["test_accuracy"] <= 1
    assert results["baseline"] == pytest.approx(1 / 8)


def test_same_seed_gives_the_same_results():
    a = run_vanishing(cells=("lstm",), **{**TINY, "lengths": (6,)})["runs"][0]
    b = run_vanishing(cells=("lstm",), **{**TINY, "lengths": (6,)})["runs"][0]
    assert a["test_mse"] == b["test_mse"] and a["grad_norm_trained"] == b["grad_norm_trained"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"cells": ("lstn",)}, r"cell must be one of rnn, lstm, gru; got 'lstn' \(did you mean 'lstm'\?\)"),
    ({"lengths": (10, 1)}, "length must be an int >= 2; got 1"),
    ({"task": "adder"}, "task must be one of adding, copy; got 'adder'"),
    ({"hidden_size": 0}, "hidden_size must be a positive int; got 0"),
    ({"lr": 0.0}, "lr must be > 0; got 0.0"),
])
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(NeuralabError, match=match):
        run_vanishing(**{**TINY, **kwargs})


def test_plots_are_written(tmp_path):
    results = run_vanishing(cells=("rnn", "lstm"), **TINY)
    paths = plot_vanishing(results, tmp_path / "figs")
    assert [p.name for p in paths] == ["score_vs_length.png", "gradient_norms.png"]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_cli_writes_results_and_plots(tmp_path, capsys):
    out = tmp_path / "v"
    code = main(["vanishing", "--lengths", "5,8", "--cells", "rnn", "--cells", "lstm", "--epochs", "1",
                 "--hidden-size", "8", "--n-train", "64", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"results.json", "score_vs_length.png", "gradient_norms.png"}
    results = json.loads((out / "results.json").read_text())
    assert results["lengths"] == [5, 8] and results["cells"] == ["rnn", "lstm"]
    assert "T=8" in stdout and "lstm" in stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--cells", "rnn,lstn"], "cell must be one of rnn, lstm, gru; got 'lstn'"),
    (["--lengths", "10,1"], "length must be an int >= 2; got 1"),
    (["--lengths", "ten"], "--lengths must be integers >= 2"),
])
def test_cli_bad_argument_is_one_line_and_exit_code_two(tmp_path, capsys, args, message):
    code = main(["vanishing", *args, "--out", str(tmp_path / "v")])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_lstm_solves_the_adding_problem_at_length_50_where_the_elman_rnn_does_not():
    results = run_vanishing(lengths=(50,), cells=("rnn", "lstm"))  # the defaults: about a minute on one core
    rnn, lstm = results["runs"]
    assert lstm["solved"] and lstm["test_mse"] < ADDING_SOLVED_MSE
    assert not rnn["solved"] and rnn["test_mse"] > 0.05  # no better than remembering the late value (1/12)
    # After training the LSTM's gradient still reaches the first step; the RNN's has vanished on the way.
    assert lstm["grad_norm_trained"][0] / lstm["grad_norm_trained"][-1] > 1e-3
    assert rnn["grad_norm_trained"][0] / rnn["grad_norm_trained"][-1] < 1e-3
