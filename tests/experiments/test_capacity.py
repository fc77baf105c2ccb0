"""The universal-approximation and capacity experiments show what the course says they show."""

from __future__ import annotations

import numpy as np

from neuralab.cli.main import main
from neuralab.experiments.capacity import fit_curve


def test_more_hidden_units_fit_sin_better():
    x = np.linspace(-np.pi, np.pi, 100)
    errors = []
    for width in (1, 10):
        model, history = fit_curve(x, np.sin(x), width, epochs=600, seed=0, lr=0.02)
        errors.append(history[-1]["train_loss"])
    assert errors[1] < errors[0] / 5


def test_a_wide_network_overfits_twenty_noisy_points_and_l2_pulls_it_back():
    rng = np.random.default_rng(0)
    x, xv = rng.uniform(-np.pi, np.pi, 20), rng.uniform(-np.pi, np.pi, 20)
    y, yv = np.sin(x) + rng.normal(0, 0.3, 20), np.sin(xv) + rng.normal(0, 0.3, 20)
    _, wide = fit_curve(x, y, 256, epochs=1500, seed=0, val=(xv, yv))
    _, penalised = fit_curve(x, y, 256, epochs=1500, seed=0, val=(xv, yv), l2=1e-3)
    assert wide[-1]["train_loss"] < 0.09 < wide[-1]["val_loss"], "below the noise on training, above on validation"
    assert min(h["val_loss"] for h in wide) < wide[-1]["val_loss"], "early stopping would have stopped sooner"
    assert penalised[-1]["val_loss"] < wide[-1]["val_loss"]


def test_the_universal_page_is_written(tmp_path):
    assert main(["lab", "universal", "--out", str(tmp_path)]) == 0
    assert "Universal approximation" in (tmp_path / "index.html").read_text()
