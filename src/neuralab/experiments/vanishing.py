"""The vanishing-gradient demonstration: an Elman RNN against LSTM and GRU on long-range synthetic tasks.

A simple recurrent network's gradient ∂L/∂h_t is multiplied at every step back in time by the recurrent Jacobian
``diag(tanh') U``. When its norm is below 1 the signal from the loss shrinks geometrically, so the network cannot
learn a dependency that spans many steps (Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with
gradient descent is difficult", IEEE Trans. Neural Networks 5(2)). The LSTM's additive cell state, gated by a
forget gate, gives the gradient a path that is not squashed at every step (Hochreiter & Schmidhuber 1997).

Two tasks, drawn on the fly from a seeded ``torch.Generator``:

- **adding problem** (Hochreiter & Schmidhuber 1997, in the two-channel form of Le, Jaitly & Hinton 2015, "A simple
  way to initialize recurrent networks of rectified linear units"): each step carries a value drawn uniformly from
  [0, 1] and a marker channel that is 1 at exactly two steps. One marker is placed uniformly in the first half of
  the sequence and one in the second half, so the dependency always spans at least half of it. The target is the
  sum of the two marked values, scored by MSE. Always predicting 1.0 scores Var(sum) = 2/12 ≈ 0.167; remembering
  only the late value scores 1/12 ≈ 0.083. The task counts as **solved** when the test MSE is below a tenth of the
  baseline, 1/60 ≈ 0.0167. With the defaults the Elman RNN solves T = 10 only, the LSTM and GRU every length up
  to 100 (BENCHMARKS.md).
- **copy task** (a "remember the first symbol" task): step 0 shows one of ``K`` symbols, every later step a random
  distractor from ``K`` other symbols, and the network must name the first symbol at the end (cross-entropy,
  accuracy). Chance is 1/K; the task counts as solved at test accuracy ≥ 0.99. Learning it is all or nothing: a
  run sits at chance until it suddenly finds the latch, so one seed says little about a cell (with the defaults
  and seed 0, T = 100 was solved by the Elman RNN but by neither gated cell). The adding problem is the clearer
  demonstration.

:func:`run_vanishing` trains every cell at every length with :func:`neuralab.train.fit` and records the test
score, a solved flag, the wall time and the gradient-norm curve at initialisation and after training
(:meth:`neuralab.models.rnn.RNN.hidden_gradients`, because torch's fused kernels hide ∂L/∂h_t).
:func:`plot_vanishing` draws the score against length and the gradient norm against time step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError, did_you_mean
from neuralab.models.rnn import CELLS, RNN
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, evaluate, fit
from neuralab.train.seeding import seed_everything

__all__ = ["TASKS", "ADDING_BASELINE_MSE", "ADDING_SOLVED_MSE", "COPY_SOLVED_ACCURACY", "adding_problem",
           "copy_task", "gradient_norms", "run_vanishing", "plot_vanishing"]

logger = logging.getLogger(__name__)

ADDING_BASELINE_MSE = 2 / 12  # Var of the sum of two U(0, 1) values: the MSE of always predicting 1.0
ADDING_SOLVED_MSE = ADDING_BASELINE_MSE / 10  # Le et al. (2015): a tenth of the baseline's error
COPY_SOLVED_ACCURACY = 0.99
COPY_SYMBOLS = 8  # K: symbols to remember; another K serve as distractors
DEFAULT_LR = {"adding": 1e-2, "copy": 3e-3}

Task = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def adding_problem(n: int, length: int, *, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of the adding problem: inputs ``(n, length, 2)`` and targets ``(n, 1)``.

    Channel 0 holds values from U(0, 1), channel 1 the two markers: one at a step drawn uniformly from the first
    half, one from the second half. The target is the sum of the two marked values.

    Examples
    --------
    >>> x, y = adding_problem(4, 10, generator=torch.Generator().manual_seed(0))
    >>> x.shape, y.shape
    (torch.Size([4, 10, 2]), torch.Size([4, 1]))
    >>> torch.allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(1))
    True
    """
    _check_length(length)
    half = length // 2
    values = torch.rand(n, length, generator=generator)  # (n, T)
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (n, T, 2)
    return x, (values * markers).sum(dim=1, keepdim=True)  # (n, 1)


def copy_task(n: int, length: int, *, symbols: int = COPY_SYMBOLS, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of the copy task: one-hot inputs ``(n, length, 2·symbols)`` and class targets ``(n,)``.

    Step 0 is one of the first ``symbols`` channels, the symbol to remember; steps 1.. are random distractors
    among the other ``symbols`` channels. The target is the symbol at step 0.

    Examples
    --------
    >>> x, y = copy_task(4, 10, generator=torch.Generator().manual_seed(0))
    >>> x.shape, y.shape
    (torch.Size([4, 10, 16]), torch.Size([4]))
    >>> bool((x[:, 0].argmax(-1) == y).all())
    True
    """
    _check_length(length)
    target = torch.randint(0, symbols, (n,), generator=generator)
    tokens = torch.randint(symbols, 2 * symbols, (n, length), generator=generator)  # (n, T) distractors
    tokens[:, 0] = target
    return F.one_hot(tokens, 2 * symbols).float(), target  # (n, T, 2K), (n,)


TASKS: dict[str, Task] = {"adding": adding_problem, "copy": copy_task}


def _check_length(length: int) -> None:
    """Raise unless ``length`` is an int ≥ 2 (a dependency needs two steps)."""
    if not isinstance(length, int) or isinstance(length, bool) or length < 2:
        raise NeuralabError(f"sequence length must be an int >= 2; got {length!r}")


def gradient_norms(model: RNN, x: torch.Tensor, y: torch.Tensor, task: str) -> list[float]:
    """Mean over sequences of ‖∂ℓ/∂h_t‖ for t = 1..T, where ℓ is each sequence's own loss (``(T,)`` as a list).

    The losses are summed, not averaged, so each sequence's gradient is that of its own loss.
    """
    loss = (lambda p: F.mse_loss(p, y, reduction="sum")) if task == "adding" else \
        (lambda p: F.cross_entropy(p, y, reduction="sum"))
    grad = model.hidden_gradients(x, loss)  # (B, T, H)
    return grad.norm(dim=-1).mean(dim=0).tolist()


def run_vanishing(*, task: str = "adding", lengths: Sequence[int] = (10, 25, 50, 100),
                  cells: Sequence[str] = ("rnn", "lstm", "gru"), hidden_size: int = 64, epochs: int = 10,
                  n_train: int = 8192, n_test: int = 2048, batch_size: int = 64, lr: float | None = None,
                  grad_clip: float = 1.0, forget_bias: float = 1.0, seed: int = 0, device: str = "cpu",
                  progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train each cell at each sequence length on ``task`` and record how far back it learns.

    Each length gets its own fixed training and test tensors, drawn from a generator seeded by ``seed`` and the
    length, so every cell sees the same data. Each cell is a one-layer :class:`~neuralab.models.rnn.RNN` read out at
    the last step and trained by :func:`~neuralab.train.fit` with Adam and gradient-norm clipping.

    Parameters
    ----------
    task
        ``"adding"`` (MSE; solved below 1/60) or ``"copy"`` (accuracy; solved at ≥ 0.99).
    lengths
        Sequence lengths ``T``, each ≥ 2.
    cells
        Any of ``"rnn"`` (Elman), ``"lstm"``, ``"gru"``.
    hidden_size, epochs, batch_size, grad_clip, seed, device
        Model width and training settings, the same for every cell and length.
    lr
        Adam's learning rate; by default 1e-2 for the adding problem and 3e-3 for the copy task (at 1e-2 the LSTM
        stays at chance on the copy task at T = 50 within 10 epochs).
    forget_bias
        Added to the LSTM's forget-gate bias at initialisation, so that the gate starts mostly open (σ(1) ≈ 0.73
        instead of about 0.5) and the cell state keeps its gradient longer (Gers, Schmidhuber & Cummins 2000;
        Jozefowicz, Zaremba & Sutskever 2015, "An empirical exploration of recurrent network architectures").
        ``0`` keeps torch's initialisation. Other cells are unaffected.
    n_train, n_test
        Sequences per length for training and for the test score (scored after every epoch, never used to stop
        or select: the curve is for reading only).
    progress
        Called with each run's record as soon as it is done (the CLI prints a line).

    Returns
    -------
    dict
        ``task``, ``metric`` (``"test_mse"`` or ``"test_accuracy"``), ``baseline`` (the predict-1.0 MSE or chance
        accuracy), ``solved_threshold``, ``config`` (every setting above) and ``runs``: one dict per (cell, length)
        with ``cell``, ``length``, the metric, ``test_loss``, ``solved``, ``time_s`` (training wall time),
        ``curve`` (the metric after each epoch), ``grad_norm_init`` and ``grad_norm_trained`` (``T`` floats each,
        from :func:`gradient_norms` on up to 256 test sequences).

    Raises
    ------
    NeuralabError
        Unknown task or cell, a length below 2, or a non-positive size.

    Examples
    --------
    >>> results = run_vanishing(lengths=(5,), cells=("lstm",), hidden_size=4, epochs=1, n_train=64, n_test=32)
    >>> [(r["cell"], r["length"], len(r["grad_norm_init"])) for r in results["runs"]]
    [('lstm', 5, 5)]
    """
    lr = DEFAULT_LR.get(task, 0.0) if lr is None else lr
    _check_arguments(task, lengths, cells, lr=lr, grad_clip=grad_clip, seed=seed, hidden_size=hidden_size,
                     epochs=epochs, n_train=n_train, n_test=n_test, batch_size=batch_size)
    config = {"hidden_size": hidden_size, "epochs": epochs, "n_train": n_train, "n_test": n_test,
              "batch_size": batch_size, "lr": lr, "grad_clip": grad_clip, "forget_bias": forget_bias, "seed": seed,
              "device": device, "optimizer": "adam", "threads": torch.get_num_threads()}
    adding = task == "adding"
    results: dict[str, Any] = {
        "task": task, "metric": "test_mse" if adding else "test_accuracy",
        "baseline": ADDING_BASELINE_MSE if adding else 1 / COPY_SYMBOLS,
        "solved_threshold": ADDING_SOLVED_MSE if adding else COPY_SOLVED_ACCURACY,
        "lengths": list(lengths), "cells": list(cells), "config": config, "runs": [],
    }
    for length in lengths:
        generator = torch.Generator().manual_seed(seed * 100_003 + length)
        train = TASKS[task](n_train, length, generator=generator)
        test = TASKS[task](n_test, length, generator=generator)
        if adding:  # the predict-1.0 baseline on this very test set, beside its expected value 1/6
            results.setdefault("baseline_by_length", {})[length] = F.mse_loss(
                torch.ones_like(test[1]), test[1]).item()
        for cell in cells:
            record = _train_one(task, cell, length, train, test, config)
            results["runs"].append(record)
            logger.info("%s T=%d: %s %.4g (%.1f s)", cell, length, results["metric"], record[results["metric"]],
                        record["time_s"])
            if progress is not None:
                progress(record)
    return results


def _check_arguments(task: str, lengths: Sequence[int], cells: Sequence[str], *, lr: float, grad_clip: float,
                     seed: int, **sizes: int) -> None:
    """Raise a one-line :class:`NeuralabError` for the first bad argument of :func:`run_vanishing`."""
    if task not in TASKS:
        raise NeuralabError(f"task must be one of {', '.join(TASKS)}; got {task!r}{did_you_mean(str(task), TASKS)}")
    for cell in cells:
        if cell not in CELLS:
            raise NeuralabError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}"
                                f"{did_you_mean(str(cell), CELLS)}")
    if not cells or not lengths:
        raise NeuralabError(f"give at least one cell and one length; got cells={list(cells)}, "
                            f"lengths={list(lengths)}")
    for length in lengths:
        _check_length(length)
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise NeuralabError(f"{name} must be a positive int; got {value!r}")
    for name, number in (("lr", lr), ("grad_clip", grad_clip)):
        if not number > 0:
            raise NeuralabError(f"{name} must be > 0; got {number!r}")
    if not isinstance(seed, int) or seed < 0:
        raise NeuralabError(f"seed must be a non-negative int; got {seed!r}")


def _train_one(task: str, cell: str, length: int, train: tuple[torch.Tensor, torch.Tensor],
               test: tuple[torch.Tensor, torch.Tensor], config: dict[str, Any]) -> dict[str, Any]:
    """Train one cell at one length; its score, curve and gradient norms before and after."""
    adding = task == "adding"
    seed_everything(config["seed"])  # the same initial weights for a cell at every length
    out_features = 1 if adding else COPY_SYMBOLS
    model = RNN(train[0].shape[-1], config["hidden_size"], out_features, cell=cell)  # type: ignore[arg-type]
    if cell == "lstm":
        H = config["hidden_size"]
        with torch.no_grad():  # nn.LSTM stacks its gates i, f, g, o: the forget gate's bias is rows H..2H
            model.rnn.bias_ih_l0[H:2 * H] += config["forget_bias"]
    probe = tuple(t[:256] for t in test)
    grad_init = gradient_norms(model, *probe, task)
    trainer = TrainerConfig(epochs=config["epochs"], batch_size=config["batch_size"], seed=config["seed"],
                            grad_clip=config["grad_clip"], device=config["device"])
    loss = "mse" if adding else "cross_entropy"
    metrics = [] if adding else ["accuracy"]
    start = time.perf_counter()
    state = fit(model, FitData(train, val=test), trainer, optimizer=OptimizerConfig(name="adam", lr=config["lr"]),
                loss=loss, metrics=metrics)
    elapsed = time.perf_counter() - start  # includes the per-epoch test scoring, a small share
    scores = evaluate(model, test, loss=loss, metrics=metrics)
    device = next(model.parameters()).device
    grad_trained = gradient_norms(model, *(t.to(device) for t in probe), task)
    key = "val_loss" if adding else "val_accuracy"
    record: dict[str, Any] = {"cell": cell, "length": length, "test_loss": scores["loss"]}
    if adding:
        record["test_mse"] = scores["loss"]
        record["solved"] = scores["loss"] < ADDING_SOLVED_MSE
    else:
        record["test_accuracy"] = scores["accuracy"]
        record["solved"] = scores["accuracy"] >= COPY_SOLVED_ACCURACY
    record.update({"time_s": elapsed, "curve": [logs[key] for logs in state.history],
                   "grad_norm_init": grad_init, "grad_norm_trained": grad_trained})
    return record


def plot_vanishing(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``score_vs_length.png`` and ``gradient_norms.png`` into ``out_dir``; return their paths.

    The first shows the test MSE (log scale, with the predict-1.0 baseline and the solved threshold) or the test
    accuracy (with chance) against sequence length, one line per cell. The second shows ‖∂ℓ/∂h_t‖ against the
    time step t on a log scale at the longest length, one colour per cell: solid at initialisation, dashed after
    training. A norm that underflows to 0 leaves a gap.
    """
    from neuralab.report._figures import pyplot, save_figure

    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metric, adding = results["metric"], results["task"] == "adding"
    runs, cells, lengths = results["runs"], results["cells"], results["lengths"]
    colours = {cell: f"C{i}" for i, cell in enumerate(cells)}

    fig, ax = plt.subplots(figsize=(6, 4))
    for cell in cells:
        points = sorted((r["length"], r[metric]) for r in runs if r["cell"] == cell)
        ax.plot(*zip(*points), marker="o", color=colours[cell], label=cell.upper() if cell != "rnn" else "Elman RNN")
    if adding:
        ax.set_yscale("log")
        ax.axhline(results["baseline"], color="grey", linestyle="--", label="predict 1.0 (MSE 1/6)")
        ax.axhline(results["solved_threshold"], color="grey", linestyle=":", label="solved (MSE < 1/60)")
        ax.set_ylabel("test MSE")
    else:
        ax.axhline(results["baseline"], color="grey", linestyle="--", label=f"chance (1/{COPY_SYMBOLS})")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("test accuracy")
    ax.set_xscale("log")
    ax.set_xticks(lengths, [str(t) for t in lengths])
    ax.minorticks_off()
    ax.set_xlabel("sequence length T")
    ax.set_title(f"{results['task']} task: score against sequence length")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = [save_figure(fig, out / "score_vs_length.png")]

    longest = max(lengths)
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in (r for r in runs if r["length"] == longest):
        steps = range(1, longest + 1)
        for key, style, when in (("grad_norm_init", "-", "init"), ("grad_norm_trained", "--", "trained")):
            norms = [v if v > 0 else float("nan") for v in r[key]]  # log scale: an underflow is a gap
            ax.plot(steps, norms, style, color=colours[r["cell"]], label=f"{r['cell']} ({when})")
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("mean ‖∂ℓ/∂h_t‖")
    ax.set_title(f"gradient reaching h_t from the loss at t = {longest}")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "gradient_norms.png"))
    return paths
