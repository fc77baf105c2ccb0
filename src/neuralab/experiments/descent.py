"""Activations and gradient descent, seen: every activation with its derivative, and the paths that SGD, momentum,
Nesterov, Adagrad, RMSprop, Adam and Quickprop take on two-dimensional loss surfaces.

The surfaces are Rosenbrock's valley ``(1 − x)² + 100 (y − x²)²`` (minimum at (1, 1), a curved, flat-bottomed
valley) and an ill-conditioned quadratic ``½ (x² + 25 y²)`` (minimum at the origin, 25 times steeper across than
along). Each optimiser is neuralab's (:func:`neuralab.nn.build_optimizer`, the engine's), stepping on the point
itself. The learning-rate figure runs plain gradient descent on the quadratic with a rate too small, good, and too
large: above ``2 / λ_max = 0.08`` it diverges.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.experiments.page import write_page
from neuralab.i18n import _
from neuralab.nn import ACTIVATIONS, build_optimizer, get_activation
from neuralab.report._figures import pyplot, save_figure

__all__ = ["SURFACES", "OPTIMIZERS", "trajectory", "run_activations", "run_descent"]


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def quadratic(p: torch.Tensor) -> torch.Tensor:
    return 0.5 * (p[0] ** 2 + 25 * p[1] ** 2)


#: name → (function, start, minimum, plot window ((x0, x1), (y0, y1)))
SURFACES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[float, float], tuple[float, float],
                          tuple[tuple[float, float], tuple[float, float]]]] = {
    "rosenbrock": (rosenbrock, (-1.5, 2.0), (1.0, 1.0), ((-2.0, 2.0), (-1.0, 3.0))),
    "quadratic": (quadratic, (-4.0, 1.5), (0.0, 0.0), ((-5.0, 5.0), (-2.0, 2.0))),
}
#: optimiser → its learning rate on each surface (chosen by eye to show each one's character, not tuned)
OPTIMIZERS = {"sgd": {"rosenbrock": 1e-3, "quadratic": 0.03}, "momentum": {"rosenbrock": 5e-4, "quadratic": 0.01},
              "nesterov": {"rosenbrock": 5e-4, "quadratic": 0.01}, "adagrad": {"rosenbrock": 0.5, "quadratic": 0.5},
              "rmsprop": {"rosenbrock": 0.01, "quadratic": 0.05}, "adam": {"rosenbrock": 0.05, "quadratic": 0.1},
              "quickprop": {"rosenbrock": 1e-4, "quadratic": 0.01}}


def trajectory(surface: str, optimizer: str, lr: float, steps: int = 300) -> np.ndarray:
    """The points visited by ``optimizer`` from the surface's start, ``(steps + 1, 2)``; a diverging run stops once
    the point leaves a box of ±1e6."""
    fn, start, _minimum, _window = SURFACES[surface]
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = build_optimizer(optimizer, [point], lr)
    path = [point.detach().numpy().copy()]
    for _step in range(steps):
        opt.zero_grad()
        fn(point).backward()
        opt.step()
        path.append(point.detach().numpy().copy())
        if not np.all(np.isfinite(path[-1])) or np.abs(path[-1]).max() > 1e6:
            break
    return np.array(path)


def _contours(ax: Any, surface: str) -> None:
    fn, _start, minimum, ((x0, x1), (y0, y1)) = SURFACES[surface]
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    zs = fn(torch.tensor(np.stack([xs, ys]))).numpy()
    ax.contour(xs, ys, np.log1p(zs), levels=25, cmap="Greys", linewidths=0.6)
    ax.plot(*minimum, "*", color="gold", ms=14, mec="black")
    ax.set(xlim=(x0, x1), ylim=(y0, y1))


def run_activations(out: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Every activation f and its derivative f′ (by autograd; the step's is 0 almost everywhere) in one figure."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    names = list(ACTIVATIONS)
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.4))
    x = torch.linspace(-4, 4, 401, dtype=torch.float64, requires_grad=True)
    table = []
    for ax, name in zip(axes.flat, names):
        f = get_activation(name)
        if name == "softmax":  # over the pair (x, 0): the first output is σ(x)
            y = f(torch.stack([x, torch.zeros_like(x)], -1))[:, 0]
        else:
            y = f(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        ax.plot(x.detach(), y.detach(), label="f(x)", color="#1f77b4")
        ax.plot(x.detach(), grad, label="f′(x)", color="#d62728", ls="--")
        ax.axhline(0, color="grey", lw=0.5), ax.axvline(0, color="grey", lw=0.5)
        ax.set(title=name + (" (first of 2)" if name == "softmax" else ""), xlabel="x")
        ax.legend(fontsize=7)
        table.append([name, float(y[200]), float(grad[200]), float(grad.max())])
    fig.tight_layout()
    figure = save_figure(fig, out / "activations.png")
    write_page(out, title=_("Activations and their derivatives"),
               idea=_("A neuron's output is f(w·x + b); backpropagation multiplies by f′ at every layer, so the shape "
                      "of f′ decides how gradients travel."),
               formulas=["σ(x) = 1 / (1 + e^(−x)),   σ′ = σ (1 − σ) ≤ ¼", "tanh′ = 1 − tanh² ≤ 1",
                         "ReLU′ = 1 for x > 0, 0 below;   step′ = 0 almost everywhere"],
               look_for=[_("The sigmoid's derivative is at most ¼: ten sigmoid layers shrink a gradient by 4¹⁰ or "
                           "more (the vanishing gradient)."),
                         _("ReLU passes gradients unchanged where it is active and not at all where it is not."),
                         _("The step function has no useful derivative: Rosenblatt's rule, not backpropagation, "
                           "trains a perceptron.")],
               figures=[(figure, _("f (solid) and f′ (dashed) on [−4, 4]"))],
               table=([_("activation"), "f(0)", "f′(0)", "max f′"], table), seed=seed)
    return {"activations": names}


def run_descent(out: str | Path, *, seed: int = 0, steps: int = 1000) -> dict[str, Any]:
    """Paths of every optimiser on both surfaces, the learning-rate figure, and a GIF of the Rosenbrock race."""
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    colours = plt.get_cmap("tab10")
    paths = {(s, o): trajectory(s, o, OPTIMIZERS[o][s], steps) for s in SURFACES for o in OPTIMIZERS}
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.6))
    rows = []
    for ax, surface in zip(axes, SURFACES):
        _contours(ax, surface)
        fn, _start, minimum, _window = SURFACES[surface]
        for k, name in enumerate(OPTIMIZERS):
            path = paths[(surface, name)]
            ax.plot(path[:, 0], path[:, 1], "-", color=colours(k), lw=1.3, label=name)
            loss = float(fn(torch.tensor(path[-1])))
            rows.append([surface, name, OPTIMIZERS[name][surface], len(path) - 1, loss,
                         float(np.linalg.norm(path[-1] - np.array(minimum)))])
        ax.set(title=_("{surface}: {steps} steps from {start}").format(surface=surface, steps=steps,
                                                                          start=SURFACES[surface][1]))
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    paths_png = save_figure(fig, out / "trajectories.png")

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (label, lr) in zip(axes, ((_("too small"), 0.002), (_("good"), 0.03), (_("too large"), 0.085))):
        _contours(ax, "quadratic")
        path = trajectory("quadratic", "sgd", lr, 60)
        ax.plot(path[:, 0], path[:, 1], "o-", ms=2.5, lw=0.8, color="#d62728")
        ax.set(title=f"lr {lr}: {label}" + (_(" (diverges)") if lr > 0.08 else ""))
    fig.tight_layout()
    rates_png = save_figure(fig, out / "learning_rates.png")

    frames = []
    for t in np.unique(np.geomspace(1, steps, 40).astype(int)):
        fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=72)
        _contours(ax, "rosenbrock")
        for k, name in enumerate(OPTIMIZERS):
            path = paths[("rosenbrock", name)][: t + 1]
            ax.plot(path[:, 0], path[:, 1], "-", color=colours(k), lw=1.2, label=name)
            ax.plot(*path[-1], "o", color=colours(k), ms=4)
        ax.set(title=f"Rosenbrock, step {t}")
        ax.legend(fontsize=6, loc="upper left")
        fig.canvas.draw()
        frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
        plt.close(fig)
    gif = out / "rosenbrock.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=150, loop=0)
    write_page(out, title=_("Gradient descent and its variants"),
               idea=_("Rosenbrock's valley (1 − x)² + 100 (y − x²)² has its minimum at (1, 1) at the end of a curved, "
                      "flat-bottomed valley; the quadratic ½ (x² + 25 y²) is 25 times steeper across than along. "
                      "Each optimiser is the one the training engine uses, stepping on the point itself."),
               formulas=["SGD: θ ← θ − η ∇L", "momentum: v ← μ v + ∇L,  θ ← θ − η v",
                         "Adam: m ← β₁ m + (1 − β₁) g,  s ← β₂ s + (1 − β₂) g²,  θ ← θ − η m̂ / (√ŝ + ε)",
                         "Quickprop: Δθ ← Δθ_prev · g / (g_prev − g)  (a secant step per weight)"],
               look_for=[_("Plain SGD crawls along the flat floor of Rosenbrock's valley; momentum and Adam move "
                           "along it faster."), _("On the quadratic, SGD zig-zags across the steep direction: its "
                                                  "rate is limited by the steepest curvature."),
                         _("Above 2/λ_max the same quadratic diverges: the learning-rate figure's third panel.")],
               figures=[(paths_png, _("Each optimiser's path on both surfaces")),
                        (rates_png, _("Plain gradient descent with a learning rate too small, good and too large")),
                        (gif, _("The race on Rosenbrock's valley"))],
               table=([_("surface"), _("optimiser"), "lr", _("steps"), _("final loss"), _("distance to the minimum")],
                      rows),
               seed=seed)
    return {"rows": rows}
