"""The course's backpropagation formulas, written without autograd, agree with torch's autograd in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralab.cli.main import main
from neuralab.experiments.backprop import GlassBoxMLP, worked_example


def autograd(weights, biases, x, y, activation, output):
    tw = [torch.tensor(w, requires_grad=True) for w in weights]
    tb = [torch.tensor(b, requires_grad=True) for b in biases]
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda v: v}
    a = torch.tensor(x)
    for layer, (w, b) in enumerate(zip(tw, tb)):
        z = a @ w.T + b
        last = layer == len(tw) - 1
        a = (torch.softmax(z, 1) if output == "softmax" else f[output](z)) if last else f[activation](z)
    target = torch.tensor(y)
    loss = -(target * a.log()).sum() if output == "softmax" else 0.5 * ((a - target) ** 2).sum()
    loss.backward()
    return [t.grad.numpy() for t in tw], [t.grad.numpy() for t in tb], float(loss)


@pytest.mark.parametrize("activation, output", [("sigmoid", "sigmoid"), ("tanh", "linear"), ("relu", "softmax"),
                                                ("sigmoid", "softmax"), ("tanh", "tanh")])
@pytest.mark.parametrize("sizes", [[2, 2, 1], [5, 7, 3], [4, 8, 6, 3]])
def test_the_formulas_agree_with_autograd_to_1e_10(activation, output, sizes):
    rng = np.random.default_rng(len(sizes) * 10 + sizes[1])
    out = sizes[-1] if output == "softmax" or sizes[-1] > 1 else 1
    sizes = [*sizes[:-1], max(out, 2) if output == "softmax" else out]
    weights = [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)]
    x = rng.normal(size=(6, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 6)] if output == "softmax" else rng.uniform(size=(6, sizes[-1]))
    net = GlassBoxMLP(weights, biases, activation=activation, output=output)
    _, gw, gb = net.backward(x, y)
    tw, tb, loss = autograd(weights, biases, x, y, activation, output)
    assert net.loss(x, y) == pytest.approx(loss, abs=1e-12)
    for mine, theirs in zip(gw + gb, tw + tb):
        assert np.abs(mine - theirs).max() < 1e-10


def test_the_worked_example_can_be_checked_by_hand():
    lines, numbers = worked_example()
    assert "z₁ = W₁ x + b₁ = [0.3775, 0.3925]" in lines[1]  # 0.15·0.05 + 0.20·0.10 + 0.35
    assert numbers["loss_after"] < numbers["loss_before"]


def test_the_backprop_experiment_prints_the_example_and_writes_its_page(tmp_path, capsys):
    assert main(["lab", "backprop", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "δ₂ = (ŷ − y) σ′(z₂)" in out and "after one step E" in out
    page = (tmp_path / "index.html").read_text()
    assert "Worked example" in page and "max |formula − autograd|" in page
