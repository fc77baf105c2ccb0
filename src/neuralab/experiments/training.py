"""Two questions about training a network: how big a batch (full batch, mini-batch, online learning), and how sure
a prediction is (the course's interval from the validation error, a conformal interval, an ensemble).

- **Batch size**: the same MLP on 600 of scikit-learn's digits, trained by SGD with the whole set per step (full
  batch), 32 examples per step (mini-batch) and one (online learning, Widrow & Hoff's LMS way), each with a
  learning rate that suits it (1.0, 0.1, 0.01). Loss against epochs and against wall-clock time.
- **Confidence intervals** for regression, at 90%: y = sin(x) + noise whose size grows with |x|. The course's
  ``ŷ ± z·√MSE_val`` assumes the same normal noise everywhere; the split-conformal interval ``ŷ ± q`` takes the
  quantile ``q`` of the validation set's absolute residuals (Vovk et al. 2005; guaranteed coverage for exchangeable
  data, same width everywhere); an ensemble of 5 networks gives ``ŷ ± z·s`` from their spread, which measures the
  model's uncertainty but not the noise. Coverage is measured on 2,000 test points.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from sklearn.datasets import load_digits

from neuralab.experiments.page import write_page
from neuralab.i18n import _
from neuralab.models.mlp import MLP
from neuralab.report._figures import pyplot, save_figure
from neuralab.train import Callback, FitData, OptimizerConfig, TrainerConfig, fit

__all__ = ["run_batch_size", "run_intervals", "interval_coverage"]


class _Clock(Callback):
    """Wall-clock time at each epoch's end."""

    def __init__(self) -> None:
        self.start, self.times = time.perf_counter(), []

    def on_fit_start(self, state: Any) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, state: Any) -> None:
        self.times.append(time.perf_counter() - self.start)


def run_batch_size(out: str | Path, *, seed: int = 0, epochs: int = 15) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.data))
    x = torch.tensor(digits.data[order] / 16, dtype=torch.float32)
    y = torch.tensor(digits.target[order])
    train, val = (x[:600], y[:600]), (x[600:1000], y[600:1000])
    runs = {}
    warm = MLP(64, hidden_sizes=(64,), out_features=10, activation="tanh")  # the first fit pays for start-up
    fit(warm, FitData(train), TrainerConfig(epochs=1, batch_size=600, seed=seed, device="cpu"),
        optimizer=OptimizerConfig(name="sgd", lr=0.1), loss="cross_entropy")
    for label, batch, lr in (("full batch (600)", 600, 1.0), ("mini-batch (32)", 32, 0.1), ("online (1)", 1, 0.01)):
        torch.manual_seed(seed)
        model = MLP(64, hidden_sizes=(64,), out_features=10, activation="tanh")
        clock = _Clock()
        state = fit(model, FitData(train, val), TrainerConfig(epochs=epochs, batch_size=batch, seed=seed,
                                                              device="cpu"), [clock],
                    optimizer=OptimizerConfig(name="sgd", lr=lr), loss="cross_entropy", metrics=["accuracy"])
        runs[label] = {"history": state.history, "times": clock.times, "batch": batch, "lr": lr}
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for label, r in runs.items():
        loss = [h["val_loss"] for h in r["history"]]
        axes[0].plot(range(1, len(loss) + 1), loss, "o-", ms=3, label=label)
        axes[1].plot(r["times"], loss, "o-", ms=3, label=label)
    axes[0].set(xlabel=_("epoch"), ylabel=_("validation loss"), yscale="log", title=_("Against epochs"))
    axes[1].set(xlabel=_("seconds"), ylabel=_("validation loss"), yscale="log", title=_("Against wall-clock time"))
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    figure = save_figure(fig, out / "batch_size.png")
    rows = [[label, r["batch"], r["lr"], -(-600 // r["batch"]) * epochs, r["history"][-1]["val_loss"],
             r["history"][-1]["val_accuracy"], r["times"][-1]] for label, r in runs.items()]
    write_page(out, title=_("Full batch, mini-batch, online"),
               idea=_("One epoch is one pass over the 600 training digits: one step with the full batch, 19 with "
                    "mini-batches of 32, 600 with one example at a time."),
               formulas=["θ ← θ − η · (1/B) Σ_{i ∈ batch} ∇E_i(θ)"],
               look_for=[_("Per epoch, online learning and mini-batches make far more progress than the full "
                           "batch: they take more steps."),
                         _("Per second, the mini-batch wins: online learning spends its time on the overhead of 600 "
                           "tiny steps, the full batch on few, expensive, cautious ones."),
                         _("Small batches are noisy: their curves wobble.")],
               figures=[(figure, _("Validation loss against epochs and against time"))],
               table=([_("batch"), "B", _("learning rate"), _("steps"), _("val loss"), _("val accuracy"),
                       _("seconds")], rows),
               seed=seed)
    return {"rows": rows}


def interval_coverage(low: np.ndarray, high: np.ndarray, y: np.ndarray) -> float:
    """The share of ``y`` inside ``[low, high]``."""
    return float(np.mean((y >= low) & (y <= high)))


def run_intervals(out: str | Path, *, seed: int = 0, level: float = 0.9) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-3, 3, n)
        return x, np.sin(x) + rng.normal(0, 0.05 + 0.15 * np.abs(x), n)

    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = sample(300), sample(500), sample(2000)
    tensor = lambda a: torch.tensor(a, dtype=torch.float32).reshape(-1, 1)  # noqa: E731

    def train(member: int) -> MLP:
        torch.manual_seed(seed + member)
        model = MLP(1, hidden_sizes=(32, 32), out_features=1, activation="tanh")
        fit(model, FitData((tensor(x_tr), tensor(y_tr))), TrainerConfig(epochs=400, batch_size=64, seed=seed + member,
                                                                        device="cpu"),
            optimizer=OptimizerConfig(name="adam", lr=0.01), loss="mse")
        return model.eval()

    members = [train(m) for m in range(5)]
    with torch.no_grad():
        predict = lambda m, x: m(tensor(x)).numpy().reshape(-1)  # noqa: E731
        val_pred, test_pred = predict(members[0], x_val), predict(members[0], x_te)
        ens_test = np.stack([predict(m, x_te) for m in members])
    z = stats.norm.ppf(0.5 + level / 2)
    half_normal = z * np.sqrt(np.mean((val_pred - y_val) ** 2))
    residuals = np.sort(np.abs(val_pred - y_val))
    k = int(np.ceil((len(residuals) + 1) * level)) - 1
    half_conformal = residuals[min(k, len(residuals) - 1)]
    ens_mean, ens_std = ens_test.mean(0), ens_test.std(0, ddof=1)
    methods = {"ŷ ± z·√MSE_val (the course)": (test_pred - half_normal, test_pred + half_normal),
               "split conformal": (test_pred - half_conformal, test_pred + half_conformal),
               "ensemble of 5: ŷ ± z·s": (ens_mean - z * ens_std, ens_mean + z * ens_std)}
    rows = []
    inner, outer = np.abs(x_te) < 1, np.abs(x_te) > 2
    for name, (low, high) in methods.items():
        rows.append([name, interval_coverage(low, high, y_te), interval_coverage(low[inner], high[inner], y_te[inner]),
                     interval_coverage(low[outer], high[outer], y_te[outer]), float(np.mean(high - low))])
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), sharey=True)
    order = np.argsort(x_te)
    for ax, (name, (low, high)) in zip(axes, methods.items()):
        ax.plot(x_te, y_te, ".", ms=2, color="grey", alpha=0.4)
        ax.fill_between(x_te[order], low[order], high[order], alpha=0.3, color="#1f77b4")
        ax.plot(x_te[order], (low[order] + high[order]) / 2, color="#1f77b4")
        share = f"{interval_coverage(low, high, y_te):.1%}"
        ax.set(title=_("{name}: {share} covered").format(name=name, share=share), xlabel="x")
    fig.tight_layout()
    figure = save_figure(fig, out / "intervals.png")
    write_page(out, title=_("Confidence intervals at {level}").format(level=f"{level:.0%}"),
               idea=_("A regression network predicts a number; how far the truth may be from it is a second "
                      "question. Here the noise grows with |x|, as it often does in real data."),
               formulas=[f"ŷ ± z·√MSE_val,  z = {z:.3f}",
                         "ŷ ± q,  q = ⌈(n+1)·level⌉ / n  |y − ŷ|_val",
                         "ȳ ± z·s"],
               look_for=[_("Both the course's interval and the conformal one cover about {level} overall: the "
                           "conformal one is guaranteed to, for data like the validation set.").format(
                               level=f"{level:.0%}"),
                         _("Neither adapts to the noise: too wide near x = 0, too narrow at the edges (the columns "
                           "|x| < 1 and |x| > 2)."),
                         _("The ensemble's spread measures what the networks disagree on, not the noise: its "
                           "interval covers far less than it claims.")],
               figures=[(figure, _("Test points and each interval"))],
               table=([_("method"), _("coverage"), _("coverage |x| < 1"), _("coverage |x| > 2"), _("mean width")],
                      rows), seed=seed)
    return {"rows": rows}
