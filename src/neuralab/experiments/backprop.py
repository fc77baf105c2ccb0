"""Backpropagation written out with the course's formulas, without autograd, and checked against autograd.

For a layer ``l`` with weights ``W_l``, pre-activation ``z_l = W_l a_{l−1} + b_l`` and output ``a_l = f(z_l)``:

- the output layer's δ: for the squared error ``E = ½ Σ (ŷ − y)²``, ``δ_L = (ŷ − y) ⊙ f′(z_L)``; for softmax with
  cross-entropy ``E = −Σ y log ŷ``, ``δ_L = ŷ − y``;
- a hidden layer's δ: ``δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f′(z_l)``;
- the gradients: ``∂E/∂W_l = δ_l a_{l−1}ᵀ`` and ``∂E/∂b_l = δ_l``, summed over the examples.

:class:`GlassBoxMLP` computes exactly these in float64; ``tests/experiments/test_backprop.py`` checks them against
torch's autograd to 1e-10. :func:`worked_example` is a 2-2-1 network with round numbers, every intermediate value
printed, for checking by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.errors import NeuralabError
from neuralab.experiments.page import write_page
from neuralab.i18n import _

__all__ = ["GlassBoxMLP", "worked_example", "run_backprop"]

ACTIVATIONS = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(float)),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
}


class GlassBoxMLP:
    """A fully connected network whose forward and backward passes are the course's formulas, in float64.

    Parameters
    ----------
    weights, biases
        ``W_l`` of shape ``(n_l, n_{l−1})`` and ``b_l`` of shape ``(n_l,)`` for each layer.
    activation
        The hidden layers' f: sigmoid, tanh, relu or linear.
    output
        The output layer: one of the activations (with the squared error), or ``softmax`` (with cross-entropy).
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], *, activation: str = "sigmoid",
                 output: str = "sigmoid") -> None:
        if activation not in ACTIVATIONS or output not in (*ACTIVATIONS, "softmax"):
            raise NeuralabError(f"activation is one of {', '.join(ACTIVATIONS)}; output also softmax")
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in biases]
        self.activation, self.output = activation, output

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The pre-activations ``z_l`` and outputs ``a_l`` of every layer, ``a_0 = x``; rows are examples."""
        a, zs, activations = np.asarray(x, dtype=np.float64), [], [np.asarray(x, dtype=np.float64)]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w.T + b
            last = layer == len(self.weights) - 1
            if last and self.output == "softmax":
                e = np.exp(z - z.max(1, keepdims=True))
                a = e / e.sum(1, keepdims=True)
            else:
                a = ACTIVATIONS[self.output if last else self.activation][0](z)
            zs.append(z), activations.append(a)
        return zs, activations

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """``½ Σ (ŷ − y)²``, or ``−Σ y log ŷ`` for softmax, summed over the examples."""
        y_hat = self.forward(x)[1][-1]
        if self.output == "softmax":
            return float(-(y * np.log(y_hat)).sum())
        return float(0.5 * ((y_hat - y) ** 2).sum())

    def backward(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """The δ of every layer and the gradients ``∂E/∂W_l = δ_l a_{l−1}ᵀ``, ``∂E/∂b_l = δ_l`` (summed over rows)."""
        zs, acts = self.forward(x)
        y = np.asarray(y, dtype=np.float64)
        if self.output == "softmax":
            delta = acts[-1] - y  # softmax with cross-entropy
        else:
            delta = (acts[-1] - y) * ACTIVATIONS[self.output][1](zs[-1], acts[-1])
        deltas = [delta]
        for layer in range(len(self.weights) - 2, -1, -1):
            delta = (delta @ self.weights[layer + 1]) * ACTIVATIONS[self.activation][1](zs[layer], acts[layer + 1])
            deltas.insert(0, delta)
        grad_w = [d.T @ a for d, a in zip(deltas, acts[:-1])]
        grad_b = [d.sum(0) for d in deltas]
        return deltas, grad_w, grad_b


def worked_example(lr: float = 0.5) -> tuple[list[str], dict[str, Any]]:
    """A 2-2-1 sigmoid network on one example, every step as a line of text and the numbers."""
    w1, b1 = np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([0.35, 0.35])
    w2, b2 = np.array([[0.40, 0.45]]), np.array([0.60])
    x, y = np.array([[0.05, 0.10]]), np.array([[0.99]])
    net = GlassBoxMLP([w1, w2], [b1, b2])
    zs, acts = net.forward(x)
    deltas, gw, gb = net.backward(x, y)
    r = lambda v: np.array2string(np.asarray(v).reshape(-1), precision=6, separator=", ")  # noqa: E731
    lines = [
        f"input x = {r(x)}, target y = {r(y)}, learning rate η = {lr}",
        f"hidden: z₁ = W₁ x + b₁ = {r(zs[0])}",
        f"        a₁ = σ(z₁) = {r(acts[1])}",
        f"output: z₂ = W₂ a₁ + b₂ = {r(zs[1])}",
        f"        ŷ = σ(z₂) = {r(acts[2])}",
        f"error:  E = ½ (ŷ − y)² = {net.loss(x, y):.6f}",
        f"δ₂ = (ŷ − y) σ′(z₂) = (ŷ − y) ŷ (1 − ŷ) = {r(deltas[1])}",
        f"δ₁ = (W₂ᵀ δ₂) ⊙ a₁ (1 − a₁) = {r(deltas[0])}",
        f"∂E/∂W₂ = δ₂ a₁ᵀ = {r(gw[1])},   ∂E/∂b₂ = {r(gb[1])}",
        f"∂E/∂W₁ = δ₁ xᵀ = {r(gw[0])},   ∂E/∂b₁ = {r(gb[0])}",
        f"update: W₂ ← W₂ − η ∂E/∂W₂ = {r(w2 - lr * gw[1])}",
        f"        W₁ ← W₁ − η ∂E/∂W₁ = {r(w1 - lr * gw[0])}",
    ]
    after = GlassBoxMLP([w1 - lr * gw[0], w2 - lr * gw[1]], [b1 - lr * gb[0], b2 - lr * gb[1]])
    lines.append(f"after one step E = {after.loss(x, y):.6f} (was {net.loss(x, y):.6f})")
    return lines, {"loss_before": net.loss(x, y), "loss_after": after.loss(x, y)}


def run_backprop(out: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """The worked example, and the largest difference from autograd over random networks; a page."""
    import torch

    rng = np.random.default_rng(seed)
    rows = []
    for activation, output in (("sigmoid", "sigmoid"), ("tanh", "linear"), ("relu", "softmax")):
        sizes = [4, 6, 5, 3]
        weights = [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(3)]
        biases = [rng.normal(size=sizes[i + 1]) for i in range(3)]
        x = rng.normal(size=(8, 4))
        y = np.eye(3)[rng.integers(0, 3, 8)] if output == "softmax" else rng.uniform(size=(8, 3))
        _deltas, gw, gb = GlassBoxMLP(weights, biases, activation=activation, output=output).backward(x, y)
        tw = [torch.tensor(w, requires_grad=True) for w in weights]
        tb = [torch.tensor(b, requires_grad=True) for b in biases]
        a = torch.tensor(x)
        for layer, (w, b) in enumerate(zip(tw, tb)):
            z = a @ w.T + b
            f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda v: v}
            a = (torch.softmax(z, 1) if output == "softmax" else f[output](z)) if layer == 2 else f[activation](z)
        target = torch.tensor(y)
        loss = -(target * a.log()).sum() if output == "softmax" else 0.5 * ((a - target) ** 2).sum()
        loss.backward()
        diff = max(max(float(np.abs(g - t.grad.numpy()).max()) for g, t in zip(gw, tw)),
                   max(float(np.abs(g - t.grad.numpy()).max()) for g, t in zip(gb, tb)))
        rows.append([f"{activation} hidden, {output} output", "4-6-5-3", diff])
    lines, numbers = worked_example()
    page = write_page(Path(out), title=_("Backpropagation, by hand"),
                      idea=_("The forward pass stores each layer's z and a; the backward pass sends δ from the output "
                           "to the input, one layer at a time, and each weight's gradient is its δ times the "
                           "activation that fed it."),
                      formulas=["δ_L = (ŷ − y) ⊙ f′(z_L)   (squared error);   δ_L = ŷ − y   (softmax + cross-entropy)",
                                "δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f′(z_l)", "∂E/∂W_l = δ_l a_{l−1}ᵀ,   ∂E/∂b_l = δ_l"],
                      worked=lines,
                      look_for=[_("The worked example's numbers can be checked with a calculator, line by line."),
                                _("One gradient step lowers the error."),
                                _("The formulas agree with torch's autograd to about 1e-15 (float64 rounding).")],
                      figures=[], table=([_("network"), _("sizes"), _("max |formula − autograd|")], rows), seed=seed)
    return {"page": str(page), "rows": rows, "worked": numbers, "lines": lines}
