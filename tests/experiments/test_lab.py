"""The foundations lab: Rosenblatt's rule converges on separable data and never on XOR, an MLP solves XOR, the
optimisers behave as the course says on 2-D surfaces, and each experiment writes its page."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.cli.main import main
from neuralab.experiments.descent import trajectory
from neuralab.experiments.perceptron import XOR, rosenblatt, separable_data


def test_rosenblatts_rule_converges_on_separable_data_and_never_on_xor():
    x, y = separable_data(seed=3)
    result = rosenblatt(x, y, epochs=200, seed=3)
    w, b = result["weights"][-1]
    assert result["converged"] and np.array_equal((x @ w + b >= 0).astype(int), y)
    xor = rosenblatt(*XOR, epochs=200)
    assert not xor["converged"] and min(xor["mistakes"]) >= 1


def test_the_rule_is_the_textbook_update():
    x, y = np.array([[1.0, 2.0]]), np.array([0])  # step(0) = 1 is wrong: w ← w + η (0 − 1) x, b ← b + η (0 − 1)
    w, b = rosenblatt(x, y, lr=0.5, epochs=1)["weights"][1]
    assert np.array_equal(w, [-0.5, -1.0]) and b == -0.5


def test_gradient_descent_diverges_above_two_over_the_largest_curvature():
    good = trajectory("quadratic", "sgd", 0.03, 200)
    bad = trajectory("quadratic", "sgd", 0.085, 200)
    assert np.linalg.norm(good[-1]) < 1e-2 and np.abs(bad[-1]).max() > 1e3


def test_adam_and_momentum_go_further_along_rosenbrocks_valley_than_sgd():
    distance = {name: np.linalg.norm(trajectory("rosenbrock", name, lr, 1000)[-1] - [1, 1])
                for name, lr in (("sgd", 1e-3), ("momentum", 5e-4), ("adam", 0.05))}
    assert distance["adam"] < 0.1 and distance["momentum"] < distance["sgd"]


@pytest.mark.parametrize("experiment", ["perceptron", "activations", "descent"])
def test_each_experiment_writes_its_page_and_figures(tmp_path, experiment, capsys):
    assert main(["lab", experiment, "--out", str(tmp_path / experiment), "--seed", "1"]) == 0
    page = (tmp_path / experiment / "index.html").read_text()
    assert "What to look for" in page and "The formula" in page and "data:image/png;base64" in page
    assert "<script" not in page
    assert "index.html" in capsys.readouterr().out


def test_the_perceptron_experiment_is_deterministic(tmp_path):
    assert main(["lab", "perceptron", "--out", str(tmp_path / "a"), "--seed", "2"]) == 0
    assert main(["lab", "perceptron", "--out", str(tmp_path / "b"), "--seed", "2"]) == 0
    assert (tmp_path / "a" / "perceptron.gif").read_bytes() == (tmp_path / "b" / "perceptron.gif").read_bytes()


def test_an_unknown_experiment_gets_a_did_you_mean(capsys):
    assert main(["lab", "perceptorn"]) == 2
    assert "did you mean 'perceptron'" in capsys.readouterr().err
