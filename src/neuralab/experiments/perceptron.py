"""The perceptron: Rosenblatt's learning rule on two-dimensional data, where it converges (linearly separable) and
where it never can (XOR), and a one-hidden-layer MLP that solves XOR.

Rosenblatt (1958), "The perceptron: a probabilistic model for information storage and organization in the brain":
a threshold unit ``ŷ = step(w·x + b)`` learns by ``w ← w + η (y − ŷ) x``, ``b ← b + η (y − ŷ)``, one example at a
time. On linearly separable data it stops making mistakes after finitely many updates (Novikoff 1962); XOR is not
separable by any line (Minsky & Papert 1969), so the rule cycles forever. One hidden layer is enough: the MLP here
is trained by backpropagation through the engine.
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

__all__ = ["rosenblatt", "separable_data", "XOR", "run_perceptron"]

XOR = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float), np.array([0, 1, 1, 0]))


def separable_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clouds of ``n`` points each on either side of a random line through the origin, with a margin."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    x = rng.uniform(-1, 1, size=(4 * n, 2))
    margin = x @ normal
    x, margin = x[np.abs(margin) > 0.03][: 2 * n], margin[np.abs(margin) > 0.03][: 2 * n]
    return x, (margin > 0).astype(int)


def rosenblatt(x: np.ndarray, y: np.ndarray, *, lr: float = 0.1, epochs: int = 50, seed: int = 0
               ) -> dict[str, Any]:
    """Rosenblatt's rule, one example at a time in a seeded order each epoch. Returns the weights after every
    update, the mistakes per epoch and whether an epoch passed without a mistake."""
    rng = np.random.default_rng(seed)
    w, b = np.zeros(x.shape[1]), 0.0
    history, mistakes = [(w.copy(), b)], []
    for _epoch in range(epochs):
        errors = 0
        for i in rng.permutation(len(x)):
            predicted = int(x[i] @ w + b >= 0)  # the step function
            if predicted != y[i]:
                w, b = w + lr * (y[i] - predicted) * x[i], b + lr * (y[i] - predicted)
                history.append((w.copy(), b))
                errors += 1
        mistakes.append(errors)
        if errors == 0:
            break
    return {"weights": history, "mistakes": mistakes, "converged": mistakes[-1] == 0}


def _line(ax: Any, w: np.ndarray, b: float, **style: Any) -> None:
    xs = np.array([-1.2, 1.2])
    if abs(w[1]) > 1e-12:
        ax.plot(xs, -(w[0] * xs + b) / w[1], **style)
    elif abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], **style)


def _scatter(ax: Any, x: np.ndarray, y: np.ndarray) -> None:
    ax.scatter(*x[y == 0].T, marker="o", color="#1f77b4", label=_("class 0"))
    ax.scatter(*x[y == 1].T, marker="s", color="#d62728", label=_("class 1"))


def run_perceptron(out: str | Path, *, seed: int = 0, lr: float = 0.1, epochs: int = 50) -> dict[str, Any]:
    """Run the three parts and write ``out/index.html`` with its figures (a GIF of the moving line included)."""
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x, y = separable_data(seed=seed)
    separable = rosenblatt(x, y, lr=lr, epochs=epochs, seed=seed)
    xor = rosenblatt(*XOR, lr=lr, epochs=epochs, seed=seed)
    plt = pyplot()

    frames = []  # the decision line after each update, as a GIF
    steps = separable["weights"]
    for k in np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 40)).astype(int)):
        fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
        _scatter(ax, x, y)
        _line(ax, *steps[k], color="black")
        ax.set(xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), title=_("update {k} of {n}").format(k=k, n=len(steps) - 1))
        fig.canvas.draw()
        frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
        plt.close(fig)
    gif = out / "perceptron.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200, loop=0)

    torch.manual_seed(seed)
    mlp = MLP(2, hidden_sizes=(4,), out_features=1, activation="tanh")
    xt, yt = torch.tensor(XOR[0], dtype=torch.float32), torch.tensor(XOR[1], dtype=torch.float32)[:, None]
    state = fit(mlp, FitData((xt, yt)), TrainerConfig(epochs=500, batch_size=4, seed=seed, device="cpu"),
                optimizer=OptimizerConfig(name="adam", lr=0.05), loss="bce")
    with torch.no_grad():
        mlp_correct = int(((mlp(xt) > 0).float() == yt).sum())

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    _scatter(axes[0], x, y)
    _line(axes[0], *separable["weights"][-1], color="black", label=_("learned line"))
    axes[0].set(title=_("Separable: {n} updates").format(n=len(steps) - 1), xlim=(-1.2, 1.2), ylim=(-1.2, 1.2))
    axes[0].legend(fontsize=8)
    axes[1].plot(range(1, len(separable["mistakes"]) + 1), separable["mistakes"], "o-", label=_("separable"))
    axes[1].plot(range(1, len(xor["mistakes"]) + 1), xor["mistakes"], "s-", label="XOR")
    axes[1].set(xlabel=_("epoch"), ylabel=_("mistakes in the epoch"), title=_("Mistakes per epoch"))
    axes[1].legend(fontsize=8)
    grid = np.stack(np.meshgrid(np.linspace(-0.5, 1.5, 120), np.linspace(-0.5, 1.5, 120)), -1).reshape(-1, 2)
    with torch.no_grad():
        region = torch.sigmoid(mlp(torch.tensor(grid, dtype=torch.float32))).numpy().reshape(120, 120)
    axes[2].contourf(np.linspace(-0.5, 1.5, 120), np.linspace(-0.5, 1.5, 120), region, levels=20, cmap="RdBu_r",
                     alpha=0.6)
    _scatter(axes[2], *XOR)
    axes[2].set(title=_("XOR: an MLP with 4 hidden units, {n}/4 right").format(n=mlp_correct))
    fig.tight_layout()
    summary = save_figure(fig, out / "perceptron.png")

    result = {"separable": {"updates": len(steps) - 1, "epochs": len(separable["mistakes"]),
                            "converged": separable["converged"]},
              "xor": {"epochs": len(xor["mistakes"]), "converged": xor["converged"],
                      "mistakes_last_epoch": xor["mistakes"][-1]},
              "mlp_xor_correct": mlp_correct, "mlp_final_loss": float(state.history[-1]["train_loss"])}
    write_page(out, title=_("The perceptron"),
               idea=_("Rosenblatt's threshold unit learns one example at a time, moving its line towards every point "
                      "it gets wrong. On data that a line can separate it stops making mistakes after finitely many "
                      "updates (Novikoff 1962); on XOR, which no line separates (Minsky & Papert 1969), it never "
                      "stops. One hidden layer, trained by backpropagation, is enough for XOR."),
               formulas=["ŷ = step(w · x + b)", "w ← w + η (y − ŷ) x,    b ← b + η (y − ŷ)"],
               look_for=[_("On separable data the line stops moving once every point is on its side: the mistakes "
                           "per epoch fall to 0."),
                         _("On XOR the mistakes never reach 0, however many epochs: no line separates the four "
                           "points."),
                         _("One hidden layer bends the boundary: the MLP gets all four XOR points right.")],
               figures=[(summary, _("The learned line, mistakes per epoch, and the MLP's regions on XOR")),
                        (gif, _("The line after each of Rosenblatt's updates"))],
               table=([_("case"), _("epochs"), _("converged"), _("mistakes in the last epoch")],
                      [[_("separable"), len(separable["mistakes"]), separable["converged"],
                        separable["mistakes"][-1]],
                       ["XOR", len(xor["mistakes"]), xor["converged"], xor["mistakes"][-1]],
                       [_("MLP on XOR"), 500, mlp_correct == 4, 4 - mlp_correct]]), seed=seed)
    return result
