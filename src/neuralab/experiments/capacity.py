"""How much a network can represent, and how much it should: universal approximation with one hidden layer, and a
capacity sweep that shows under-fitting, a good fit and over-fitting, with L1, L2 and dropout against the last.

- **Universal approximation** (Cybenko 1989; Hornik 1991): one hidden layer of enough units approximates any
  continuous function on a compact set. MLPs with 1, 3, 10 and 50 tanh units fit sin(x), |x| and a step on
  [−π, π]; the error falls with the width (the step, which is not continuous, keeps a bump at its jump).
- **Capacity**: 20 noisy samples of sin on [−π, π] (noise σ = 0.3) and 20 more for validation; MLPs with 1 to 512
  hidden units, each trained 2,000 full-batch epochs. Training error falls with width, below the noise level;
  validation error rises once the network can bend through the noise, while early stopping on the validation
  error would have stopped every width near its best. L1, L2 and dropout on the widest network pull its validation
  error back down.

Every network trains with :func:`neuralab.train.fit` (Adam, full batch), deterministic with the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.experiments.page import write_page
from neuralab.i18n import _
from neuralab.models.mlp import MLP
from neuralab.report._figures import pyplot, save_figure
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit

__all__ = ["FUNCTIONS", "fit_curve", "run_universal", "run_capacity"]

FUNCTIONS = {"sin": np.sin, "abs": np.abs, "step": lambda x: (x > 0).astype(float)}


def fit_curve(x: np.ndarray, y: np.ndarray, width: int, *, epochs: int, seed: int, lr: float = 0.01,
              val: tuple[np.ndarray, np.ndarray] | None = None, l1: float = 0.0, l2: float = 0.0,
              dropout: float = 0.0) -> tuple[MLP, list[dict[str, float]]]:
    """An MLP with one hidden layer of ``width`` tanh units fitted to ``y(x)`` by full-batch Adam; its history."""
    torch.manual_seed(seed)
    model = MLP(1, hidden_sizes=(width,), out_features=1, activation="tanh", dropout=dropout)
    tensor = lambda a: torch.tensor(a, dtype=torch.float32).reshape(-1, 1)  # noqa: E731
    data = FitData((tensor(x), tensor(y)), None if val is None else (tensor(val[0]), tensor(val[1])))
    state = fit(model, data, TrainerConfig(epochs=epochs, batch_size=len(x), seed=seed, device="cpu", l1=l1, l2=l2),
                optimizer=OptimizerConfig(name="adam", lr=lr), loss="mse")
    return model.eval(), state.history


def _predict(model: MLP, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32).reshape(-1, 1)).numpy().reshape(-1)


def run_universal(out: str | Path, *, seed: int = 0, widths: tuple[int, ...] = (1, 3, 10, 50),
                  epochs: int = 1500) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x = np.linspace(-np.pi, np.pi, 200)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(FUNCTIONS) + 1, figsize=(16, 3.8))
    rows, errors = [], {name: [] for name in FUNCTIONS}
    for ax, (name, f) in zip(axes, FUNCTIONS.items()):
        y = f(x)
        ax.plot(x, y, color="black", lw=2, label="target")
        for width in widths:
            model, _history = fit_curve(x, y, width, epochs=epochs, seed=seed, lr=0.02)
            prediction = _predict(model, x)
            rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
            errors[name].append(rmse)
            rows.append([name, width, rmse])
            ax.plot(x, prediction, lw=1.2, label=f"{width} units")
        ax.set(title=name, xlabel="x")
        ax.legend(fontsize=7)
    for name in FUNCTIONS:
        axes[-1].plot(widths, errors[name], "o-", label=name)
    axes[-1].set(xscale="log", yscale="log", xlabel=_("hidden units"), ylabel="RMSE", title=_("Error against width"))
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    figure = save_figure(fig, out / "universal.png")
    write_page(out, title=_("Universal approximation"),
               idea=_("One hidden layer of enough units approximates any continuous function on a compact set "
                      "(Cybenko 1989; Hornik 1991). Networks of 1, 3, 10 and 50 tanh units fit sin(x), |x| and a "
                      "step on [−π, π]; the step, which is not continuous, keeps a ramp at its jump."),
               formulas=["f̂(x) = Σⱼ vⱼ tanh(wⱼ x + bⱼ) + c,   j = 1 … width"],
               look_for=[_("One unit draws one tanh: enough for a smooth step, not for a wave."),
                         _("The error falls as units are added; sin and |x| are fitted closely by 10 or 50."),
                         _("The step is not continuous: the fit keeps a steep but smooth ramp at the jump.")],
               figures=[(figure, _("Fits of each function by 1, 3, 10 and 50 hidden units, and the error by width"))],
               table=([_("function"), _("hidden units"), _("RMSE")], rows), seed=seed)
    return {"rows": rows}


def run_capacity(out: str | Path, *, seed: int = 0, epochs: int = 2000,
                 widths: tuple[int, ...] = (1, 2, 4, 8, 16, 64, 256, 512)) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x_train, x_val = rng.uniform(-np.pi, np.pi, 20), rng.uniform(-np.pi, np.pi, 20)
    y_train, y_val = np.sin(x_train) + rng.normal(0, 0.3, 20), np.sin(x_val) + rng.normal(0, 0.3, 20)
    results = []
    for width in widths:
        model, history = fit_curve(x_train, y_train, width, epochs=epochs, seed=seed, val=(x_val, y_val))
        best = min(history, key=lambda h: h["val_loss"])
        results.append({"width": width, "train": history[-1]["train_loss"], "val": history[-1]["val_loss"],
                        "best_val": best["val_loss"], "best_epoch": best["epoch"], "model": model,
                        "curve": [h["val_loss"] for h in history]})
    widest = widths[-1]
    regularised = {}
    for label, options in (("L2 1e-3", {"l2": 1e-3}), ("L1 1e-4", {"l1": 1e-4}), ("dropout 0.2", {"dropout": 0.2})):
        model, history = fit_curve(x_train, y_train, widest, epochs=epochs, seed=seed, val=(x_val, y_val), **options)
        regularised[label] = {"model": model, "val": history[-1]["val_loss"], "train": history[-1]["train_loss"]}
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    axes[0].plot(widths, [r["train"] for r in results], "o-", label="training error")
    axes[0].plot(widths, [r["val"] for r in results], "s-", label="validation error (end)")
    axes[0].plot(widths, [r["best_val"] for r in results], "^:", label="validation error (early stopping)")
    axes[0].set(xscale="log", yscale="log", xlabel=_("hidden units"), ylabel="MSE", title=_("Capacity: the U"))
    axes[0].axhline(0.09, color="grey", lw=0.7, ls="--", label="noise σ² = 0.09")
    axes[0].legend(fontsize=7)
    grid = np.linspace(-np.pi, np.pi, 300)
    axes[1].plot(x_train, y_train, "o", color="black", ms=4, label="training")
    axes[1].plot(x_val, y_val, "x", color="grey", ms=5, label="validation")
    for r in (results[0], results[len(results) // 2 - 1], results[-1]):
        axes[1].plot(grid, _predict(r["model"], grid), label=f"{r['width']} units")
    axes[1].set(title=_("After {epochs} epochs").format(epochs=epochs), xlabel="x")
    axes[1].legend(fontsize=7)
    axes[2].plot(x_train, y_train, "o", color="black", ms=4)
    axes[2].plot(grid, _predict(results[-1]["model"], grid), label=f"{widest} units, no penalty", lw=1)
    for label, r in regularised.items():
        axes[2].plot(grid, _predict(r["model"], grid), label=label)
    axes[2].set(title=_("{n} units, regularised").format(n=widest), xlabel="x")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    figure = save_figure(fig, out / "capacity.png")
    rows = [[r["width"], r["train"], r["val"], r["best_val"], r["best_epoch"]] for r in results]
    rows += [[f"{widest}, {label}", r["train"], r["val"], "", ""] for label, r in regularised.items()]
    write_page(out, title=_("Capacity and generalisation"),
               idea=_("Twenty noisy points of sin(x), fitted by networks of growing width: too few units cannot bend "
                    "enough (under-fitting); too many bend through the noise (over-fitting)."),
               formulas=["E_train falls with capacity;   E_val = bias² + variance + noise falls, then rises",
                         "L2: E + λ Σ w²;   L1: E + λ Σ |w|;   dropout: each hidden unit dropped with probability p"],
               look_for=[_("The training error falls as units are added, below the noise level (0.09): the wider "
                         "networks fit the noise itself."),
                         _("At the end of training the validation error rises once a network has a few units to "
                           "spare."),
                         _("Early stopping (the dotted line) holds every width near its best validation error."),
                         _("On the widest network, L2, L1 and dropout each lower the validation error.")],
               figures=[(figure, _("Errors against width, three fits, and the widest network regularised"))],
               table=([_("hidden units"), _("train MSE"), _("val MSE (end)"), _("val MSE (best epoch)"),
                       _("best epoch")], rows),
               seed=seed)
    return {"rows": rows, "regularised": {k: v["val"] for k, v in regularised.items()}}
